"""`bench_simulate` reports every figure for each scale it runs (no timing assertions)."""

from __future__ import annotations

from experiments.bench import RESULT_KEYS, bench_simulate
from experiments.settings import SimulatorSettings


def test_bench_simulate_reports_every_figure_of_the_small_scale() -> None:
    (result,) = bench_simulate(SimulatorSettings(), ["small"], seed=1)
    assert set(result) == set(RESULT_KEYS)
    assert result["scale"] == "small" and result["events"] > 0
    assert all(result[k] >= 0 for k in RESULT_KEYS if k != "scale")
