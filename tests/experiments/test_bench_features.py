"""`bench_features` reports every figure of a tiny world, and the Dask runs' work is done by the workers."""

from __future__ import annotations

import pytest

from experiments.bench_features import bench_features

DASK_KEYS = {"workers", "wall_s", "events_per_s", "client_cpu_s", "workers_cpu_s", "load_average_at_start",
             "load_average_at_end", "wall_s_all"}


def test_bench_features_reports_offline_dask_and_online_figures() -> None:
    result = bench_features(events=20_000, rows=500, workers=(1, 2), online_events=5_000,
                            dask_repeats=2, dask_rounds=2)
    assert result["meta"]["events"] == 20_000 and result["meta"]["columns"] > 0
    off = result["offline"]
    assert off["wall_s"] > 0 and off["events_per_s"] == pytest.approx(20_000 / off["wall_s"])
    assert len(off["wall_s_all"]) == 2 and off["wall_s"] == min(off["wall_s_all"])  # the best build counts
    assert off["first_wall_s"] == off["wall_s_all"][0]  # and the first, in a fresh process, beside it
    dask = result["dask"]
    assert set(dask) == {"1", "2", "speedup"}
    for w in (1, 2):
        run = dask[str(w)]
        assert set(run) == DASK_KEYS and run["workers"] == w
        # Two turns of two builds each, and the best of all of them counts.
        assert len(run["wall_s_all"]) == 4 and run["wall_s"] == min(run["wall_s_all"])
        assert run["wall_s"] > 0 and run["events_per_s"] == pytest.approx(20_000 / run["wall_s"])
        assert run["workers_cpu_s"] > 0  # the counting ran in the worker processes
    assert dask["speedup"] == pytest.approx(dask["1"]["wall_s"] / dask["2"]["wall_s"])
    assert result["online"]["events"] == 5_000 and result["online"]["batches"] > 0


def test_the_dask_clusters_take_turns_and_the_best_build_of_all_turns_counts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from experiments import bench_features as bf

    turns: list[int] = []
    walls = iter([9.0, 8.0, 5.0, 6.0, 7.5, 9.9, 4.5, 4.0])  # 1w, 1w, 2w, 2w, then the second round

    def turn(fs: object, rows: object, data: object, settings: object, workers: int, repeats: int) -> list:
        turns.append(workers)
        return [{"wall": next(walls), "cpu": 0.1, "workers_cpu": 1.0, "load_average_at_start": 0.0,
                 "load_average_at_end": 0.0} for _ in range(repeats)]

    monkeypatch.setattr(bf, "_turn", turn)
    data = bf.DataSource({"events": bf.pa.table({"x": [1, 2, 3, 4]})})
    out = bf._dask_builds("follow_feed_v1", bf.pa.table({}), data, bf.FeatureSettings(), (1, 2), 2, 2)
    assert turns == [1, 2, 1, 2]
    assert out["1"]["wall_s_all"] == [9.0, 8.0, 7.5, 9.9] and out["1"]["wall_s"] == 7.5
    assert out["2"]["wall_s_all"] == [5.0, 6.0, 4.5, 4.0] and out["2"]["wall_s"] == 4.0
    assert out["2"]["events_per_s"] == pytest.approx(4 / 4.0)
