"""Counts per (entity key, bucket): the table every path answers windowed sums from.

:class:`CountTable` keeps counts sorted by key then bucket with running sums, so the sum over a window of
buckets for many keys is two binary searches each. The offline engine builds one per counter from all
events; the in-process online store keeps a few per counter and merges them as batches arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from features.definitions import FeatureError

_DENSE_CELLS = 1 << 25  # key × bucket spaces up to this size may be counted with a histogram
#: :meth:`CountTable.from_packed` takes the histogram only with at most this many cells per event: its cost
#: follows the cells (zeroing and scanning them), a sort's the events. Measured over 20M cells: 60 ms against
#: 0.3 ms for 10k events, 101 ms against 75 ms for 1M, 142 ms against 203 ms for 3M; they meet near 12.
_DENSE_PER_EVENT = 12
#: :meth:`CountTable.aggregate` (asked for a histogram) takes it only with at most this many cells per entry:
#: scanning the cells then costs less than sorting the entries (a small batch over a large key space is sorted).
_DENSE_PER_ENTRY = 4


def sort_ids(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted values, order) of non-negative int64 ``values``. Packs the index into the low bits when it fits:
    sorting one int64 array is several times faster than an argsort, and the sorted values come for free."""
    values = np.asarray(values, np.int64)
    n = len(values)
    if n > 1 and bool((values[1:] >= values[:-1]).all()):
        # Already in order (a table exported sorted by its keys, such as follows by user and account): one pass
        # over the values instead of a sort, and no gathers through a permutation afterwards.
        return values, np.arange(n, dtype=np.int64)
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
    """Counts per (key, bucket) as sorted unique packed values with running sums.

    ``packed[i]`` is ``key << shift | (bucket - b0)`` and ``prefix[i]`` the count of all entries before it, so
    a window of buckets of one key is the difference of two running sums found by two binary searches. Keys
    too wide to pack are replaced by their rank in ``keys`` (otherwise ``keys`` is None).
    """

    packed: np.ndarray
    prefix: np.ndarray
    shift: int
    b0: int
    keys: np.ndarray | None = None

    def __post_init__(self) -> None:
        # Running sums below 2**31 (every table short of two billion events) are held in 32 bits: a service
        # holds tens of millions of entries, and this is a quarter of their memory.
        if self.prefix.dtype != np.int32 and len(self.prefix) and int(self.prefix[-1]) < 2**31:
            object.__setattr__(self, "prefix", self.prefix.astype(np.int32))

    def compact(self) -> CountTable:
        """This table with packed values in 32 bits when every search bound fits (the largest is the last key's
        next key, shifted), else itself. Posts × hours of a month fit: a table kept in memory (the online store)
        shrinks from 12 bytes an entry to 8. Offline tables live for one build and skip the conversion."""
        if self.packed.dtype == np.uint32 or not len(self.packed):
            return self
        if ((int(self.packed[-1]) >> self.shift) + 1) << self.shift >= 2**32:
            return self
        return replace(self, packed=self.packed.astype(np.uint32))

    @classmethod
    def empty(cls) -> CountTable:
        return cls(np.empty(0, np.int64), np.zeros(1, np.int64), 1, 0)

    @classmethod
    def from_packed(cls, packed: np.ndarray, packing: Packing) -> CountTable:
        """Counts of packed (key, bucket) values, one per event (``packed`` may be sorted in place)."""
        if packing.cells <= min(_DENSE_CELLS, _DENSE_PER_EVENT * len(packed)):
            # Many events over a small key space (accounts, tier cells): a histogram needs no sort at all.
            hist = np.bincount(packed, minlength=packing.cells)
            u = np.flatnonzero(hist)
            prefix = np.zeros(len(u) + 1, np.int64)
            np.cumsum(hist[u], out=prefix[1:])
            return cls(u, prefix, packing.shift, packing.b0)
        if packing.cells < 2**32:
            # Every value and search bound (the last key's next key, shifted) fits in 32 bits, as in compact:
            # numpy sorts 32-bit values in 60 % of the time (measured over 10M: 41 against 67 ns a value), and
            # the table is the smaller for it.
            packed = packed.astype(np.uint32)
        packed.sort()
        # Entries start where the packed value changes; the count before an entry is its start position.
        prefix = _runs(packed)
        return cls(packed[prefix[:-1]], prefix, packing.shift, packing.b0)

    @classmethod
    def aggregate(cls, keys: np.ndarray, buckets: np.ndarray, values: np.ndarray | None = None, *,
                  histogram: bool = False) -> CountTable:
        """Sum ``values`` (default 1 per entry) per (key, bucket); keys must be >= 0.

        ``histogram``: sum ``values`` with a histogram of every (key, bucket) cell instead of a sort when the
        cells are few enough (see :data:`_DENSE_PER_ENTRY`). Faster for many entries over few cells, but it
        takes memory for every cell: the offline followers table asks for it, the online store does not.
        """
        keys, buckets = np.asarray(keys, np.int64), np.asarray(buckets, np.int64)
        if not len(keys):
            return cls.empty()
        packing = Packing.of(buckets, int(keys.max()))
        uniq = None
        if packing is None:  # keys too wide: pack their ranks instead
            uniq, ranks = np.unique(keys, return_inverse=True)
            packing = Packing.of(buckets, len(uniq) - 1)
            if packing is None:
                raise FeatureError("too many keys × buckets to count in one table")
            keys = ranks.astype(np.int64).ravel()
        packed = packing.pack(keys, buckets)
        if values is None and uniq is None:
            return cls.from_packed(packed, packing)
        if values is None:
            packed.sort()
            prefix = _runs(packed)
            return cls(packed[prefix[:-1]], prefix, packing.shift, packing.b0, uniq)
        if histogram and packing.cells <= min(_DENSE_CELLS, _DENSE_PER_ENTRY * len(packed)):
            return cls._histogram(packed, np.asarray(values, np.int64), packing, uniq)
        sorted_packed, order = sort_ids(packed)
        first = _runs(sorted_packed)
        prefix = np.zeros(len(first), np.int64)
        np.cumsum(np.add.reduceat(np.asarray(values, np.int64)[order], first[:-1]), out=prefix[1:])
        return cls(sorted_packed[first[:-1]], prefix, packing.shift, packing.b0, uniq)

    @classmethod
    def _histogram(cls, packed: np.ndarray, values: np.ndarray, packing: Packing,
                   keys: np.ndarray | None) -> CountTable:
        """:meth:`aggregate` of ``values`` by histogram: every cell that holds an entry becomes one, as the sort
        makes them (a cell whose values cancel out stays, holding 0)."""
        held = np.flatnonzero(np.bincount(packed, minlength=packing.cells))
        # Float sums of int64 values are exact below 2**53: no table comes near that many events.
        sums = np.bincount(packed, weights=values, minlength=packing.cells)[held]
        prefix = np.zeros(len(held) + 1, np.int64)
        np.cumsum(sums.astype(np.int64), out=prefix[1:])
        return cls(held, prefix, packing.shift, packing.b0, keys)

    @classmethod
    def merge(cls, tables: list[CountTable], floor: int | None = None) -> CountTable:
        """One table from several; entries before bucket ``floor`` are summed into bucket ``floor - 1``."""
        parts = [t.entries() for t in tables if len(t)]
        if not parts:
            return cls.empty()
        keys, buckets, counts = (np.concatenate(x) for x in zip(*parts, strict=True))
        if floor is not None:
            buckets = np.maximum(buckets, floor - 1)
        return cls.aggregate(keys, buckets, counts)

    def __len__(self) -> int:
        return len(self.packed)

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(key, bucket, count) of every entry, sorted by key then bucket."""
        packed = self.packed.astype(np.int64)
        keys = packed >> self.shift
        if self.keys is not None:
            keys = self.keys[keys]
        return keys, (packed & ((1 << self.shift) - 1)) + self.b0, np.diff(self.prefix).astype(np.int64)

    def window_sums(self, keys: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Sum over buckets ``lo <= b < hi`` for each key (0 for unknown keys and empty windows)."""
        keys = np.asarray(keys, np.int64)
        if not len(self.packed) or not len(keys):
            return np.zeros(len(keys), dtype=np.int64)
        # Sorted queries make the binary searches cache-friendly; results go back to the caller's order.
        order = None
        if len(keys) > 65_536 and np.any(keys[1:] < keys[:-1]):
            order = argsort_ids(np.maximum(keys, 0))
            keys, lo, hi = keys[order], np.asarray(lo)[order], np.asarray(hi)[order]
        if self.keys is None:
            known = (keys >= 0) & (keys <= int(self.packed[-1]) >> self.shift)
        else:
            r = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
            known, keys = self.keys[r] == keys, r
        base = np.where(known, keys, 0) << self.shift
        top = 1 << self.shift  # (key + 1) << shift: where the next key's entries begin
        # Bounds in the table's own dtype (they fit: see compact), else numpy would widen the whole table.
        dtype = self.packed.dtype
        lo = (base + np.clip(np.asarray(lo, np.int64) - self.b0, 0, top)).astype(dtype, copy=False)
        hi = (base + np.clip(np.asarray(hi, np.int64) - self.b0, 0, top)).astype(dtype, copy=False)
        at_lo, at_hi = np.searchsorted(self.packed, lo), np.searchsorted(self.packed, hi)
        sums = np.where(known, self.prefix[np.maximum(at_hi, at_lo)] - self.prefix[at_lo], 0).astype(np.int64)
        if order is None:
            return sums
        out = np.empty_like(sums)
        out[order] = sums
        return out
