"""The gate benchmark runs a real pass and reports its figures (timings are not asserted)."""

from __future__ import annotations

from experiments.bench_gate import bench_gate


def test_bench_gate_reports_a_pass() -> None:
    result = bench_gate(n_posts=20_000, repeats=2)
    assert result["posts"] == 20_000 and result["repeats"] == 2
    assert 0 < result["min_seconds"] <= result["p50_seconds"] <= result["max_seconds"]
    assert result["moved_per_pass"] > 0  # a random state always has posts to move
