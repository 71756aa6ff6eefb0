"""Counts per (entity key, bucket): the table every path answers windowed sums from.

:class:`CountTable` keeps counts sorted by key then bucket with running sums, so the sum over a window of
buckets for many keys is two binary searches each. The offline engine builds one per counter from all
events; the in-process online store keeps a few per counter and merges them as batches arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.definitions import FeatureError

_DENSE_CELLS = 1 << 25  # key × bucket spaces up to this size are counted with a histogram


def sort_ids(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted values, order) of non-negative int64 ``values``. Packs the index into the low bits when it fits:
    sorting one int64 array is several times faster than an argsort, and the sorted values come for free."""
    values = np.asarray(values, np.int64)
    n = len(values)
    bits = max(int(n - 1).bit_length(), 1)
    if n and int(values.max()).bit_length() + bits <= 63 and int(values.min()) >= 0:
        packed = np.sort((values << bits) | np.arange(n, dtype=np.int64))
        return packed >> bits, packed & ((1 << bits) - 1)
    order = np.argsort(values, kind="stable")
    return values[order], order


def argsort_ids(values: np.ndarray) -> np.ndarray:
    """The order that sorts non-negative int64 ``values`` (see :func:`sort_ids`)."""
    return sort_ids(values)[1]


def _runs(sorted_values: np.ndarray) -> np.ndarray:
    """Start of each run of equal values in a sorted array, then its length (one allocation of the result)."""
    n = len(sorted_values)
    change = np.empty(n + 1, dtype=bool)
    change[0] = change[n] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=change[1:n])
    return np.flatnonzero(change)


