"""Id → row look-ups, the one place that chooses how: a direct table for compact ids, binary search otherwise.

Every request asks "which catalogue row is this id?" for hundreds of candidates, several times. A binary
search over a million sorted ids costs a cache miss per step; a table indexed by ``id - smallest id`` costs
one. Simulated and most production ids are compact (auto-increment), so the table is the usual case; real
data sets with sparse 64-bit ids keep the binary search, with the same answers.
"""

from __future__ import annotations

import numpy as np

#: A table is used when it holds at most this many slots per id (plus :data:`TABLE_SLACK`): memory stays a
#: small multiple of the ids' own.
TABLE_SLOTS_PER_ID = 4
TABLE_SLACK = 1 << 16


class IdIndex:
    """Row of each id in ``ids`` (its first occurrence), or -1 where the id is absent."""

    def __init__(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        self.size = len(ids)
        ascending = bool(np.all(ids[1:] > ids[:-1]))  # sorted unique ids (the common case): rows are positions
        self._order = None if ascending else np.argsort(ids, kind="stable")
        self._sorted = ids if self._order is None else ids[self._order]
        self.lo = int(self._sorted[0]) if len(ids) else 0
        self.max_id = int(self._sorted[-1]) if len(ids) else 0
        #: The ids are exactly 0..n-1 in row order: a row is its id (callers can skip the look-up).
        self.identity = bool(ascending and self.lo == 0 and self.max_id == len(ids) - 1)
        span = self.max_id - self.lo + 1 if len(ids) else 0
        self._table: np.ndarray | None = None
        if len(ids) and span <= TABLE_SLOTS_PER_ID * len(ids) + TABLE_SLACK:
            dtype = np.int32 if len(ids) < 2**31 else np.int64
            # Slot 0 and the last slot hold -1: a look-up clips ids out of range onto them (one pass, no masks).
            table = np.full(span + 2, -1, dtype=dtype)
            rows = np.arange(len(ids), dtype=dtype) if self._order is None else self._order
            # Written last-to-first so that the first occurrence of a repeated id is the one kept.
            table[self._sorted[::-1] - self.lo + 1] = rows[::-1]
            self._table = table
            self._order, self._sorted = None, self._sorted[:0]  # the table answers everything

    @property
    def is_table(self) -> bool:
        """Whether look-ups go through the direct table."""
        return self._table is not None

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Row (int64) of each id, -1 for an id not in the index."""
        ids = np.asarray(ids, dtype=np.int64)
        if self._table is not None:
            return self._table.take(ids - (self.lo - 1), mode="clip").astype(np.int64, copy=False)
        if not self.size:
            return np.full(len(ids), -1, np.int64)
        pos = np.minimum(np.searchsorted(self._sorted, ids), self.size - 1)
        rows = pos if self._order is None else self._order[pos]
        return np.where(self._sorted[pos] == ids, rows, -1)
