"""`bench_features` reports every figure of a tiny world, and the Dask runs' work is done by the workers."""

from __future__ import annotations

import pytest

from experiments.bench_features import bench_features

DASK_KEYS = {"workers", "wall_s", "events_per_s", "client_cpu_s", "workers_cpu_s", "load_average_at_start",
             "load_average_at_end", "wall_s_all"}


def test_bench_features_reports_offline_dask_and_online_figures() -> None:
    result = bench_features(events=20_000, rows=500, workers=(1, 2), online_events=5_000,
                            dask_repeats=2)
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
        assert len(run["wall_s_all"]) == 2 and run["wall_s"] == min(run["wall_s_all"])  # the best build counts
        assert run["wall_s"] > 0 and run["events_per_s"] == pytest.approx(20_000 / run["wall_s"])
        assert run["workers_cpu_s"] > 0  # the counting ran in the worker processes
    assert dask["speedup"] == pytest.approx(dask["1"]["wall_s"] / dask["2"]["wall_s"])
    assert result["online"]["events"] == 5_000 and result["online"]["batches"] > 0
