"""Idempotent ingest: replays change nothing, reused ids are quarantined, order does not matter."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from experiments.settings import SimulatorSettings
from experiments.simulate import build_world, run_history
from experiments.world.tables import contract_tables
from features.catalog import Catalog
from features.ingest import Ingestor

NOW = 2_000_000_000_000


@pytest.fixture(scope="module")
def world() -> dict[str, pa.Table]:
    w = build_world(SimulatorSettings(), "small", np.random.default_rng(21))
    run_history(w, SimulatorSettings(), hours=48)
    return contract_tables(w)


def _ingestor(t: dict[str, pa.Table]) -> Ingestor:
    ids = {name: t[name].column(0).to_numpy() for name in ("users", "posts", "products", "accounts")}
    return Ingestor(Catalog(t["accounts"], t["posts"], t["products"], t["follows"]), ids)


def _totals(ing: Ingestor, posts: np.ndarray) -> list[np.ndarray]:
    return [ing.counters.total(posts, aud, act) for aud in ("fan", "nonfan")
            for act in ("impression", "click", "like")]


def test_replay_changes_nothing_and_counts_add_up(world: dict[str, pa.Table]) -> None:
    ev = world["events"]
    ing = _ingestor(world)
    first = ing.ingest(ev, now_ms=NOW)
    assert first.accepted == ev.num_rows and first.quarantined == 0
    before = ing.counters.table()
    again = ing.ingest(ev, now_ms=NOW)
    assert (again.accepted, again.duplicates, again.quarantined) == (0, ev.num_rows, 0)
    assert ing.counters.table().equals(before)
    posts = np.arange(world["posts"].num_rows)
    imp = ing.counters.total(posts, "fan", "impression") + ing.counters.total(posts, "nonfan", "impression")
    is_post_imp = (np.asarray(ev.column("action").to_pylist()) == "impression") & \
        (np.asarray(ev.column("target_type").to_pylist()) == "post")
    assert imp.sum() == is_post_imp.sum()


def test_reused_id_is_quarantined_with_a_reason(world: dict[str, pa.Table]) -> None:
    ev = world["events"].slice(0, 1000)
    ing = _ingestor(world)
    ing.ingest(ev, now_ms=NOW)
    changed = ev.slice(0, 3).set_column(1, "user_id", pa.array(np.full(3, 1), pa.int64()))
    rep = ing.ingest(changed, now_ms=NOW)
    assert rep.rows_in == rep.accepted + rep.duplicates + rep.quarantined
    assert rep.quarantined >= 1 and all("reused" in r for r in rep.quarantine.column("reason").to_pylist())


def test_out_of_order_batches_give_the_same_counters_and_late_ones_are_marked(world: dict[str, pa.Table]) -> None:
    ev = world["events"]
    posts = np.arange(world["posts"].num_rows)
    ordered = _ingestor(world)
    ordered.ingest(ev, now_ms=NOW)
    shuffled = _ingestor(world)
    order = np.random.default_rng(0).permutation(ev.num_rows)
    halves = np.array_split(order, 2)
    late_half = ev.take(pa.array(np.sort(halves[0])))
    times = late_half.column("event_time").cast(pa.int64()).to_numpy()
    rest = ev.take(pa.array(np.sort(halves[1])))
    shuffled.ingest(rest, now_ms=NOW)
    rep = shuffled.ingest(late_half, now_ms=NOW)
    assert rep.late > 0 and rep.late <= len(times)
    for a, b in zip(_totals(ordered, posts), _totals(shuffled, posts), strict=True):
        assert np.array_equal(a, b)


def test_non_fans_are_counted_in_the_pool_the_post_held(world: dict[str, pa.Table]) -> None:
    ids = {name: world[name].column(0).to_numpy() for name in ("users", "posts", "products", "accounts")}
    t = world
    catalog = Catalog(t["accounts"], t["posts"], t["products"], t["follows"])
    in_pool1 = Ingestor(catalog, ids, level_at=lambda post, time: np.full(len(post), 2))
    private = Ingestor(catalog, ids)
    in_pool1.ingest(t["events"], now_ms=NOW)
    private.ingest(t["events"], now_ms=NOW)
    posts = np.arange(t["posts"].num_rows)
    nonfan = private.counters.total(posts, "nonfan", "impression")
    assert nonfan.sum() > 0
    assert np.array_equal(in_pool1.counters.total(posts, "pool1", "impression"), nonfan)
    assert in_pool1.counters.total(posts, "nonfan", "impression").sum() == 0
    assert np.array_equal(in_pool1.counters.total(posts, "fan", "impression"),
                          private.counters.total(posts, "fan", "impression"))


def test_replays_are_found_among_many_batches_and_old_ids_are_forgotten_past_the_horizon() -> None:
    from features.accepted import AcceptedEvents

    store = AcceptedEvents(horizon_ms=10_000)
    batches = [pa.table({"event_id": np.arange(i * 100, i * 100 + 100, dtype=np.int64)[::-1],
                         "event_time": pa.array(np.full(100, i * 1_000), pa.int64()).cast(pa.timestamp("ms"))})
               for i in range(30)]
    for b in batches:
        store.add(b)
    probe = pa.table({"event_id": pa.array([2_950, 2_001, 5, 10**9, None], pa.int64())})
    found = store.matching(probe)
    assert sorted(found.column("event_id").to_pylist()) == [2_001, 2_950]  # 5 is older than the horizon
    assert len(store) < 30 * 100 and len(store) >= 11 * 100  # merged runs dropped what the horizon forgets
    forever = AcceptedEvents()
    for b in batches:
        forever.add(b)
    assert sorted(forever.matching(probe).column("event_id").to_pylist()) == [5, 2_001, 2_950]  # control
    assert forever.matching(pa.table({"event_id": ["x"]})).num_rows == 3_000  # unparsable ids: compare all


def test_counters_merged_from_many_batches_equal_one_batch_and_stay_few_runs() -> None:
    from features.ingest import PostCounters

    rng = np.random.default_rng(7)
    n = 20_000
    post, audience = rng.integers(0, 300, n), rng.integers(0, 3, n)
    action, t = rng.integers(0, 5, n), rng.integers(0, 10 * 3_600_000, n)
    whole = PostCounters(3_600_000)
    whole.add(post, audience, action, t)
    pieces = PostCounters(3_600_000)
    cuts = np.sort(rng.choice(np.arange(1, n), 400, replace=False))
    for part in np.split(np.arange(n), cuts):
        pieces.add(post[part], audience[part], action[part], t[part])
        assert len(pieces._runs) <= 2 * int(np.log2(n)) + 1  # size-tiered: a handful of runs, never one per batch
    assert np.array_equal(pieces.keys, whole.keys) and np.array_equal(pieces.counts, whole.counts)
    assert pieces.total(np.arange(300), "fan", "impression").sum() == whole.total(np.arange(300), "fan",
                                                                                   "impression").sum()
