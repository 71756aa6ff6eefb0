"""Read counts of one feature set, remembered by (entity key, request bucket).

Every online read covers whole buckets before the request's bucket (the current bucket is invisible until
it completes), so within one hour the counts of a key never change, unless an event arrives for an
earlier bucket (late) — then :meth:`ReadCache.invalidate_from` drops what it may have changed. The counts
of a post, an account or a (user, account) pair are then read from the store once per hour instead of at
every request: the bulk of a request's feature time in memory, and a round trip per read with Redis.

A look-up is one binary search over sorted keys (plus a dict of recent keys); misses are read in one batch
per entity.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from features.definitions import FeatureSet
from features.offline import ReadFn, RowQueries, answer_entity, reads_by_entity


class _Levels:
    """Cached rows of one (entity, bucket): a sorted array of keys with their rows, plus recent additions.

    A look-up is one binary search over the sorted keys; the few keys it misses are looked up in the dict of
    recent additions. Recent additions are merged in once they pass an eighth of the sorted keys, so merging
    costs a constant per key however large the cache grows, and a look-up never walks a list of small runs.
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self.keys = np.zeros(0, np.int64)
        self.rows = np.zeros((0, width), np.int64)
        self.recent: dict[int, np.ndarray] = {}
        self.size = 0

    def get(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``keys`` (zeros where absent) and which were found."""
        if len(self.keys):
            pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
            hit = self.keys[pos] == keys
            if hit.all():  # the common case of a warm cache: one gather
                return self.rows[pos], hit
            rows = np.zeros((len(keys), self.width), np.int64)
            rows[hit] = self.rows[pos[hit]]
        else:
            rows, hit = np.zeros((len(keys), self.width), np.int64), np.zeros(len(keys), bool)
        if self.recent:
            todo = np.flatnonzero(~hit)
            found = [(i, r) for i, k in zip(todo.tolist(), keys[todo].tolist(), strict=True)
                     if (r := self.recent.get(k)) is not None]
            if found:
                at = np.array([i for i, _ in found], np.int64)
                rows[at] = np.stack([r for _, r in found])
                hit[at] = True
        return rows, hit

    def put(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Add distinct ``keys`` none of which is stored yet."""
        self.recent.update(zip(keys.tolist(), rows, strict=True))
        self.size += len(keys)
        if len(self.recent) > len(self.keys) // 8:
            new_keys = np.fromiter(self.recent, np.int64, len(self.recent))
            all_keys = np.concatenate([self.keys, new_keys])
            all_rows = np.concatenate([self.rows, np.stack(list(self.recent.values()))])
            order = np.argsort(all_keys, kind="stable")
            self.keys, self.rows, self.recent = all_keys[order], all_rows[order], {}


class ReadCache:
    """Read counts of ``feature_set`` by entity key and request bucket (at most ``max_entries`` keys)."""

    def __init__(self, feature_set: FeatureSet, max_entries: int = 2_000_000) -> None:
        self.feature_set, self.max_entries = feature_set, max_entries
        self.columns = reads_by_entity(feature_set)
        self._levels: dict[tuple[str, int], _Levels] = {}
        self._lock = threading.Lock()  # requests read from several threads; events invalidate from another

    def answer(self, q: RowQueries, read: ReadFn, bucket_ms: int) -> np.ndarray:
        """The same matrix as :func:`features.offline.answer`, reading the store only for keys not cached."""
        fs = self.feature_set
        out = np.zeros((len(q.hi), len(fs.reads)), dtype=np.int64)
        if not len(q.hi):
            return out
        one = bool((q.hi == q.hi[0]).all())  # one request: one bucket
        for entity, columns in self.columns.items():
            keys = q.keys[entity]
            valid = keys >= 0
            every = one and bool(valid.all())
            for h in [int(q.hi[0])] if one else np.unique(q.hi[valid]).tolist():
                sel = None if every else np.flatnonzero(valid if one else valid & (q.hi == h))
                if sel is not None and not len(sel):
                    continue
                rows = self._rows(entity, int(h), keys if sel is None else keys[sel],
                                  lambda k, h=h, e=entity: answer_entity(fs, e, k, np.full(len(k), h), read,
                                                                         bucket_ms))
                if sel is None:
                    out[:, columns] = rows
                else:
                    out[np.ix_(sel, columns)] = rows
        return out

    def _rows(self, entity: str, h: int, keys: np.ndarray,
              compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        with self._lock:
            levels = self._levels.get((entity, h))
            if levels is None:
                levels = self._levels[(entity, h)] = _Levels(len(self.columns[entity]))
                self._forget_older(h)
            rows, hit = levels.get(keys)
        if hit.all():
            return rows
        missing = np.unique(keys[~hit])
        computed = compute(missing)
        with self._lock:
            fresh = self._levels.get((entity, h)) is levels
            if fresh and sum(lv.size for lv in self._levels.values()) + len(missing) <= self.max_entries:
                _, known = levels.get(missing)  # another thread may have added some meanwhile
                levels.put(missing[~known], computed[~known])
        rows[~hit] = computed[np.searchsorted(missing, keys[~hit])]
        return rows

    def _forget_older(self, h: int) -> None:
        """Keep the newest two buckets: requests pinned to an older time are rare and simply read the store."""
        newest = sorted({b for _, b in self._levels}, reverse=True)[:2]
        self._levels = {k: v for k, v in self._levels.items() if k[1] in newest or k[1] == h}

    def invalidate_from(self, bucket: int) -> None:
        """Forget counts that may include ``bucket``: those of requests in a later bucket."""
        with self._lock:
            self._levels = {k: v for k, v in self._levels.items() if k[1] <= bucket}

    def clear(self) -> None:
        with self._lock:
            self._levels = {}
