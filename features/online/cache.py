"""Read counts of one feature set, remembered by (entity key, request bucket).

Every online read covers whole buckets before the request's bucket (the current bucket is invisible until
it completes), so within one hour the counts of a key never change, unless an event arrives for an
earlier bucket (late) — then :meth:`ReadCache.invalidate_from` drops what it may have changed. The counts
of a post, an account or a (user, account) pair are then read from the store once per hour instead of at
every request: the bulk of a request's feature time in memory, and a round trip per read with Redis.

Levels of sorted keys make a look-up a few binary searches; misses are read in one batch per entity.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from features.definitions import FeatureSet
from features.offline import ReadFn, RowQueries, answer_entity, reads_by_entity

MAX_LEVELS = 8


class _Levels:
    """Sorted (keys, rows) runs of one (entity, bucket)."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []
        self.size = 0

    def get(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.zeros((len(keys), self.width), np.int64)
        hit = np.zeros(len(keys), bool)
        for run_keys, run_rows in self.runs:
            pos = np.searchsorted(run_keys, keys)
            found = pos < len(run_keys)
            found[found] = run_keys[pos[found]] == keys[found]
            rows[found] = run_rows[pos[found]]
            hit |= found
        return rows, hit

    def put(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Add sorted distinct ``keys`` none of which is stored yet."""
        self.runs.append((keys, rows))
        self.size += len(keys)
        if len(self.runs) > MAX_LEVELS:
            all_keys = np.concatenate([k for k, _ in self.runs])
            order = np.argsort(all_keys, kind="stable")
            self.runs = [(all_keys[order], np.concatenate([r for _, r in self.runs])[order])]


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
        for entity, columns in self.columns.items():
            keys = q.keys[entity]
            valid = keys >= 0
            for h in np.unique(q.hi[valid]).tolist():
                sel = np.flatnonzero(valid & (q.hi == h))
                out[np.ix_(sel, columns)] = self._rows(entity, int(h), keys[sel],
                                                       lambda k, h=h, e=entity: answer_entity(
                                                           fs, e, k, np.full(len(k), h), read, bucket_ms))
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
