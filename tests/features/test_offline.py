"""Offline training frames: point in time, fan status at event time, repeats, followers, windows, and a naive
re-implementation of every count on a simulated world that the vectorised engine must match exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from experiments.settings import SimulatorSettings
from experiments.simulate import simulate
from features.columns import pair_key
from features.contract import ENUMS, enum_array, ms
from features.counts import CountTable
from features.definitions import ALL, Count, Feature, FeatureSet, Lookup, Ratio
from features.featuresets import get_feature_set
from features.follows import FollowState
from features.graph import FanIndex
from features.offline import (
    DataSource,
    answer_partition,
    build_frame,
    count_events,
    evaluate,
    follower_table,
    read_span,
    row_queries,
)
from features.settings import FeatureSettings

H = 3_600_000
T0 = 1_790_812_800_000  # 2026-10-01T00:00Z, a bucket boundary


def tiny_world(events: list[tuple], follows: list[tuple] = ()) -> DataSource:  # type: ignore[assignment]
    """Two accounts (0: W2/fair shop, 1: W1 influencer), posts 0-1 of account 0, post 2 of account 1,
    product 0 of account 0. ``events``: (id, user, target_type, target, action, time[, source])."""
    ev = [e if len(e) == 7 else (*e, "in_app") for e in events]
    fol = list(follows)
    tables = {
        "accounts": pa.table({"account_id": [0, 1], "kind": enum_array("account_kind", [0, 1]),
                              "tier": enum_array("tier", [1, 0]), "tier_state": enum_array("tier_state", [1, -1]),
                              "preferred_shop": [True, False], "category": pa.array([5, 6], pa.int32()),
                              "created_at": ms([T0 - 100 * H] * 2)}),
        "posts": pa.table({"post_id": [0, 1, 2], "account_id": [0, 0, 1],
                           "kind": enum_array("post_kind", [0, 1, 2]), "format": enum_array("post_format", [0, 2, 3]),
                           "visibility": enum_array("visibility", [0, 0, 1]),
                           "created_at": ms([T0 + H // 2, T0 - 17 * H, T0]),
                           "product_ids": pa.array([[0], [], []], pa.list_(pa.int64()))}),
        "products": pa.table({"product_id": [0], "shop_id": [0], "category": pa.array([7], pa.int32()),
                              "price": [100.0], "launched_at": ms([T0 - 2 * H])}),
        "follows": pa.table({"user_id": pa.array([f[0] for f in fol], pa.int64()),
                             "account_id": pa.array([f[1] for f in fol], pa.int64()),
                             "followed_at": ms([f[2] for f in fol]),
                             "unfollowed_at": pa.array([f[3] for f in fol], pa.int64()).cast(
                                 pa.timestamp("ms", "UTC"))}),
        "events": pa.table({
            "event_id": pa.array([e[0] for e in ev], pa.int64()), "user_id": pa.array([e[1] for e in ev], pa.int64()),
            "target_type": enum_array("target_type", [ENUMS["target_type"].index(e[2]) for e in ev]),
            "target_id": pa.array([e[3] for e in ev], pa.int64()),
            "action": enum_array("action", [ENUMS["action"].index(e[4]) for e in ev]),
            "source": enum_array("source", [ENUMS["source"].index(e[6]) for e in ev]),
            "event_time": ms([e[5] for e in ev])}),
    }
    return DataSource(tables)


def frame(fs: FeatureSet, data: DataSource, rows: list[tuple]) -> np.ndarray:
    """rows: (user, target_type, target, request time)."""
    cat = data.catalog()
    out = [cat.candidate_rows([u], tt, [t], r) for u, tt, t, r in rows]
    return build_frame(fs, pa.concat_tables(out), data).values


def test_an_event_at_or_after_t_is_never_seen_and_only_complete_buckets_count() -> None:
    t = T0 + 10 * H + 30 * 60_000  # 10:30
    imp = [(1, 9, "post", 0, "impression", t), (2, 9, "post", 0, "impression", t + 1),
           (3, 9, "post", 0, "impression", T0 + 11 * H), (4, 9, "post", 0, "impression", T0 + 10 * H + 5 * 60_000),
           (5, 9, "post", 0, "impression", T0 + 10 * H - 1), (6, 9, "post", 0, "impression", T0 + 9 * H),
           (7, 9, "post", 0, "impression", T0 + 8 * H + 1)]
    fs = FeatureSet("t", 1, (
        Feature("all", "post", "int", None, Count(("impression",), ("post",)), 0.0, "since the beginning"),
        Feature("h1", "post", "int", 1, Count(("impression",), ("post",)), 0.0, "last complete hour"),
        Feature("h2", "post", "int", 2, Count(("impression",), ("post",)), 0.0, "last two complete hours"),
    ))
    data = tiny_world(imp)
    # At 10:30: the event at 10:30, after it, and earlier in the 10:00 bucket are unseen; 9:59:59.999 is seen.
    np.testing.assert_array_equal(frame(fs, data, [(9, "post", 0, t)]), [[3, 2, 3]])
    # At 11:00 the whole 10:00 bucket is complete (including the events at and after 10:30).
    np.testing.assert_array_equal(frame(fs, data, [(9, "post", 0, T0 + 11 * H)]), [[6, 3, 5]])
    np.testing.assert_array_equal(frame(fs, data, [(9, "post", 0, T0 + 11 * H - 1)]), [[3, 2, 3]])


def test_audience_is_fan_status_at_the_event_time() -> None:
    fol = [(9, 0, T0 + 5 * H, T0 + 8 * H)]  # user 9 follows account 0 from 05:00 to 08:00
    ev = [(i, 9, "post", 0, "impression", T0 + h) for i, h in enumerate((4 * H, 5 * H, 6 * H, 8 * H, 9 * H))]
    fs = FeatureSet("t", 1, (
        Feature("fan", "post", "int", None, Count(("impression",), ("post",), "fan"), 0.0, "fans"),
        Feature("non", "post", "int", None, Count(("impression",), ("post",), "nonfan"), 0.0, "non-fans"),
        Feature("acct_fans", "account", "int", None, Lookup("followers"), 0.0, "followers"),
    ))
    data = tiny_world(ev, fol)
    # 05:00 counts as a fan (follow start inclusive), 08:00 does not (end exclusive).
    np.testing.assert_array_equal(frame(fs, data, [(1, "post", 0, T0 + 10 * H)]), [[2, 3, 0]])
    got = frame(fs, data, [(1, "post", 0, T0 + h * H) for h in (5, 6, 8, 9)])
    np.testing.assert_array_equal(got[:, 2], [0, 1, 1, 0])  # fans just before the request's bucket starts


def test_repeats_sources_and_ratios() -> None:
    buy = [(1, 3, "product", 0, "purchase", T0 + H), (2, 4, "product", 0, "purchase", T0 + 2 * H),
           (4, 3, "product", 0, "purchase", T0 + 3 * H), (3, 3, "product", 0, "purchase", T0 + 3 * H),
           (5, 4, "account", 0, "click", T0 + H, "offsite_search"), (6, 4, "account", 0, "click", T0 + H),
           (7, 4, "account", 0, "click", T0 + H, "offsite_ads"), (8, 5, "account", 1, "click", T0 + H, "push")]
    fs = FeatureSet("t", 1, (
        Feature("keep", "account", "float", 720, Ratio(Count(("purchase",), ("product",), repeat=True),
                                                        Count(("purchase",), ("product",))), 0.0, "keep"),
        Feature("offsite", "account", "float", 720, Ratio(Count(("click",), ("account",), sources=(
            "offsite_search", "offsite_ads")), Count(("click",), ("account",)), 0.0, 0.0), -1.0, "share"),
        Feature("tier_state", "account", "category", None, Lookup("tier_state"), -1.0, "state"),
    ))
    data = tiny_world(buy)
    got = frame(fs, data, [(0, "product", 0, T0 + 5 * H), (0, "post", 2, T0 + 5 * H)])
    # Repeat buyers: user 3's purchases with id 3 and 4 (same time, ordered by id) follow the one at 01:00.
    np.testing.assert_allclose(got[0], [2 / (4 + 1), 2 / 3, 1], rtol=1e-6)
    np.testing.assert_allclose(got[1], [0.0, 0.0, -1], rtol=1e-6)  # account 1: W1 has no tier state


def test_request_lookups() -> None:
    data = tiny_world([])
    fs = FeatureSet("t", 1, tuple(Feature(c, e, "float", None, Lookup(c), -1.0, c) for c, e in (
        ("freshness_hours", "request"), ("posting_hour", "post"), ("format_group", "post"), ("tier", "account"),
        ("preferred_shop", "account"), ("price_band", "product"), ("launch_age_hours", "request"))))
    got = frame(fs, data, [(1, "post", 0, T0 + 3 * H), (1, "post", 2, T0 + H), (1, "product", 0, T0)])
    np.testing.assert_allclose(got, [
        [2.5, 8, 0, 1, 1, -1, -1],   # published 00:30 UTC = 08:30 local; nine-grid is image_text
        [1.0, 8, 2, 0, 0, -1, -1],   # account 1 is W1, not preferred; live
        [-1, -1, -1, 1, 1, 6, 2.0],  # 100 yuan: log2 band 6; launched 2 h before
    ])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "small"
    simulate(SimulatorSettings(), "small", 3, out)
    return out


def _naive_fan(data: DataSource, users: np.ndarray, accounts: np.ndarray, times: np.ndarray) -> np.ndarray:
    f = data.table("follows")
    since = f["followed_at"].cast(pa.int64()).to_numpy()
    until = f["unfollowed_at"].cast(pa.int64()).fill_null(np.iinfo(np.int64).max).to_numpy()
    spans: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for u, a, s, e in zip(f["user_id"].to_pylist(), f["account_id"].to_pylist(), since.tolist(), until.tolist(),
                          strict=True):
        spans.setdefault((u, a), []).append((s, e))
    return np.array([any(s <= t < e for s, e in spans.get((u, a), ())) for u, a, t in
                     zip(users.tolist(), accounts.tolist(), times.tolist(), strict=True)])


def _naive_counts(fs: FeatureSet, data: DataSource, rows: pa.Table) -> np.ndarray:
    """Every read of ``fs`` for ``rows``, by brute force over the events (no shared code but the catalogue)."""
    cat, ev = data.catalog(), data.events()
    acc = cat.target_account(ev.ttype, ev.target)
    keys = {"user": ev.user, "account": acc, "post": np.where(ev.ttype == 0, ev.target, -1),
            "product": np.where(ev.ttype == 1, ev.target, -1), "tier_kind_format": np.where(
                ev.ttype == 0, cat.tier_cell(ev.target), -1),
            "user_account": np.array([u * 10**6 + a if a >= 0 else -1 for u, a in zip(ev.user, acc, strict=True)]),
            "user_category": np.array([u * 10**6 + c if c >= 0 else -1 for u, c in
                                       zip(ev.user, cat.target_category(ev.ttype, ev.target, acc), strict=True)])}
    fan = _naive_fan(data, ev.user, acc, ev.time)
    q = row_queries(rows, cat, H)
    r = q.rows
    row_keys = dict(q.keys, user_account=np.where(r.account >= 0, r.user * 10**6 + r.account, -1),
                    user_category=r.user * 10**6 + r.category)
    follows = data.table("follows")
    f_acc = follows["account_id"].to_numpy()
    f_since = follows["followed_at"].cast(pa.int64()).to_numpy()
    f_until = follows["unfollowed_at"].cast(pa.int64()).fill_null(np.iinfo(np.int64).max).to_numpy()
    out = np.zeros((len(rows), len(fs.reads)), np.int64)
    for j, rd in enumerate(fs.reads):
        c = fs.counters[rd.counter]
        for i in range(len(rows)):
            key, hi = row_keys[c.entity][i], q.hi[i] * H
            lo = -np.inf if rd.window_hours is None else hi - rd.window_hours * H
            if key < 0:
                continue
            if c.followers:
                out[i, j] = np.sum((f_acc == key) & (f_since < hi) & (f_until >= hi))
                continue
            m = (keys[c.entity] == key) & (ev.time >= lo) & (ev.time < hi)
            m &= np.isin(ev.action, [ENUMS["action"].index(a) for a in c.actions])
            m &= np.isin(ev.ttype, [ENUMS["target_type"].index(t) for t in c.target_types])
            if c.sources:
                m &= np.isin(ev.source, [ENUMS["source"].index(s) for s in c.sources])
            if c.audience != "all":
                m &= fan if c.audience == "fan" else ~fan
            if c.repeat:
                m &= _naive_repeat(ev, acc, c.actions, c.target_types)
            out[i, j] = m.sum()
    return out


def _naive_repeat(ev: object, acc: np.ndarray, actions: tuple[str, ...], types: tuple[str, ...]) -> np.ndarray:
    e = ev  # EventArrays
    match = np.isin(e.action, [ENUMS["action"].index(a) for a in actions]) & np.isin(  # type: ignore[attr-defined]
        e.ttype, [ENUMS["target_type"].index(t) for t in types]) & (acc >= 0)  # type: ignore[attr-defined]
    seen: set[tuple[int, int]] = set()
    flags = np.zeros(len(acc), bool)
    for i in sorted(np.flatnonzero(match), key=lambda i: (e.time[i], e.event_id[i])):  # type: ignore[attr-defined]
        pair = (int(e.user[i]), int(acc[i]))  # type: ignore[attr-defined]
        flags[i] = pair in seen
        seen.add(pair)
    return flags


@pytest.mark.parametrize(("name", "target_type"), [("follow_feed_v1", 0), ("new_arrival_v1", 1)])
def test_every_count_matches_a_brute_force_recount(world: Path, name: str, target_type: int) -> None:
    data = DataSource.from_dir(world)
    fs, cat, ev = get_feature_set(name), data.catalog(), data.events()
    rng = np.random.default_rng(4)
    pick = rng.choice(np.flatnonzero((ev.ttype == target_type) & (ev.action == 0)), 120)
    times = np.where(rng.random(120) < 0.5, ev.time[pick], rng.integers(ev.time.min(), ev.time.max(), 120))
    rows = cat.candidate_rows(ev.user[pick], ENUMS["target_type"][target_type], ev.target[pick], times)
    got = answer_partition(fs, ev, cat, H, row_queries(rows, cat, H))
    want = _naive_counts(fs, data, rows)
    np.testing.assert_array_equal(got, want)
    assert (want > 0).mean() > 0.3  # the comparison is not between two matrices of zeros


@pytest.mark.parametrize("name", ["follow_feed_v1", "new_arrival_v1"])
def test_a_frame_assembled_in_blocks_equals_the_whole(world: Path, name: str) -> None:
    """Blocks of rows (as large frames are assembled) give the matrix of one pass, to the bit, including provided
    columns, look-ups and key validity (post and product rows mixed): a block given other rows' inputs would not."""
    data = DataSource.from_dir(world)
    fs, cat, ev = get_feature_set(name), data.catalog(), data.events()
    rng = np.random.default_rng(5)
    parts = []
    for target_type in (0, 1):
        pick = rng.choice(np.flatnonzero((ev.ttype == target_type) & (ev.action == 0)), 100)
        parts.append(cat.candidate_rows(ev.user[pick], ENUMS["target_type"][target_type], ev.target[pick],
                                        ev.time[pick]))
    rows = pa.concat_tables(parts).take(rng.permutation(200))
    rows = rows.append_column("embedding_similarity", pa.array(rng.random(200)))
    q = row_queries(rows, cat, H)
    counts = answer_partition(fs, ev, cat, H, q)
    whole = evaluate(fs, q, cat, counts, block_rows=200)
    for block in (1, 7, 64):
        np.testing.assert_array_equal(evaluate(fs, q, cat, counts, block_rows=block), whole)
    # the rows differ from one another, so a block given the wrong rows' inputs would show
    assert len(np.unique(whole, axis=0)) > 150
    assert np.isin("embedding_similarity", fs.columns) and len(np.unique(whole[:, fs.columns.index(
        "embedding_similarity")])) == 200


