"""A bit filter over int64 keys: which queries could be among the keys, for a few bits per key."""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the high bits of key × 2**64 / φ spread the keys


class KeyFilter:
    """One-hash bit filter (a Bloom filter with one hash) over non-negative int64 keys.

    :meth:`may_hold` is true for every key the filter was built from, and for a share of about
    ``1 - exp(-keys / bits)`` of other keys (6-12 % with the 8-16 bits per key chosen here). It lets a look-up
    over millions of queries, most of which match nothing (events by non-fans), binary-search only the few
    that may match: testing a bit costs one random read of a table that stays in cache.
    """

    def __init__(self, keys: np.ndarray) -> None:
        self._bits = max((8 * len(keys)).bit_length(), 10)
        flag = np.zeros(1 << self._bits, dtype=bool)
        flag[self._hash(np.asarray(keys, np.int64))] = True
        self._table = np.packbits(flag, bitorder="little")

    def _hash(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.astype(np.uint64) * _GOLDEN) >> np.uint64(64 - self._bits)).astype(np.intp)

    def may_hold(self, keys: np.ndarray) -> np.ndarray:
        """False where a key is certainly not among the filter's keys (negative keys: never)."""
        keys = np.asarray(keys, np.int64)
        h = self._hash(np.maximum(keys, 0))
        bit = (self._table[h >> 3] >> (h & 7).astype(np.uint8)) & np.uint8(1)
        return bit.astype(bool) & (keys >= 0)
