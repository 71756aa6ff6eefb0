"""The Dask engine: the same functions over partitions of users give bitwise the same frames as in-process."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from distributed import Client, LocalCluster, Worker

from experiments.settings import SimulatorSettings
from experiments.simulate import simulate
from features.contract import ENUMS
from features.definitions import FeatureError
from features.featuresets import get_feature_set
from features.offline import DataSource, build_frame, row_queries
from features.offline_dask import _task, compact, dask_client, user_partition
from features.settings import FeatureSettings


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> DataSource:
    out = tmp_path_factory.mktemp("world") / "small"
    simulate(SimulatorSettings(), "small", 8, out)
    return DataSource.from_dir(out)


def rows_for(data: DataSource, target_type: int, n: int, seed: int) -> pa.Table:
    ev, rng = data.events(), np.random.default_rng(seed)
    pick = rng.choice(np.flatnonzero((ev.ttype == target_type) & (ev.action == 0)), n)
    times = np.where(rng.random(n) < 0.5, ev.time[pick], rng.integers(ev.time.min(), ev.time.max(), n))
    return data.catalog().candidate_rows(ev.user[pick], ENUMS["target_type"][target_type], ev.target[pick], times,
                                         {"embedding_similarity": rng.random(n)})


@pytest.mark.parametrize(("name", "target_type"), [("follow_feed_v1", 0), ("new_arrival_v1", 1)])
@pytest.mark.parametrize("partitions", [0, 3])
def test_dask_frames_are_bitwise_identical_to_in_process(client: Client, data: DataSource, name: str,
                                                         target_type: int, partitions: int) -> None:
    fs, rows = get_feature_set(name), rows_for(data, target_type, 3000, partitions)
    local = build_frame(fs, rows, data, engine="inprocess")
    settings = FeatureSettings(engine="dask", dask_partitions=partitions)
    dask = build_frame(fs, rows, data, settings=settings, client=client)
    assert np.array_equal(local.values.view(np.uint32), dask.values.view(np.uint32))
    assert (local.values != 0).mean() > 0.3 and np.isfinite(local.values).all()


def test_the_engine_and_the_scheduler_are_settings(client: Client, data: DataSource) -> None:
    fs, rows = get_feature_set("follow_feed_v1"), rows_for(data, 0, 500, 1)
    settings = FeatureSettings(engine="dask", dask_scheduler=client.scheduler.address)
    remote = build_frame(fs, rows, data, settings=settings)  # connects by address, no client passed
    assert np.array_equal(remote.values, build_frame(fs, rows, data).values)
    with pytest.raises(FeatureError, match="unknown offline engine"):
        build_frame(fs, rows, data, engine="spark")


def test_the_engine_starts_its_own_cluster_with_workers_that_keep_freed_memory_and_no_profiler(
        client: Client, data: DataSource) -> None:
    def returned_mb() -> float:
        """MB of resident memory a worker hands back when it frees a 256 MB array it has written."""
        import numpy as np
        import psutil

        block = np.ones(2**25)  # 256 MB, every page touched
        held = psutil.Process().memory_info().rss
        del block
        return (held - psutil.Process().memory_info().rss) / 2**20

    def profiling(dask_worker: Worker) -> bool:
        return "profile" in dask_worker.periodic_callbacks

    settings = FeatureSettings(engine="dask", dask_scheduler="local", dask_workers=1)
    before = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    with dask_client(settings) as own:
        kept, profiled = own.run(returned_mb), own.run(profiling)
    assert list(kept.values()) and all(mb < 32 for mb in kept.values()), kept  # kept in the heap for reuse
    control = client.run(returned_mb)  # workers as Dask starts them: the array was its own mmap, given back
    assert all(mb > 200 for mb in control.values()), control
    # Dask's profiler samples the task thread of the workers Dask starts, not of the engine's own.
    assert list(profiled.values()) == [False] and all(client.run(profiling).values())
    assert {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")} == before  # nothing set in this process
    fs, rows = get_feature_set("follow_feed_v1"), rows_for(data, 0, 400, 5)
    assert np.array_equal(build_frame(fs, rows, data, settings=settings).values.view(np.uint32),
                          build_frame(fs, rows, data).values.view(np.uint32))


def test_users_spread_evenly_over_partitions() -> None:
    counts = np.bincount(user_partition(np.arange(100_000), 4), minlength=4)
    assert counts.min() > 0.95 * 25_000
    # The same partition whatever the integer type the ids come in (rows and events are hashed apart).
    ids = np.array([0, 1, 7, 12_345, 2**31 - 1, 2**40 + 3, 2**62 + 11])
    want = [((int(u) * 0x9E3779B97F4A7C15) % 2**64 >> 40) * 3 >> 24 for u in ids]
    assert user_partition(ids, 3).tolist() == want and user_partition(ids.tolist(), 3).tolist() == want
    assert user_partition(ids[:5].astype(np.int32), 3).tolist() == want[:5]


def test_a_worker_without_the_scratch_files_says_so(tmp_path: Path, data: DataSource) -> None:
    fs, rows = get_feature_set("follow_feed_v1"), rows_for(data, 0, 10, 2)
    catalog = data.catalog()
    missing = (tmp_path / "gone" / "events.arrow", tmp_path / "gone" / "follows.arrow")
    with pytest.raises(FeatureError, match="needs workers on the client's machine"):
        _task(fs, missing, 2, 0, catalog, 3_600_000, row_queries(rows, catalog, 3_600_000))


def test_workers_elsewhere_get_their_partitions_sent(client: Client, data: DataSource,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import features.offline_dask as offline_dask

    assert offline_dask.workers_see(client, Path("/")) and not offline_dask.workers_see(client, Path("/nowhere/x"))
    original, sent = offline_dask._scattered, []

    def scattered(*args: object) -> list:
        sent.append(len(args))
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(offline_dask, "workers_see", lambda c, folder: False)  # as if on other machines
    monkeypatch.setattr(offline_dask, "_scattered", scattered)
    fs, rows = get_feature_set("follow_feed_v1"), rows_for(data, 0, 800, 4)
    dask = build_frame(fs, rows, data, settings=FeatureSettings(engine="dask", dask_partitions=3), client=client)
    assert sent and np.array_equal(dask.values.view(np.uint32),
                                   build_frame(fs, rows, data, engine="inprocess").values.view(np.uint32))


def test_a_planted_future_event_or_follow_is_never_seen_on_dask(client: Client) -> None:
    from features.definitions import Count, Feature, FeatureSet, Lookup
    from tests.features.test_offline import T0, H, tiny_world

    t = T0 + 10 * H + 30 * 60_000  # 10:30; only buckets complete before it count
    users = range(12)  # enough users that every partition holds some
    when = (T0 + 8 * H, T0 + 9 * H, t, t + 1, T0 + 11 * H)  # two before t, three planted at or after it
    events = [(1 + 10 * u + i, u, "post", 0, "impression", w) for u in users for i, w in enumerate(when)]
    follows = [(u, 0, T0 + 9 * H if u % 2 else t + 1, None) for u in users]  # odd users follow before t
    fs = FeatureSet("t", 1, (
        Feature("post_all", "post", "int", None, Count(("impression",), ("post",)), 0.0, "everyone's"),
        Feature("post_fans", "post", "int", None, Count(("impression",), ("post",), "fan"), 0.0, "fans'"),
        Feature("ua_all", "user_account", "int", None, Count(("impression",), ("post",)), 0.0, "the user's"),
        Feature("fans", "account", "int", None, Lookup("followers"), 0.0, "followers"),
    ))
    data = tiny_world(events, follows)
    rows = pa.concat_tables([data.catalog().candidate_rows([u], "post", [0], t) for u in users])
    dask = build_frame(fs, rows, data, settings=FeatureSettings(engine="dask"), client=client).values
    assert len(set(user_partition(np.array(list(users)), 2).tolist())) == 2
    # 24 impressions before 10:00, those of odd users at 09:00 by fans; 6 fans, all odd users (09:00 follows)
    np.testing.assert_array_equal(dask, np.tile([24, 6, 2, 6], (len(users), 1)))
    np.testing.assert_array_equal(dask, build_frame(fs, rows, data, engine="inprocess").values)


def test_partition_answers_travel_as_int32_when_they_fit() -> None:
    counts = np.array([[0, 5], [2**31 - 1, 7]], dtype=np.int64)
    small = compact(counts)
    assert small.dtype == np.int32 and np.array_equal(small, counts)
    for too_large in (2**31, -(2**31) - 1):  # one value out of int32's range keeps the whole answer int64
        wide = counts.copy()
        wide[0, 0] = too_large
        assert compact(wide).dtype == np.int64 and np.array_equal(compact(wide), wide)
    assert compact(np.zeros((0, 3), np.int64)).shape == (0, 3)


def test_the_scratch_files_are_removed_after_the_build(client: Client, data: DataSource,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import features.offline_dask as offline_dask

    made: list[Path] = []
    original = offline_dask.scratch_directory

    def recorded(nbytes: int):  # type: ignore[no-untyped-def]
        scratch = original(nbytes)
        made.append(Path(scratch.name))
        return scratch

    monkeypatch.setattr(offline_dask, "scratch_directory", recorded)
    fs, rows = get_feature_set("follow_feed_v1"), rows_for(data, 0, 300, 2)
    build_frame(fs, rows, data, settings=FeatureSettings(engine="dask"), client=client)
    assert len(made) == 1
    for thread in [t for t in threading.enumerate() if t.name == "weitao-dask-scratch-cleanup"]:
        thread.join(timeout=30)
    assert not made[0].exists()


def test_back_to_back_builds_of_the_same_rows_scatter_under_keys_of_their_own(
        client: Client, data: DataSource, monkeypatch: pytest.MonkeyPatch) -> None:
    """Identical inputs hashed to one key: a build that scattered them while the scheduler was releasing the
    previous build's copy lost them ("lost dependencies", seen in CI). Each build's keys must be its own."""
    keys: list[set[str]] = []
    scatter = client.scatter

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        futures = scatter(*args, **kwargs)
        keys[-1].update(f.key for f in futures)
        return futures

    monkeypatch.setattr(client, "scatter", recording)
    fs, rows = get_feature_set("follow_feed_v1"), rows_for(data, 0, 200, 3)
    settings = FeatureSettings(engine="dask")
    want = build_frame(fs, rows, data).values
    for _ in range(3):
        keys.append(set())
        got = build_frame(fs, rows, data, settings=settings, client=client).values
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    assert all(len(k) == 3 for k in keys)
    assert not (keys[0] & keys[1]) and not (keys[1] & keys[2])
