"""The in-process online store (the default): numpy count tables in a small log-structured merge.

Each increment batch becomes a sorted :class:`features.counts.CountTable` run; runs of similar size are
merged (so a counter has O(log n) runs) and a windowed read is the sum of each run's two binary searches.
Buckets older than a counter's ``keep`` behind the stream's clock are dropped on merge, or folded into one
bucket when the counter is also read since the beginning.
"""

from __future__ import annotations

import numpy as np

from features.counts import CountTable
from features.online.base import StoreLayout, check_read


class MemoryStore:
    """Counters and seen-sets of one feature set, in this process."""

    def __init__(self, layout: StoreLayout) -> None:
        self.layout = layout
        self._runs: list[list[CountTable]] = [[] for _ in layout.keep]
        self._seen: dict[str, dict[int, np.ndarray]] = {}
        self._now: int | None = None

    def increment(self, counter: int, keys: np.ndarray, buckets: np.ndarray, values: np.ndarray,
                  now: int | None = None) -> None:
        if now is not None:
            self._now = now if self._now is None else max(self._now, now)
        if not len(keys):
            return
        runs = self._runs[counter]
        runs.append(CountTable.aggregate(keys, buckets, values).compact())
        while len(runs) > 1 and len(runs[-2]) <= 2 * len(runs[-1]):
            newer, older = runs.pop(), runs.pop()
            runs.append(self._merge(counter, [older, newer]).compact())

    def _merge(self, counter: int, tables: list[CountTable]) -> CountTable:
        if self._now is None:
            return CountTable.merge(tables)
        floor = self._now - self.layout.keep[counter]
        if self.layout.totals[counter]:
            return CountTable.merge(tables, floor=floor)
        kept = []
        for t in tables:
            keys, buckets, counts = t.entries()
            live = buckets >= floor
            kept.append(CountTable.aggregate(keys[live], buckets[live], counts[live]))
        return CountTable.merge(kept)

    def window_sums(self, counter: int, keys: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        check_read(self.layout, counter, lo)
        out = np.zeros(len(keys), dtype=np.int64)
        for run in self._runs[counter]:
            out += run.window_sums(keys, lo, hi)
        return out

    def add_new(self, space: str, members: np.ndarray, buckets: np.ndarray | None = None) -> np.ndarray:
        members = np.asarray(members, np.int64)
        new = np.zeros(len(members), dtype=bool)
        if not len(members):
            return new
        first = np.unique(members, return_index=True)[1]
        at = np.zeros(len(first), np.int64) if buckets is None else np.asarray(buckets, np.int64)[first]
        seen = self._seen.setdefault(space, {})
        for b in np.unique(at).tolist():
            pos = first[at == b]
            old = seen.get(b)
            fresh = np.ones(len(pos), bool) if old is None else ~np.isin(members[pos], old, assume_unique=True)
            new[pos[fresh]] = True
            added = np.sort(members[pos[fresh]])
            seen[b] = added if old is None else np.union1d(old, added)
        if buckets is not None:
            horizon = max(seen) - self.layout.dedup_buckets
            for b in [b for b in seen if b < horizon]:
                del seen[b]
        return new

    def healthy(self) -> bool:
        return True

    def clear(self) -> None:
        self._runs = [[] for _ in self.layout.keep]
        self._seen = {}
        self._now = None

    def close(self) -> None:
        """Nothing to release."""