def test_fan_status_agrees_with_the_graph_index(world: Path) -> None:
    follows = DataSource.from_dir(world).table("follows")
    state, index = FollowState.from_table(follows), FanIndex(follows)
    rng = np.random.default_rng(0)
    f = follows.take(rng.integers(0, follows.num_rows, 3000))
    since = f["followed_at"].cast(pa.int64()).to_numpy()
    until = f["unfollowed_at"].cast(pa.int64()).fill_null(since.max() + H).to_numpy()
    users = np.concatenate([f["user_id"].to_numpy()] * 5 + [rng.integers(0, 2000, 3000)])
    accounts = np.concatenate([f["account_id"].to_numpy()] * 5 + [rng.integers(0, 200, 3000)])
    times = np.concatenate([since, since - 1, until, until - 1, (since + until) // 2, rng.choice(since, 3000)])
    got = state.is_fan(users, accounts, times)
    np.testing.assert_array_equal(got, index.is_fan(users, accounts, times))
    assert 0.2 < got.mean() < 0.8


def test_count_table_sums_windows_like_a_loop() -> None:
    rng = np.random.default_rng(2)
    # Packed in 32 bits, packed in 64 (search bounds past 2**32), and wide keys (ranks packed).
    for keys, width in ((rng.integers(0, 50, 4000), np.uint32), (rng.integers(0, 50, 4000) + (1 << 30), np.int64),
                        (rng.integers(0, 50, 4000) + (1 << 58), np.uint32)):
        buckets = rng.integers(100, 300, 4000)
        values = rng.integers(-3, 5, 4000)
        for table, v in ((CountTable.aggregate(keys, buckets), np.ones(4000, int)),
                         (CountTable.aggregate(keys, buckets, values), values),
                         (CountTable.aggregate(keys, buckets, values).compact(), values)):
            assert table.packed.dtype in (np.int64, width)
            qk = np.concatenate([rng.choice(keys, 300), [7 + (1 << 61), -5]])  # beyond the largest key, negative
            lo = np.where(rng.random(302) < 0.2, ALL, rng.integers(90, 310, 302))
            hi = rng.integers(90, 320, 302)
            want = [v[(keys == k) & (buckets >= a) & (buckets < b)].sum() for k, a, b in zip(qk, lo, hi, strict=True)]
            np.testing.assert_array_equal(table.window_sums(qk, lo, hi), want)
            for part in np.array_split(np.arange(302), 60):  # few queries: per-key searches, not the index
                np.testing.assert_array_equal(table.window_sums(qk[part], lo[part], hi[part]), np.array(want)[part])
        merged = CountTable.merge([CountTable.aggregate(keys[:2000], buckets[:2000]),
                                   CountTable.aggregate(keys[2000:], buckets[2000:])])
        np.testing.assert_array_equal(merged.entries()[2], CountTable.aggregate(keys, buckets).entries()[2])
        assert CountTable.aggregate(keys, buckets).compact().packed.dtype == width


def test_data_source_from_a_directory_equals_in_memory_tables(world: Path) -> None:
    on_disk = DataSource.from_dir(world)
    memory = DataSource({n: on_disk.table(n) for n in ("accounts", "posts", "products", "follows", "events")})
    fs, ev = get_feature_set("follow_feed_v1"), on_disk.events()
    pick = np.flatnonzero(ev.ttype == 0)[:50]
    rows = on_disk.catalog().candidate_rows(ev.user[pick], "post", ev.target[pick], ev.time[pick])
    a = build_frame(fs, rows, on_disk, settings=FeatureSettings())
    b = build_frame(fs, rows, memory)
    assert np.array_equal(a.values.view(np.uint32), b.values.view(np.uint32))
    assert (a.columns, a.fingerprint) == (fs.columns, fs.fingerprint)


def test_pair_keys_refuse_ids_that_would_collide() -> None:
    assert pair_key(np.array([3, -1]), np.array([5, 5])).tolist() == [(3 << 24) | 5, -1]
    with pytest.raises(ValueError, match="too large"):
        pair_key(np.array([1]), np.array([1 << 24]))


def test_fan_status_with_sparse_user_ids_matches_a_loop() -> None:
    rng = np.random.default_rng(0)
    for top in (500, 10**11):  # dense ids use a per-user table, sparse ones a plain binary search
        u, a = rng.integers(0, top, 800), rng.integers(0, 40, 800)
        since = rng.integers(0, 100, 800)
        until = since + rng.integers(1, 50, 800)
        state = FollowState(u, a, since, until)
        q, t = rng.integers(0, 800, 4000), rng.integers(0, 160, 4000)
        want = [((u == x) & (a == y) & (since <= z) & (z < until)).any() for x, y, z in zip(u[q], a[q], t, strict=True)]
        np.testing.assert_array_equal(state.is_fan(u[q], a[q], t), want)


def test_follower_table_bounded_by_its_reads_answers_them_as_the_whole_one(world: Path) -> None:
    data = DataSource.from_dir(world)
    state, ev = data.catalog().follows, data.events()
    first, last = int(ev.time.min() // H) + 24, int(ev.time.max() // H) - 24
    whole, bounded = follower_table(state, H), follower_table(state, H, (first, last))
    accounts = np.repeat(np.arange(200), last - first + 1)
    hi = np.tile(np.arange(first, last + 1), 200)  # every account at every request bucket, both ends included
    want = whole.window_sums(accounts, np.full(len(hi), ALL), hi)
    np.testing.assert_array_equal(bounded.window_sums(accounts, np.full(len(hi), ALL), hi), want)
    assert len(np.unique(want)) > 50 and len(bounded) < len(whole) / 2  # fans move; the history before shrank
    # Reads from the beginning start at the first request; a windowed one, a window earlier.
    fs = FeatureSet("t", 1, (Feature("f", "account", "int", None, Lookup("followers"), 0.0, "fans"),))
    assert read_span(fs, 0, np.array([first + 5, first, last]), H) == (first, last)
    week = FeatureSet("w", 1, (Feature("c", "account", "int", 168, Count(("click",), ("post",)), 0.0, "clicks"),))
    assert read_span(week, 0, np.array([first, last]), H) == (first - 168, last)
    assert read_span(fs, 0, np.array([], np.int64), H) is None


def test_counting_only_the_wanted_keys_reads_them_alike_and_sorts_fewer_events(world: Path) -> None:
    data = DataSource.from_dir(world)
    fs, cat, ev = get_feature_set("follow_feed_v1"), data.catalog(), data.events()
    rng = np.random.default_rng(5)
    pick = rng.choice(np.flatnonzero((ev.ttype == 0) & (ev.action == 0)), 100)
    q = row_queries(cat.candidate_rows(ev.user[pick], "post", ev.target[pick], ev.time[pick]), cat, H)
    wanted = {e: np.unique(q.keys[e][q.keys[e] >= 0]) for e in ("user_account", "user_category", "post")}
    every, some = count_events(fs, ev, cat, H), count_events(fs, ev, cat, H, wanted=wanted)
    for counter, (a, b) in enumerate(zip(every, some, strict=True)):
        if a is None:
            continue
        keys = q.keys[fs.counters[counter].entity]
        lo, hi = np.full(len(keys), ALL), q.hi
        np.testing.assert_array_equal(b.window_sums(keys, lo, hi), a.window_sums(keys, lo, hi))
    pairs = [j for j, c in enumerate(fs.counters) if c.entity == "user_account"]
    assert sum(len(some[j]) for j in pairs) < sum(len(every[j]) for j in pairs) / 5  # other pairs left out
    assert sum(len(every[j]) for j in pairs) > 0
