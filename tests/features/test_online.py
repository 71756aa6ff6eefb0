"""Online features: the store contract (one body for the memory and the Redis store) and the updater."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import redis

from features.catalog import Catalog
from features.contract import ENUMS, enum_array, ms
from features.counts import CountTable
from features.definitions import ALL, Count, Feature, FeatureError, FeatureSet, Lookup, Ratio
from features.offline import DataSource, build_frame
from features.online import MemoryStore, OnlineFeatures, OnlineStore, StoreLayout, make_store
from features.online.cache import _Levels
from features.online.redis_store import RedisStore
from features.settings import FeatureSettings

H = 3_600_000
T0 = 1_790_812_800_000  # a bucket boundary
StoreFactory = Callable[[FeatureSet], OnlineStore]

SET = FeatureSet("online_test", 1, (
    Feature("imp_all", "post", "int", None, Count(("impression",), ("post",)), 0.0, "impressions"),
    Feature("imp_fan", "post", "int", None, Count(("impression",), ("post",), "fan"), 0.0, "fan impressions"),
    Feature("ua_clicks_2h", "user_account", "int", 2, Count(("click",), ("post",)), 0.0, "clicks, 2 h"),
    Feature("fans", "account", "int", None, Lookup("followers"), 0.0, "followers"),
    Feature("keep", "account", "float", 24, Ratio(Count(("purchase",), ("product",), repeat=True),
                                                  Count(("purchase",), ("product",))), 0.0, "repeat share"),
))


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    """Builds a fresh store of each kind for a feature set (Redis: a real server, a fresh prefix)."""
    made: list[OnlineStore] = []

    def make(fs: FeatureSet) -> OnlineStore:
        settings = FeatureSettings(online_store=request.param, redis_prefix=f"test:{uuid.uuid4().hex[:8]}")
        if request.param == "redis":
            settings = settings.model_copy(update={"redis_url": request.getfixturevalue("redis_url")})
        made.append(make_store(fs, settings))
        return made[-1]

    yield make
    for s in made:
        s.clear()
        s.close()


def catalog(follows: list[tuple[int, int, int, int | None]] = ()) -> Catalog:  # type: ignore[assignment]
    """Account 0 with posts 0, 1 and product 0; account 1 with post 2 and product 1."""
    return DataSource(tables(follows)).catalog()


def tables(follows: list[tuple[int, int, int, int | None]] = (), events: pa.Table | None = None  # type: ignore
           ) -> dict[str, pa.Table]:
    out = {
        "accounts": pa.table({"account_id": [0, 1], "kind": enum_array("account_kind", [0, 0]),
                              "tier": enum_array("tier", [1, 2]), "tier_state": enum_array("tier_state", [0, 2]),
                              "preferred_shop": [False, True], "category": pa.array([3, 4], pa.int32()),
                              "created_at": ms([T0 - 1000 * H] * 2)}),
        "posts": pa.table({"post_id": [0, 1, 2], "account_id": [0, 0, 1], "kind": enum_array("post_kind", [0, 1, 2]),
                           "format": enum_array("post_format", [0, 1, 2]),
                           "visibility": enum_array("visibility", [0] * 3),
                           "created_at": ms([T0 - H] * 3), "product_ids": pa.array([[]] * 3, pa.list_(pa.int64()))}),
        "products": pa.table({"product_id": [0, 1], "shop_id": [0, 1], "category": pa.array([3, 4], pa.int32()),
                              "price": [10.0, 20.0], "launched_at": ms([T0 - H] * 2)}),
        "follows": pa.table({"user_id": pa.array([f[0] for f in follows], pa.int64()),
                             "account_id": pa.array([f[1] for f in follows], pa.int64()),
                             "followed_at": ms([f[2] for f in follows]),
                             "unfollowed_at": pa.array([f[3] for f in follows], pa.int64()).cast(
                                 pa.timestamp("ms", "UTC"))}),
    }
    if events is not None:
        out["events"] = events
    return out


def events(rows: list[tuple[int, int, str, int, str, int]]) -> pa.Table:
    """rows: (event id, user, target type, target, action, time)."""
    return pa.table({
        "event_id": pa.array([r[0] for r in rows], pa.int64()), "user_id": pa.array([r[1] for r in rows], pa.int64()),
        "target_type": enum_array("target_type", [ENUMS["target_type"].index(r[2]) for r in rows]),
        "target_id": pa.array([r[3] for r in rows], pa.int64()),
        "action": enum_array("action", [ENUMS["action"].index(r[4]) for r in rows]),
        "source": enum_array("source", [0] * len(rows)), "event_time": ms([r[5] for r in rows])})


def request(cat: Catalog, user: int, post: int, t: int) -> pa.Table:
    return cat.candidate_rows([user], "post", [post], t)


def test_windowed_sums_match_a_count_table(store: StoreFactory) -> None:
    s = store(SET)
    rng = np.random.default_rng(0)
    keys, buckets, values = rng.integers(0, 30, 3000), rng.integers(1000, 1100, 3000), rng.integers(-2, 6, 3000)
    for part in np.array_split(np.arange(3000), 7):  # several batches, the same key and bucket in many
        s.increment(0, keys[part], buckets[part], values[part])
        s.increment(2, keys[part], buckets[part], values[part])
    reference = CountTable.aggregate(keys, buckets, values)
    q = np.concatenate([rng.integers(0, 35, 400), [3, 3]])
    hi = np.concatenate([rng.integers(1000, 1110, 400), [1050, 1050]])
    for lo in (np.full(402, ALL), hi - 2, hi - 50, hi + 1):
        want = reference.window_sums(q, lo, hi)
        np.testing.assert_array_equal(s.window_sums(0, q, lo, hi), want)
        if lo[0] != ALL:
            np.testing.assert_array_equal(s.window_sums(2, q, lo, hi), want)
    np.testing.assert_array_equal(s.window_sums(1, q, hi - 2, hi), 0)  # a counter never written
    with pytest.raises(FeatureError, match="no total"):
        s.window_sums(2, q, np.full(402, ALL), hi)  # counter 2 is only read over windows


def test_add_new_says_which_members_are_new(store: StoreFactory) -> None:
    s = store(SET)
    first = s.add_new("events", np.array([5, 6, 5, 7]), np.array([10, 10, 10, 11]))
    assert first.tolist() == [True, True, False, True]
    assert s.add_new("events", np.array([7, 6, 8]), np.array([11, 10, 11])).tolist() == [False, False, True]
    assert s.add_new("other", np.array([5, 5])).tolist() == [True, False]
    assert s.add_new("other", np.array([5, 9])).tolist() == [False, True]


def test_old_buckets_expire_but_totals_stay(store: StoreFactory) -> None:
    s = store(SET)
    keep = s.layout.keep
    s.increment(0, np.array([1, 1]), np.array([1000, 1001]), np.array([2, 3]), now=1001)
    s.increment(2, np.array([1, 1]), np.array([1000, 1001]), np.array([2, 3]), now=1001)
    for step in range(1, 6):  # the stream moves on; each write prunes behind the clock
        now = 1001 + step * max(keep)
        for c in (0, 2):
            s.increment(c, np.array([1]), np.array([now]), np.array([1]), now=now)
    hi = np.array([now + 1])
    assert s.window_sums(0, np.array([1]), np.array([ALL]), hi).tolist() == [5 + 5]  # total kept (all-time read)
    assert s.window_sums(2, np.array([1]), hi - keep[2], hi).tolist() == [1]
    if isinstance(s, RedisStore):
        fields = s._r.hkeys(s._keys(2, np.array([1]))[0])
        assert b"h1000" not in fields and b"h1001" not in fields and f"h{now}".encode() in fields


def test_make_store_follows_the_setting(redis_url: str) -> None:
    assert isinstance(make_store(SET, FeatureSettings()), MemoryStore)
    s = make_store(SET, FeatureSettings(online_store="redis", redis_url=redis_url))
    assert isinstance(s, RedisStore) and SET.fingerprint in s.layout.namespace
    s.close()


def test_update_counts_once_and_replay_changes_nothing(store: StoreFactory) -> None:
    cat = catalog([(1, 0, T0 - 10 * H, None)])  # user 1 is a fan of account 0
    online = OnlineFeatures(SET, store(SET), cat)
    batch = events([(1, 1, "post", 0, "impression", T0 + 10), (2, 2, "post", 0, "impression", T0 + 20),
                    (3, 1, "post", 0, "click", T0 + 30), (4, 2, "product", 0, "purchase", T0 + 40),
                    (5, 2, "product", 0, "purchase", T0 + 50)])
    assert online.update(batch) == 5
    rows = request(cat, 1, 0, T0 + H)
    before = online.get(rows)
    np.testing.assert_allclose(before, [[2, 1, 1, 1, 1 / 3]])
    assert online.update(batch) == 0 and online.update(batch.slice(1, 2)) == 0
    np.testing.assert_array_equal(online.get(rows), before)


def test_the_current_bucket_is_invisible_until_it_completes(store: StoreFactory) -> None:
    cat = catalog()
    online = OnlineFeatures(SET, store(SET), cat)
    online.update(events([(1, 1, "post", 0, "impression", T0 + H + 5), (2, 1, "post", 0, "click", T0 + 2 * H - 1)]))
    assert online.get(request(cat, 1, 0, T0 + H + 10))[0, [0, 2]].tolist() == [0, 0]  # same bucket
    assert online.get(request(cat, 1, 0, T0 + 2 * H))[0, [0, 2]].tolist() == [1, 1]
    assert online.get(request(cat, 1, 0, T0 + 4 * H))[0, [0, 2]].tolist() == [1, 0]  # out of the 2 h window


def test_follows_and_unfollows_update_fans_and_audiences(store: StoreFactory) -> None:
    cat = catalog([(7, 0, T0 - 5 * H, None)])
    online = OnlineFeatures(SET, store(SET), cat)
    online.update(events([(1, 3, "account", 0, "follow", T0 + 10), (2, 3, "post", 1, "impression", T0 + 20),
                          (3, 7, "account", 0, "unfollow", T0 + 30), (4, 7, "post", 1, "impression", T0 + 40),
                          (5, 3, "account", 0, "follow", T0 + 50)]))  # already a fan: changes nothing
    got = online.get(request(cat, 9, 1, T0 + H))
    assert got[0, :4].tolist() == [2, 1, 0, 1]  # one fan impression (user 3), one fan left
    assert online.get(request(cat, 9, 1, T0 + 1))[0, 3] == 1  # fans at the start of the request's bucket


def test_updaters_sharing_a_catalogue_each_apply_follows(store: StoreFactory) -> None:
    cat = catalog()
    first, second = OnlineFeatures(SET, store(SET), cat), OnlineFeatures(SET, store(SET), cat)
    batch = events([(1, 3, "account", 0, "follow", T0 + 10)])
    first.update(batch)
    second.update(batch)
    rows = request(cat, 9, 1, T0 + H)
    assert first.get(rows)[0, 3] == second.get(rows)[0, 3] == 1
    assert cat.follows.is_fan(np.array([3]), np.array([0]), np.array([T0 + H])).tolist() == [False]  # untouched


def random_rows(rng: np.random.Generator, n: int, *, users: int, share: list[float]) -> list[tuple]:
    """``n`` event rows in time order over six hours: impressions, clicks, purchases, follows and unfollows in
    ``share``, by ``users`` users, on three posts, two products and two accounts."""
    acts = ["impression", "click", "purchase", "follow", "unfollow"]
    rows = []
    for i in range(n):
        a = acts[rng.choice(5, p=share)]
        tt, target = ("account", int(rng.integers(0, 2))) if a in ("follow", "unfollow") else (
            ("product", int(rng.integers(0, 2))) if a == "purchase" else ("post", int(rng.integers(0, 3))))
        rows.append((i, int(rng.integers(0, users)), tt, target, a, T0 + int(rng.integers(0, 6 * H))))
    rows.sort(key=lambda r: r[5])
    return rows


def test_online_equals_offline_on_a_stream(store: StoreFactory) -> None:
    """The updater's values equal the offline frame's for the same events (a small exact case)."""
    rows = random_rows(np.random.default_rng(3), 400, users=6, share=[0.6, 0.2, 0.1, 0.05, 0.05])
    ev = events(rows)
    online_cat = catalog()
    online = OnlineFeatures(SET, store(SET), online_cat)
    times = T0 + np.arange(1, 7) * H

    def grid(t: int) -> pa.Table:
        return pa.concat_tables([request(online_cat, u, p, t) for u in range(6) for p in range(3)])

    got = []
    for h, t in enumerate(times):
        ms_ = ev["event_time"].cast(pa.int64())
        hour = ev.filter(pc.and_(pc.greater_equal(ms_, T0 + h * H), pc.less(ms_, int(t))))
        online.update(hour)
        got.append(online.get(grid(int(t))))
    follows = _follows_from(rows)
    data = DataSource(tables(follows, ev))
    want = [build_frame(SET, grid(int(t)), data).values for t in times]
    np.testing.assert_array_equal(np.stack(got), np.stack(want))
    assert np.stack(want)[..., 1].max() > 0 and np.stack(want)[..., 3].max() > 0


def _follows_from(rows: list[tuple]) -> list[tuple[int, int, int, int | None]]:
    """The follows table the event stream implies (what the platform would have recorded)."""
    open_: dict[tuple[int, int], int] = {}
    out = []
    for _, user, _, account, action, t in rows:
        if action == "follow" and (user, account) not in open_:
            open_[user, account] = len(out)
            out.append((user, account, t, None))
        elif action == "unfollow" and (user, account) in open_ and out[open_[user, account]][2] < t:
            i = open_.pop((user, account))
            out[i] = (*out[i][:3], t)
    return out


def test_redis_keys_are_namespaced_by_fingerprint(redis_url: str) -> None:
    settings = FeatureSettings(online_store="redis", redis_url=redis_url, redis_prefix="ns-test")
    s = make_store(SET, settings)
    s.increment(0, np.array([4]), np.array([100]), np.array([1]))
    keys = redis.Redis.from_url(redis_url).keys("ns-test:*")
    assert keys and all(SET.fingerprint.encode() in k for k in keys)
    s.clear()
    assert not redis.Redis.from_url(redis_url).keys("ns-test:*")
    s.close()


def test_layout_keeps_the_longest_window() -> None:
    layout = StoreLayout.of(SET, FeatureSettings())
    by_counter = {SET.counters[r.counter].actions: r for r in SET.reads}
    click = SET.reads.index(by_counter[("click",)])
    assert layout.keep[SET.reads[click].counter] == 2 + 48
    assert layout.totals[SET.reads[0].counter] and not layout.totals[SET.reads[click].counter]


def test_follow_state_folds_a_large_overlay_and_keeps_answers() -> None:
    cat = catalog([(u, 0, T0 - H, None) for u in range(50)])
    state = cat.follows.copy()
    users = np.arange(60_000)
    state.apply(users, np.ones(60_000, np.int64), np.full(60_000, T0), np.ones(60_000, bool))  # folds
    state.apply(np.array([0, 7]), np.array([0, 0]), np.array([T0 + 5, T0 + 5]), np.array([False, False]))
    got = state.is_fan(np.array([5, 59_999, 0, 0, 7, 60_000]), np.array([1, 1, 0, 0, 0, 1]),
                       np.array([T0, T0, T0 + 4, T0 + 5, T0 + 6, T0]))
    assert got.tolist() == [True, True, True, False, False, False]
    assert not state._overlay or len(state._overlay) == 2


def test_workers_sharing_one_store_count_once_and_each_apply_follows(store: StoreFactory) -> None:
    cat = catalog([(7, 0, T0 - 5 * H, None)])
    shared = store(SET)
    first, second = OnlineFeatures(SET, shared, cat), OnlineFeatures(SET, shared, cat)
    batch = events([(1, 3, "account", 0, "follow", T0 + 10), (2, 7, "account", 0, "unfollow", T0 + 20)])
    assert first.update(batch) == 2
    assert second.update(batch) == 0  # the store says the first worker counted them
    at = np.array([T0 + H, T0 + H])
    for worker in (first, second):  # but each worker's visibility state has the follow and the unfollow
        assert worker.catalog.follows.is_fan(np.array([3, 7]), np.array([0, 0]), at).tolist() == [True, False]
    assert first.get(request(cat, 9, 1, T0 + H))[0, 3] == 1  # one fan: +1 -1 counted once, not twice


def _uncached(online: OnlineFeatures, rows: pa.Table) -> np.ndarray:
    from features.offline import answer, evaluate, row_queries

    q = row_queries(rows, online.catalog, online.bucket_ms)
    return evaluate(online.feature_set, q, online.catalog,
                    answer(online.feature_set, q, online.store.window_sums, online.bucket_ms))


@pytest.mark.parametrize("invalidate", [True, False])
def test_cached_reads_equal_fresh_reads_through_late_events(store: StoreFactory, invalidate: bool,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cat = catalog()
    online = OnlineFeatures(SET, store(SET), cat)
    if not invalidate:  # control: a cache that is never told about late events serves stale counts
        monkeypatch.setattr(online.cache, "invalidate_keys", lambda keys, buckets: None)
    grid = pa.concat_tables([request(cat, u, p, T0 + 5 * H + 10) for u in range(3) for p in range(3)])
    online.update(events([(1, 1, "post", 1, "impression", T0 + H), (2, 1, "post", 1, "click", T0 + H + 5)]))
    first = online.get(grid)
    assert first[:, 0].max() == 1 and np.array_equal(first, _uncached(online, grid))
    assert np.array_equal(online.get(grid), first)  # a second request is answered from the cache
    online.update(events([(3, 2, "post", 1, "impression", T0 + 5 * H + 1)]))  # this hour: invisible until it ends
    assert np.array_equal(online.get(grid), _uncached(online, grid))
    online.update(events([(4, 2, "post", 1, "impression", T0 + 2 * H)]))  # late: an earlier hour changes
    fresh = _uncached(online, grid)
    assert fresh[:, 0].max() == 2
    assert np.array_equal(online.get(grid), fresh) == invalidate


def test_a_late_event_forgets_only_the_keys_it_touched(store: StoreFactory) -> None:
    cat = catalog()
    online = OnlineFeatures(SET, store(SET), cat)
    grid = pa.concat_tables([request(cat, u, p, T0 + 5 * H + 10) for u in range(3) for p in range(3)])
    online.update(events([(1, 1, "post", 1, "impression", T0 + H)]))
    online.get(grid)  # every key of the grid is cached now
    read_keys: dict[str, set[int]] = {}
    window_sums = online.store.window_sums

    def counting(counter: int, keys: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        read_keys.setdefault(SET.counters[counter].entity, set()).update(keys.tolist())
        return window_sums(counter, keys, lo, hi)

    online.store.window_sums = counting  # type: ignore[method-assign]
    online.update(events([(2, 2, "post", 2, "impression", T0 + 2 * H)]))  # late: user 2 on post 2
    got = online.get(grid)
    online.store.window_sums = window_sums  # type: ignore[method-assign]
    assert np.array_equal(got, _uncached(online, grid))
    # Re-read: post 2, its account (1) and user 2's pairs; posts 0 and 1 and account 0 stay cached.
    assert read_keys["post"] == {2} and read_keys["account"] == {1}
    assert len(read_keys["user_account"]) == 1


def test_cache_levels_find_every_stored_key_sorted_or_recent() -> None:
    # Puts land in the recent run and are merged into the sorted arrays past an eighth of them: every key
    # answers its own row from either place, every other key misses with zeros.
    rng = np.random.default_rng(1)
    levels, stored, places = _Levels(3), {}, set()
    for _ in range(40):
        keys = np.unique(rng.integers(0, 50_000, rng.integers(0, 300)))
        keys = keys[[k not in stored for k in keys.tolist()]]
        rows = rng.integers(1, 100, (len(keys), 3))
        levels.put(keys, rows)
        stored.update(zip(keys.tolist(), rows.tolist(), strict=True))
        places.add((len(levels.keys) > 0, len(levels.recent_keys) > 0))
        ask = np.concatenate([rng.integers(0, 50_000, 300), np.array(list(stored)[-50:], np.int64)])
        got, hit = levels.get(ask)
        assert hit.tolist() == [k in stored for k in ask.tolist()]
        assert got.tolist() == [stored.get(k, [0, 0, 0]) for k in ask.tolist()]
    assert (True, True) in places and levels.size == len(stored)  # both places were asked together
