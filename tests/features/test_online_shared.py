"""Several feature sets over one online store: equal values to one store per set, each counter kept once."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from features.definitions import Count, Feature, FeatureError, FeatureSet, Lookup, Ratio
from features.online import MemoryStore, OnlineFeatures, StoreLayout
from features.online.shared import SharedOnline, union_set
from features.settings import FeatureSettings
from tests.features.test_online import (  # noqa: F401
    T0,
    H,
    StoreFactory,
    catalog,
    events,
    random_rows,
    request,
    store,
)

SHARED = (
    Feature("ua_clicks_2h", "user_account", "int", 2, Count(("click",), ("post", "product")), 0.0, "clicks, 2 h"),
    Feature("fans", "account", "int", None, Lookup("followers"), 0.0, "followers"),
)
POSTS = FeatureSet("shared_posts", 1, (
    *SHARED,
    Feature("imp", "post", "int", None, Count(("impression",), ("post",)), 0.0, "impressions"),
    Feature("fan_rate", "post", "float", None, Ratio(Count(("click",), ("post",), "fan"),
                                                     Count(("impression",), ("post",), "fan"), 1.0, 4.0), 0.25, "r"),
))
PRODUCTS = FeatureSet("shared_products", 1, (
    *SHARED,
    Feature("buys", "product", "int", None, Count(("purchase",), ("product",)), 0.0, "purchases"),
))


def _stream(rng: np.random.Generator, n: int, late: bool) -> list[tuple]:
    rows = random_rows(rng, n, users=5, share=[0.55, 0.25, 0.1, 0.05, 0.05])
    if late:  # a few events arrive in the last batch although they happened hours earlier
        rows += [(n + j, j % 5, "post", j % 3, "impression", T0 + H + j) for j in range(4)]
    return rows


@pytest.mark.parametrize("tell_views", [True, False])
def test_views_equal_one_store_per_set_through_late_events(store: StoreFactory, tell_views: bool) -> None:  # noqa: F811
    cat = catalog()
    shared = SharedOnline([POSTS, PRODUCTS], store(union_set([POSTS, PRODUCTS])), cat)
    alone = {fs.name: OnlineFeatures(fs, store(fs), catalog()) for fs in (POSTS, PRODUCTS)}
    if not tell_views:  # control: views whose caches hear nothing of late events serve stale counts
        shared.updater.caches.clear()
    rows = _stream(np.random.default_rng(5), 300, late=True)
    batches = [[r for r in rows if T0 + h * H <= r[5] < T0 + (h + 1) * H and r[0] < 300] for h in range(6)]
    batches.append([r for r in rows if r[0] >= 300])  # late: read at the same time as the hour before
    same = []
    for h, batch in enumerate(batches):
        t = T0 + min(h + 1, 6) * H + 1
        shared.update(events(batch))
        for online in alone.values():
            online.update(events(batch))
        grid = pa.concat_tables([request(cat, u, p, t) for u in range(5) for p in range(3)])
        products = pa.concat_tables([cat.candidate_rows([u], "product", [p], t) for u in range(5) for p in range(2)])
        same.append(np.array_equal(shared.view(POSTS.name).get(grid), alone[POSTS.name].get(grid)))
        same.append(np.array_equal(shared.view(PRODUCTS.name).get(products), alone[PRODUCTS.name].get(products)))
    assert all(same) == tell_views
    assert all(same[:-2])  # before the late batch the caches agree either way


def test_each_shared_counter_is_kept_once() -> None:
    union = union_set([POSTS, PRODUCTS])
    assert len(union.counters) == len(set(POSTS.counters) | set(PRODUCTS.counters))
    assert len(union.counters) < len(POSTS.counters) + len(PRODUCTS.counters)
    assert union.columns == [*POSTS.columns, "buys"]


def test_a_name_declared_two_ways_and_a_wrong_store_are_refused() -> None:
    other = FeatureSet("other", 1, (Feature("imp", "post", "int", 24, Count(("impression",), ("post",)), 0.0, "x"),))
    with pytest.raises(FeatureError, match="feature imp: declared differently"):
        union_set([POSTS, other])
    with pytest.raises(FeatureError, match="store: its layout keeps"):
        SharedOnline([POSTS, PRODUCTS], MemoryStore(StoreLayout.of(POSTS, FeatureSettings())), catalog())
