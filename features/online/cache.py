"""Read counts of one feature set, remembered by (entity key, request bucket).

Every online read covers whole buckets before the request's bucket (the current bucket is invisible until
it completes), so within one hour the counts of a key never change, unless an event arrives for an
earlier bucket (late) — then :meth:`ReadCache.invalidate_keys` forgets the keys it touched. The counts
of a post, an account or a (user, account) pair are then read from the store once per hour instead of at
every request: the bulk of a request's feature time in memory, and a round trip per read with Redis.

A look-up is one direct-table or binary search over the stored keys (and one over the few recent ones);
misses are read in one batch per entity.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

import numpy as np

from features.definitions import FeatureSet
from features.ids import IdIndex
from features.offline import ReadFn, RowQueries, answer_entity, reads_by_entity


class _Levels:
    """Cached rows of one (entity, bucket): two sorted runs of keys with their rows, a large one and a recent one.

    A look-up goes through the large run's :class:`~features.ids.IdIndex` (a direct table for compact ids such as
    posts', a binary search otherwise), then a binary search in the recent run for the keys it misses, all in
    bulk. New keys are merged into the recent run (its size, not the cache's, is what a put costs); the
    recent run is merged into the large one once it passes an eighth of it, so merging costs a constant per
    key however large the cache grows. Removed keys of the large run are only marked (``alive``) until then.
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self.keys, self.rows = np.zeros(0, np.int64), np.zeros((0, width), np.int64)
        self.recent_keys, self.recent_rows = np.zeros(0, np.int64), np.zeros((0, width), np.int64)
        self.size = 0
        self.index = IdIndex(self.keys)  # over :attr:`keys`, rebuilt at each merge
        self.alive = np.ones(0, bool)  # per key of the large run: False once removed (dropped at the next merge)
        self.dead = 0
        self.version = 0  # moves at every removal: a value computed before it must not be stored after it

    def get(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``keys`` (zeros where absent) and which were found."""
        pos = self.index.rows(keys)
        hit = pos >= 0
        if self.dead:
            hit &= self.alive[np.maximum(pos, 0)]
        if hit.all():  # the common case of a warm cache: one gather
            return self.rows[pos], hit
        rows = np.zeros((len(keys), self.width), np.int64)
        rows[hit] = self.rows[pos[hit]]
        todo = np.flatnonzero(~hit)
        pos, found = _find(self.recent_keys, keys[todo])
        rows[todo[found]] = self.recent_rows[pos[found]]
        hit[todo[found]] = True
        return rows, hit

    def put(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Add distinct ``keys`` none of which is stored yet."""
        self.recent_keys, self.recent_rows = _merge(self.recent_keys, self.recent_rows, keys, rows)
        self.size += len(keys)
        if len(self.recent_keys) > len(self.keys) // 8:
            if self.dead:  # removed keys leave the large run here (one may be back, in the recent run)
                self.keys, self.rows = self.keys[self.alive], self.rows[self.alive]
            self.keys, self.rows = _merge(self.keys, self.rows, self.recent_keys, self.recent_rows)
            self.alive, self.dead = np.ones(len(self.keys), bool), 0
            self.recent_keys, self.recent_rows = self.recent_keys[:0], self.recent_rows[:0]
            self.index = IdIndex(self.keys)

    def remove(self, keys: np.ndarray) -> None:
        """Forget ``keys`` (those stored; others are ignored): their next look-up misses."""
        self.version += 1
        keys = np.unique(np.asarray(keys, np.int64))
        if len(self.keys):
            at = self.index.rows(keys)
            at = at[at >= 0]
            newly = int(self.alive[at].sum())
            self.alive[at] = False
            self.dead += newly
            self.size -= newly
        if len(self.recent_keys):
            keep = ~np.isin(self.recent_keys, keys)
            self.size -= int((~keep).sum())
            self.recent_keys, self.recent_rows = self.recent_keys[keep], self.recent_rows[keep]


def _find(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each key in ``sorted_keys`` and whether it is there."""
    if not len(sorted_keys):
        return np.zeros(len(keys), np.int64), np.zeros(len(keys), bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return pos, sorted_keys[pos] == keys


def _merge(keys: np.ndarray, rows: np.ndarray, new_keys: np.ndarray,
           new_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    all_keys = np.concatenate([keys, np.asarray(new_keys, np.int64)])
    order = np.argsort(all_keys, kind="stable")
    return all_keys[order], np.concatenate([rows, np.asarray(new_rows, np.int64).reshape(-1, rows.shape[1])])[order]


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
            version = levels.version
        if hit.all():
            return rows
        missing = np.unique(keys[~hit])
        computed = compute(missing)
        with self._lock:
            fresh = self._levels.get((entity, h)) is levels and levels.version == version
            if fresh and sum(lv.size for lv in self._levels.values()) + len(missing) <= self.max_entries:
                _, known = levels.get(missing)  # another thread may have added some meanwhile
                levels.put(missing[~known], computed[~known])
        rows[~hit] = computed[np.searchsorted(missing, keys[~hit])]
        return rows

    def _forget_older(self, h: int) -> None:
        """Keep the newest two buckets: requests pinned to an older time are rare and simply read the store."""
        newest = sorted({b for _, b in self._levels}, reverse=True)[:2]
        self._levels = {k: v for k, v in self._levels.items() if k[1] in newest or k[1] == h}

    def invalidate_keys(self, keys: Mapping[str, np.ndarray], buckets: np.ndarray) -> None:
        """Forget the counts an event batch may have changed: for each entity, the keys of its events (``keys[e]``,
        -1 for none), in the levels of request buckets after each event's bucket. The rest of the cache stays:
        a late batch costs the requests that follow only the keys it touched."""
        buckets = np.asarray(buckets, np.int64)
        with self._lock:
            for (entity, h), level in self._levels.items():
                entity_keys = keys.get(entity)
                if entity_keys is None:
                    continue
                hit = entity_keys[(buckets < h) & (entity_keys >= 0)]
                if len(hit):
                    level.remove(hit)

    def clear(self) -> None:
        with self._lock:
            self._levels = {}
