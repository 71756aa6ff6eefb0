"""Keyed time-window look-ups: sorted arrays and ``searchsorted``, built once, queried in bulk.

Every "records of this key in [lo, hi)" question of the ranking layer goes through :class:`WindowIndex`:
posts of an account in the last 72 hours, follows of a user that started by ``t``, impressions of an
author shown to a user in the last day. Ids are arbitrary int64 (real data sets do not have dense ids),
so keys and times are replaced by their dense ranks among the records before they are combined into one
sortable int64; that keeps the packed key small however large the ids or timestamps are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from features.ids import IdIndex

_LIMIT = np.iinfo(np.int64).max // 4


def expand(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ragged expansion: for each owner ``i`` the positions ``starts[i] .. starts[i] + counts[i] - 1``.

    Returns ``(owner, position)``, owners ascending, positions ascending within an owner.
    """
    counts = np.maximum(np.asarray(counts, dtype=np.int64), 0)
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    offsets = np.cumsum(counts) - counts
    pos = np.asarray(starts, dtype=np.int64)[owner] + np.arange(int(counts.sum()), dtype=np.int64) - offsets[owner]
    return owner, pos


class WindowIndex:
    """Records keyed by a tuple of int64 columns, sorted by (key, time).

    ``keys`` is one array or a sequence of equally long arrays (a composite key such as ``(user, author)``).
    """

    def __init__(self, keys: np.ndarray | Sequence[np.ndarray], times: np.ndarray) -> None:
        cols = _columns(keys)
        times = np.asarray(times, dtype=np.int64)
        self._ranks = [IdIndex(np.unique(c)) for c in cols]  # each key column's dense rank (-1: unseen)
        self._radices = [index.size + 1 for index in self._ranks]
        radix = math.prod(self._radices)  # Python ints: the overflow check below sees the true product
        self._rest = math.prod(self._radices[1:])  # packed keys per value of the first key column
        self._times = np.unique(times)
        if radix * (len(self._times) + 1) >= _LIMIT:
            raise OverflowError("too many distinct keys and times for one WindowIndex")
        self._span = len(self._times) + 1
        packed, _ = self._pack(cols)
        composite = packed * self._span + np.searchsorted(self._times, times)
        self.order = np.argsort(composite, kind="stable")
        self._sorted = composite[self.order]

    def __len__(self) -> int:
        return len(self.order)

    def _pack(self, cols: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Dense packed key of each row and whether every part of it occurs among the records."""
        packed = np.zeros(len(cols[0]) if cols else 0, dtype=np.int64)
        known = np.ones(len(packed), dtype=bool)
        for col, index, size in zip(cols, self._ranks, self._radices, strict=True):
            pos = index.rows(col)
            known &= pos >= 0
            packed = packed * size + np.maximum(pos, 0)
        return packed, known

    def slices(self, keys: np.ndarray | Sequence[np.ndarray], lo_ms: np.ndarray | int,
               hi_ms: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """``(start, stop)`` into :attr:`order` of the records of each query key with ``lo <= time < hi``."""
        cols = _columns(keys)
        n = len(cols[0])
        packed, known = self._pack(cols)
        lo, hi = np.asarray(lo_ms, dtype=np.int64), np.asarray(hi_ms, dtype=np.int64)
        # A scalar bound is searched once, not once per query row.
        lo_at = np.searchsorted(self._times, lo)
        hi_at = np.searchsorted(self._times, hi)
        base, records = self._records_of(cols[0], packed)
        start = base + np.searchsorted(records, packed * self._span + lo_at)
        stop = base + np.searchsorted(records, packed * self._span + hi_at)
        lo, hi = np.broadcast_to(lo, (n,)), np.broadcast_to(hi, (n,))
        stop = np.where(known & (hi > lo), np.maximum(stop, start), start)
        return start, stop

    def _records_of(self, first: np.ndarray, packed: np.ndarray) -> tuple[int, np.ndarray]:
        """The sorted records the queries can fall in, and their offset into :attr:`order`.

        Queries of one request share their first key (the user): its records are one contiguous run, and
        binary searches inside that run stay in cache instead of walking the whole index.
        """
        if len(first) < 2 or not len(self._sorted) or not bool((first == first[0]).all()):
            return 0, self._sorted
        head = int(packed[0]) // self._rest  # the first key's dense rank (0 when unknown: harmless, see known)
        width = self._rest * self._span  # composite values of one first key
        lo, hi = np.searchsorted(self._sorted, [head * width, (head + 1) * width])
        return int(lo), self._sorted[lo:hi]

    def count(self, keys: np.ndarray | Sequence[np.ndarray], lo_ms: np.ndarray | int,
              hi_ms: np.ndarray | int) -> np.ndarray:
        """Number of records of each query key with ``lo <= time < hi``."""
        start, stop = self.slices(keys, lo_ms, hi_ms)
        return stop - start

    def rows(self, keys: np.ndarray | Sequence[np.ndarray], lo_ms: np.ndarray | int,
             hi_ms: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """``(query, record)`` pairs for every record in each query's window; queries ascending, then time."""
        start, stop = self.slices(keys, lo_ms, hi_ms)
        query, pos = expand(start, stop - start)
        return query, self.order[pos]


def _columns(keys: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(keys, np.ndarray) and keys.ndim == 1:
        return [keys.astype(np.int64, copy=False)]
    cols = [np.asarray(k, dtype=np.int64) for k in keys]
    if len({len(c) for c in cols}) > 1:
        raise ValueError("keys: every key column must have the same length")
    return cols
