"""Draining on SIGTERM: keep answering for a while, saying so on ``/ready``, then stop.

A server that stops listening the moment it is told to stop resets every connection still waiting in the
kernel's accept queue: the client sent a whole request and gets a reset, not an answer. A load balancer needs a
little time to see that the instance is going and stop routing to it. So on SIGTERM a worker first *drains*:
``/ready`` answers 503 "draining" while every route keeps answering, and only after ``serving.drain_s`` does
the server's own stop begin (it then finishes in-flight requests and flushes the logs). A second SIGTERM
stops at once. SIGINT (Ctrl+C) is left as it is: someone at a terminal wants it to stop now.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Protocol

log = logging.getLogger(__name__)
Handler = Callable[[int, FrameType | None], object]


class Drainable(Protocol):
    """What is told that draining has begun (the service state)."""

    draining: bool


def drain_on_sigterm(state: Drainable, seconds: float) -> bool:
    """Wrap the current SIGTERM handler (the server's stop) so that it runs ``seconds`` after the signal.

    Call it from the main thread once the server has installed its handlers (uvicorn's app factory runs
    there). Returns whether it was installed: not for 0 seconds, off the main thread, or when no Python
    handler is there to delay.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        return False
    stop = signal.getsignal(signal.SIGTERM)
    if not callable(stop):
        return False
    signal.signal(signal.SIGTERM, _draining_handler(state, seconds, stop))
    return True


def _draining_handler(state: Drainable, seconds: float, stop: Handler) -> Handler:
    def handle(sig: int, frame: FrameType | None) -> None:
        if state.draining:  # asked twice: stop now
            stop(sig, frame)
            return
        state.draining = True
        log.warning("SIGTERM: draining for %.1f s before stopping", seconds)
        # The server's handler only sets a flag its loop polls, so calling it from a timer thread is safe.
        timer = threading.Timer(seconds, stop, args=(sig, None))
        timer.daemon = True
        timer.start()

    return handle
