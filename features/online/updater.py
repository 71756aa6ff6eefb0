"""Online features: the offline definitions, updated event by event and read at request time.

:meth:`OnlineFeatures.update` takes contract-schema events in batches: it drops event ids the store has seen
within the dedup horizon (a replayed batch changes nothing), applies follows and unfollows to the follow
state, and counts the rest with :func:`features.offline.count_events` (the offline function), asking the
store whether a (user, account) pair was seen in an earlier batch for repeat counts.
:meth:`OnlineFeatures.get` answers request rows with :func:`features.offline.answer` and
:func:`features.offline.evaluate` (the offline functions) over the store, so values equal the offline frame's.

Assumptions: updaters sharing a store namespace (the service's workers) let the store's event-id set decide
which of them counts an event, and each applies every follow and unfollow to its own follow state; events
arrive in time order across batches (within a batch any order), which is what makes repeat flags agree with
the offline (time, id) order; the follow state lives in the updater's process, the counts (including
follower counts) in the store.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from features.catalog import ACCOUNT, Catalog
from features.columns import EventArrays
from features.contract import ENUMS
from features.definitions import FeatureSet
from features.event_view import EventView
from features.offline import RowArrays, count_events, evaluate, row_queries
from features.online.base import OnlineStore
from features.online.cache import ReadCache

_FOLLOW, _UNFOLLOW = ENUMS["action"].index("follow"), ENUMS["action"].index("unfollow")


class OnlineFeatures:
    """The features of ``feature_set`` kept current in ``store`` from events, over ``catalog``.

    ``catalog.follows`` is the follow snapshot the stream starts from; the updater applies follow and unfollow
    events to its own copy (so updaters of several feature sets can share one catalogue). On first use of a
    store namespace the snapshot's follower counts are written to it.
    """

    def __init__(self, feature_set: FeatureSet, store: OnlineStore, catalog: Catalog) -> None:
        self.feature_set, self.store = feature_set, store
        self.catalog = catalog.with_follows(catalog.follows.copy())
        self.cache = ReadCache(feature_set)
        self.caches: list[ReadCache] = []  # read caches of views over this store (features.online.shared)
        self.bucket_ms = store.layout.bucket_ms
        self._followers = next((i for i, c in enumerate(feature_set.counters) if c.followers), None)
        self._now: int | None = None
        if self._followers is not None:
            seed = np.array([int(catalog.follows.digest()[:15], 16)], dtype=np.int64)
            if store.add_new("seeded-follows", seed)[0]:
                accounts, times, deltas = catalog.follows.deltas()
                store.increment(self._followers, accounts, times // self.bucket_ms, deltas)

    def refresh_catalog(self, catalog: Catalog) -> None:
        """Use a newer catalogue (new posts, products, accounts) and keep the follow state built so far."""
        self.catalog = catalog.with_follows(self.catalog.follows)
        for cache in (self.cache, *self.caches):
            cache.clear()

    def update(self, events: pa.Table) -> int:
        """Count a batch of contract-schema events; returns how many were new (not seen before)."""
        ev = EventArrays.from_table(events)
        if not len(ev):
            return 0
        # Cached reads of later request buckets may include these events' buckets (late events): forget the
        # keys they touch, now (another process may have counted them already) and again once this process
        # has counted them (a request may have read the store in between).
        touched, buckets = self._touched_keys(ev), ev.time // self.bucket_ms
        self._invalidate(touched, buckets)
        fresh = self.store.add_new("events", ev.event_id, buckets)
        if not fresh.all():
            # Counted already, maybe by another process sharing the store; this process's follow state may
            # still lack them (applying a follow twice changes nothing), and visibility reads that state.
            known = ev.take(np.flatnonzero(~fresh))
            self._apply_follows(known.take(np.lexsort((known.event_id, known.time))), count=False)
        ev = ev.take(np.flatnonzero(fresh))
        if not len(ev):
            return 0
        ev = ev.take(np.lexsort((ev.event_id, ev.time)))
        newest = int(ev.time[-1] // self.bucket_ms)
        self._now = newest if self._now is None else max(self._now, newest)
        self._apply_follows(ev)
        tables = count_events(self.feature_set, ev, self.catalog, self.bucket_ms, self._seen_before)
        for counter, table in enumerate(tables):
            if table is not None and len(table):
                self.store.increment(counter, *table.entries(), now=self._now)
        self._invalidate(touched, buckets)
        return len(ev)

    def _invalidate(self, touched: dict[str, np.ndarray], buckets: np.ndarray) -> None:
        for cache in (self.cache, *self.caches):
            cache.invalidate_keys(touched, buckets)

    def _touched_keys(self, ev: EventArrays) -> dict[str, np.ndarray]:
        """Each cached entity's key of every event (-1 where it has none): a superset of the counts it moves,
        follower counts included (a follow's key for ``account`` is the followed account)."""
        view = EventView(ev, self.catalog, self.bucket_ms, {})
        return {entity: view.keys(entity) for entity in self.cache.columns}

    def _seen_before(self, space: str, members: np.ndarray) -> np.ndarray:
        return ~self.store.add_new(space, members)

    def _apply_follows(self, ev: EventArrays, *, count: bool = True) -> None:
        m = (ev.ttype == ACCOUNT) & ((ev.action == _FOLLOW) | (ev.action == _UNFOLLOW))
        if not m.any():
            return
        accounts, times, deltas = self.catalog.follows.apply(ev.user[m], ev.target[m], ev.time[m],
                                                             ev.action[m] == _FOLLOW)
        if count and self._followers is not None and len(deltas):
            self.store.increment(self._followers, accounts, times // self.bucket_ms, deltas, now=self._now)

    def get(self, rows: pa.Table | RowArrays) -> np.ndarray:
        """Feature matrix (float32, rows × ``feature_set.columns``) of request rows (a table or its arrays),
        as offline."""
        q = row_queries(rows, self.catalog, self.bucket_ms)
        counts = self.cache.answer(q, self.store.window_sums, self.bucket_ms)
        return evaluate(self.feature_set, q, self.catalog, counts)
