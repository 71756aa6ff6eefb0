"""Coalescing ``/rank`` requests that wait on the event loop into one pipeline pass.

A worker ranks on its event loop. While it ranks, new requests queue up in the kernel; when the pass ends,
the loop reads them all and their handlers reach :meth:`RankBatcher.rank` together. Ranking them in one
runner call pays the pipeline's per-call costs (component calls, array set-up, the model call) once for the
group instead of once per request. An idle worker ranks each request alone as soon as it arrives: nothing
waits for a batch to fill.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Q = TypeVar("Q")
A = TypeVar("A")
#: Turns of the loop a pass may wait while requests keep joining it (an idle worker never waits).
MAX_DEFERRALS = 4


class RankBatcher(Generic[Q, A]):
    """Runs ``rank_many`` on the requests that arrived since its last pass, at most ``max_batch`` at a time.

    ``rank_many`` answers in request order and is called on the event loop's thread, one pass at a time.
    """

    def __init__(self, rank_many: Callable[[Sequence[Q]], Sequence[A]], max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.rank_many, self.max_batch = rank_many, max_batch
        self._waiting: list[tuple[Q, asyncio.Future[A]]] = []
        self._scheduled = False
        self._seen = 0  # requests waiting at the previous turn of the loop
        self._deferred = 0

    async def rank(self, request: Q) -> A:
        """The answer to ``request``, ranked with whatever else arrived in the same turn of the loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[A] = loop.create_future()
        self._waiting.append((request, future))
        if not self._scheduled:
            # Scheduled, not run now: handlers that reach this point in the same turn of the loop join the pass.
            self._scheduled = True
            loop.call_soon(self._pass)
        return await future

    def _pass(self) -> None:
        loop = asyncio.get_running_loop()
        n = len(self._waiting)
        if max(self._seen, 1) < n < self.max_batch and self._deferred < MAX_DEFERRALS:
            # Requests joined in the last turn (a lone request never waits): others read from the sockets with
            # them may be a turn or two behind, still in the server's code.
            self._seen, self._deferred = n, self._deferred + 1
            loop.call_soon(self._pass)
            return
        self._seen, self._deferred = 0, 0
        batch, self._waiting = self._waiting[:self.max_batch], self._waiting[self.max_batch:]
        self._scheduled = bool(self._waiting)
        if self._waiting:
            loop.call_soon(self._pass)
        live = [(q, f) for q, f in batch if not f.done()]  # a client that went away was cancelled
        if not live:
            return
        try:
            answers = self.rank_many([q for q, _ in live])
        except Exception as exc:  # rank_many should not raise; if it does, every waiting request hears of it
            for _, f in live:
                f.set_exception(exc)
            return
        for (_, f), answer in zip(live, answers, strict=True):
            f.set_result(answer)
