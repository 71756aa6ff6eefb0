"""serving.drain: SIGTERM delays the server's stop and marks the state draining; a second SIGTERM stops now."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

import pytest

from serving.drain import drain_on_sigterm


@dataclass
class _State:
    draining: bool = False


@pytest.fixture
def stops() -> Iterator[list[float]]:
    """A stand-in for the server's SIGTERM handler that records when it ran; the old handler is put back."""
    calls: list[float] = []

    def stop(sig: int, frame: FrameType | None) -> None:
        calls.append(time.monotonic())

    before = signal.signal(signal.SIGTERM, stop)
    yield calls
    signal.signal(signal.SIGTERM, before)


def test_sigterm_drains_then_stops(stops: list[float]) -> None:
    state = _State()
    assert drain_on_sigterm(state, 0.3)
    sent = time.monotonic()
    signal.raise_signal(signal.SIGTERM)
    assert state.draining and not stops
    deadline = time.monotonic() + 5
    while not stops and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stops and stops[0] - sent >= 0.3


def test_a_second_sigterm_stops_at_once(stops: list[float]) -> None:
    state = _State()
    assert drain_on_sigterm(state, 60.0)
    signal.raise_signal(signal.SIGTERM)
    assert not stops
    signal.raise_signal(signal.SIGTERM)
    assert len(stops) == 1


def test_no_drain_leaves_the_handler(stops: list[float]) -> None:
    state = _State()
    assert not drain_on_sigterm(state, 0.0)
    signal.raise_signal(signal.SIGTERM)
    assert stops and not state.draining


def test_off_the_main_thread_it_is_not_installed(stops: list[float]) -> None:
    out: list[bool] = []
    t = threading.Thread(target=lambda: out.append(drain_on_sigterm(_State(), 1.0)))
    t.start()
    t.join()
    assert out == [False]
