"""Rank requests: one at a time (:class:`RankRequest`) or as columns (:class:`RequestBatch`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RankRequest:
    """One page to rank: who asks, for which slot, how many items, at what time.

    ``candidates`` are item ids the caller already has (the ``sources/provided`` source hydrates them);
    ``context`` is free-form request data (session id, client) carried through to logs.
    """

    user_id: int
    slot: str
    k: int
    now_ms: int
    candidates: Sequence[int] | np.ndarray | None = None
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class RequestBatch:
    """Many requests of one slot as columns; row ``i`` of every array is request ``i``.

    A :class:`~ranking.frame.CandidateFrame`'s ``request`` column indexes these rows.
    """

    slot: str
    user_id: np.ndarray
    k: np.ndarray
    now_ms: np.ndarray
    candidates: tuple[np.ndarray | None, ...] = ()
    context: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        n = len(self.user_id)
        object.__setattr__(self, "user_id", np.asarray(self.user_id, dtype=np.int64))
        object.__setattr__(self, "k", np.broadcast_to(np.asarray(self.k, dtype=np.int64), (n,)).copy())
        object.__setattr__(self, "now_ms", np.broadcast_to(np.asarray(self.now_ms, dtype=np.int64), (n,)).copy())
        if not self.candidates:
            object.__setattr__(self, "candidates", (None,) * n)
        if not self.context:
            object.__setattr__(self, "context", ({},) * n)
        if len(self.candidates) != n or len(self.context) != n:
            raise ValueError(f"RequestBatch: candidates and context need one entry per request ({n})")
        if np.any(self.k < 0):
            raise ValueError("RequestBatch: k must be >= 0")

    def __len__(self) -> int:
        return len(self.user_id)

    @classmethod
    def of(cls, requests: Sequence[RankRequest]) -> RequestBatch:
        """Columns of a list of requests, which must all be for the same slot."""
        slots = {r.slot for r in requests}
        if len(slots) > 1:
            raise ValueError(f"RequestBatch.of: requests for several slots {sorted(slots)}; batch one slot")
        return cls(
            slot=slots.pop() if slots else "",
            user_id=np.array([r.user_id for r in requests], dtype=np.int64),
            k=np.array([r.k for r in requests], dtype=np.int64),
            now_ms=np.array([r.now_ms for r in requests], dtype=np.int64),
            candidates=tuple(None if r.candidates is None else np.asarray(r.candidates, np.int64)
                             for r in requests),
            context=tuple(r.context for r in requests),
        )

    def request(self, i: int) -> RankRequest:
        """Request ``i`` as a :class:`RankRequest`."""
        cands = self.candidates[i]
        return RankRequest(int(self.user_id[i]), self.slot, int(self.k[i]), int(self.now_ms[i]),
                           None if cands is None else cands.tolist(), self.context[i])

    def take(self, rows: np.ndarray) -> RequestBatch:
        """The requests at index ``rows``, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return RequestBatch(self.slot, self.user_id[rows], self.k[rows], self.now_ms[rows],
                            tuple(self.candidates[i] for i in rows), tuple(self.context[i] for i in rows))
