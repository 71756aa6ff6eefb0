"""Several feature sets over one online store: every event counted once, every shared counter kept once.

The slot rankers' feature sets share most of their counters (the user's affinity to accounts and categories,
the account's baselines). Kept per set, each of those tables is held and updated twice. :class:`SharedOnline`
counts events for the union of the sets (:func:`union_set`) with one :class:`OnlineFeatures`, and answers each
set's requests through a :class:`SetView`: the set's own reads, mapped onto the union's counters, with its own
read cache. Values equal those of an updater of the set alone (the same definitions over the same counts).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from features.catalog import Catalog
from features.definitions import FeatureError, FeatureSet
from features.offline import RowArrays, evaluate, row_queries
from features.online.base import OnlineStore
from features.online.cache import ReadCache
from features.online.updater import OnlineFeatures
from features.settings import FeatureSettings


def union_set(sets: Sequence[FeatureSet]) -> FeatureSet:
    """One feature set holding every feature of ``sets`` once (a name must mean one declaration in all)."""
    features, by_name = [], {}
    for fs in sets:
        for f in fs.features:
            known = by_name.get(f.name)
            if known is None:
                by_name[f.name] = f
                features.append(f)
            elif known != f:
                raise FeatureError(f"feature {f.name}: declared differently in {fs.name} and an earlier set; "
                                   "sets sharing one online store must agree on shared names")
    name = "+".join(f"{fs.name}.v{fs.version}" for fs in sets)
    return FeatureSet(f"online[{name}]", 1, tuple(features))


class SetView:
    """One feature set's features read from a shared updater's store (see :class:`SharedOnline`)."""

    def __init__(self, feature_set: FeatureSet, updater: OnlineFeatures) -> None:
        union = updater.feature_set
        missing = [str(c) for c in feature_set.counters if c not in union.counters]
        if missing:
            raise FeatureError(f"feature set {feature_set.name}: counters {missing} are not kept by {union.name}")
        self.feature_set, self.updater = feature_set, updater
        self._counter = np.array([union.counters.index(c) for c in feature_set.counters], np.int64)
        self.cache = ReadCache(feature_set)

    def _read(self, counter: int, keys: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return self.updater.store.window_sums(int(self._counter[counter]), keys, lo, hi)

    def get(self, rows: pa.Table | RowArrays) -> np.ndarray:
        """Feature matrix (float32, rows × ``feature_set.columns``) of request rows, as offline."""
        q = row_queries(rows, self.updater.catalog, self.updater.bucket_ms)
        counts = self.cache.answer(q, self._read, self.updater.bucket_ms)
        return evaluate(self.feature_set, q, self.updater.catalog, counts)


class SharedOnline:
    """The features of several sets kept current in one store: :meth:`update` once, :meth:`view` per set."""

    def __init__(self, sets: Sequence[FeatureSet], store: OnlineStore, catalog: Catalog) -> None:
        union = union_set(sets)
        if len(store.layout.keep) != len(union.counters):
            raise FeatureError(f"store: its layout keeps {len(store.layout.keep)} counters, {union.name} has "
                               f"{len(union.counters)} (open it with StoreLayout.of(union_set(sets), ...))")
        self.updater = OnlineFeatures(union, store, catalog)
        self.views = {fs.name: SetView(fs, self.updater) for fs in sets}
        self.updater.caches.extend(v.cache for v in self.views.values())

    @classmethod
    def open(cls, sets: Sequence[FeatureSet], settings: FeatureSettings, catalog: Catalog) -> SharedOnline:
        """Over the store ``settings.online_store`` chooses, laid out for the union of ``sets``."""
        from features.online import make_store  # the package imports this module's neighbours

        return cls(sets, make_store(union_set(sets), settings), catalog)

    @property
    def store(self) -> OnlineStore:
        """The shared store (for health checks)."""
        return self.updater.store

    @property
    def catalog(self) -> Catalog:
        """The shared catalogue, with the updater's follow state (the service's visibility reads it)."""
        return self.updater.catalog

    def update(self, events: pa.Table) -> int:
        """Count a batch of contract-schema events for every set; returns how many were new."""
        return self.updater.update(events)

    def view(self, name: str) -> SetView:
        """The reader of the feature set called ``name``."""
        return self.views[name]