@dataclass(frozen=True)
class Packing:
    """(key, bucket) as one int64, ``key << shift | (bucket - b0)``: sorting it orders by key, then bucket."""

    b0: int
    shift: int
    max_key: int

    @classmethod
    def of(cls, buckets: np.ndarray, max_key: int) -> Packing | None:
        """A packing for these buckets and keys up to ``max_key``, or None if it would not fit in int64."""
        b0 = int(buckets.min()) if len(buckets) else 0
        shift = max(int(buckets.max()) - b0, 1).bit_length() if len(buckets) else 1
        return cls(b0, shift, max_key) if max_key.bit_length() + shift <= 62 else None

    def pack(self, keys: np.ndarray, buckets: np.ndarray) -> np.ndarray:
        return (keys << self.shift) | (buckets - self.b0)

    def unpack(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return packed >> self.shift, (packed & ((1 << self.shift) - 1)) + self.b0

    @property
    def cells(self) -> int:
        """Number of possible packed values."""
        return (self.max_key + 1) << self.shift


@dataclass(frozen=True)
class CountTable:
    """Counts per (key, bucket), sorted by key then bucket, with running sums (the offline aggregate and the
    memory store's runs). Entries of ``keys[i]`` are ``starts[i]:starts[i+1]``."""

    keys: np.ndarray
    starts: np.ndarray
    buckets: np.ndarray
    prefix: np.ndarray

    @classmethod
    def from_sorted(cls, keys: np.ndarray, buckets: np.ndarray, counts: np.ndarray) -> CountTable:
        prefix = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=prefix[1:])
        return cls.from_runs(keys, buckets, prefix)

    @classmethod
    def from_runs(cls, keys: np.ndarray, buckets: np.ndarray, prefix: np.ndarray) -> CountTable:
        """From sorted unique (key, bucket) entries and the running sum of their counts (length + 1)."""
        starts = _runs(keys)
        return cls(keys[starts[:-1]], starts, buckets.astype(np.int64, copy=False), prefix)

    @classmethod
    def from_packed(cls, packed: np.ndarray, packing: Packing) -> CountTable:
        """Counts of packed (key, bucket) values, one per event (``packed`` is sorted in place)."""
        if packing.cells <= _DENSE_CELLS:
            # Small key spaces (accounts, tier cells): a histogram needs no sort at all.
            hist = np.bincount(packed, minlength=packing.cells)
            u = np.flatnonzero(hist)
            return cls.from_sorted(*packing.unpack(u), hist[u])
        packed.sort()
        # Entries start where the packed value changes; the running count before an entry is its start.
        prefix = _runs(packed)
        u = packed[prefix[:-1]]
        keys = u >> packing.shift
        u &= (1 << packing.shift) - 1
        u += packing.b0
        return cls.from_runs(keys, u, prefix)

    @classmethod
    def aggregate(cls, keys: np.ndarray, buckets: np.ndarray, values: np.ndarray | None = None) -> CountTable:
        """Sum ``values`` (default 1 per entry) per (key, bucket); keys must be >= 0."""
        keys, buckets = np.asarray(keys, np.int64), np.asarray(buckets, np.int64)
        if not len(keys):
            return cls.from_sorted(keys, buckets, np.empty(0, np.int64))
        max_key = int(keys.max())
        packing = Packing.of(buckets, max_key)
        if packing is not None and values is None:
            # Sorting packed (key, bucket) values is several times faster than an argsort or a lexsort.
            return cls.from_packed(packing.pack(keys, buckets), packing)
        order = argsort_ids(packing.pack(keys, buckets)) if packing else np.lexsort((buckets, keys))
        k, b = keys[order], buckets[order]
        v = np.ones(len(k), np.int64) if values is None else np.asarray(values, np.int64)[order]
        first = np.flatnonzero(np.concatenate([[True], (k[1:] != k[:-1]) | (b[1:] != b[:-1])]))
        return cls.from_sorted(k[first], b[first], np.add.reduceat(v, first))

    @classmethod
    def merge(cls, tables: list[CountTable], floor: int | None = None) -> CountTable:
        """One table from several; entries before bucket ``floor`` are summed into bucket ``floor - 1``."""
        parts = [t.entries() for t in tables if len(t)]
        if not parts:
            return tables[0]
        keys, buckets, counts = (np.concatenate(x) for x in zip(*parts, strict=True))
        if floor is not None:
            buckets = np.maximum(buckets, floor - 1)
        return cls.aggregate(keys, buckets, counts)

    def __len__(self) -> int:
        return len(self.buckets)

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(key, bucket, count) of every entry."""
        keys = np.repeat(self.keys, np.diff(self.starts))
        return keys, self.buckets, np.diff(self.prefix)

    def window_sums(self, keys: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Sum over buckets ``lo <= b < hi`` for each key (0 for unknown keys)."""
        keys = np.asarray(keys, np.int64)
        out = np.zeros(len(keys), dtype=np.int64)
        if not len(self.keys) or not len(keys):
            return out
        # Sorted queries make the binary searches cache-friendly; results go back to the caller's order.
        if len(keys) > 65_536 and np.any(keys[1:] < keys[:-1]):
            order = argsort_ids(np.where(keys >= 0, keys, 0))
        else:
            order = np.arange(len(keys))
        q, lo, hi = keys[order], np.asarray(lo, np.int64)[order], np.asarray(hi, np.int64)[order]
        r = np.minimum(np.searchsorted(self.keys, q), len(self.keys) - 1)
        found = self.keys[r] == q
        if 32 * len(q) >= len(self.buckets):
            # Many queries: one searchsorted each over all entries as (key rank, bucket), built once per table.
            comp, b0, span = self._composite()
            base = r * span
            pos_lo = np.searchsorted(comp, base + np.clip(lo - b0, 0, span - 1))
            pos_hi = np.searchsorted(comp, base + np.clip(hi - b0, 0, span - 1))
        else:
            # Few queries (online reads): binary searches inside each key's entries, no pass over the table.
            start, end = self.starts[r], self.starts[r + 1]
            pos_lo, pos_hi = self._position(start, end, lo), self._position(start, end, hi)
        sums = self.prefix[np.maximum(pos_hi, pos_lo)] - self.prefix[pos_lo]  # an empty window sums to 0
        out[order] = np.where(found, sums, 0)
        return out

    def _composite(self) -> tuple[np.ndarray, int, int]:
        """Entries as sorted int64 ``key rank * span + (bucket - b0)`` (cached on the table)."""
        if "_comp" not in self.__dict__:
            b0 = int(self.buckets.min())
            span = int(self.buckets.max()) - b0 + 2
            if len(self.keys) * span >= 1 << 62:
                raise FeatureError("count table spans too many keys × buckets for one int64 index")
            rank = np.repeat(np.arange(len(self.keys), dtype=np.int64) * span, np.diff(self.starts))
            rank += self.buckets - b0
            self.__dict__["_comp"] = (rank, b0, span)
        return self.__dict__["_comp"]

    def _position(self, start: np.ndarray, end: np.ndarray, bucket: np.ndarray) -> np.ndarray:
        """First entry in [start, end) whose bucket is >= ``bucket``: a binary search per query, all at once
        (costs queries × log(entries per key), not a pass over the table)."""
        lo, hi = start.copy(), end.copy()
        active = np.flatnonzero(lo < hi)
        while len(active):
            mid = (lo[active] + hi[active]) >> 1
            below = self.buckets[mid] < bucket[active]
            lo[active] = np.where(below, mid + 1, lo[active])
            hi[active] = np.where(below, hi[active], mid)
            active = active[lo[active] < hi[active]]
        return lo
