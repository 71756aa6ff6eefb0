"""`weitao bench serve` and `weitao bench soak` end to end, smallest settings: the JSON other tools read.

The figures of these runs mean little (a small world, tiny models, half-second load steps); what is checked is
that each command runs its real services to the end and writes the documented keys, with values that hang
together (the floor is faster than the naive service, every target check agrees with its own value, the
soak saw fans-only posts and leaked none, the drift is what its samples say).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SERVE_KEYS = ("p50_ms", "p99_ms", "max_rps_1w", "max_rps_2w", "p99_ms_at_300rps", "rss_mb")


def _bench(args: list[str], out: Path, timeout: float) -> dict:
    done = subprocess.run([sys.executable, "-m", "weitao", "bench", *args, "--json", str(out)],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


def _met(value: float, target: str) -> bool:
    op, bound = target.split()
    return value <= float(bound) if op == "≤" else value >= float(bound)


@pytest.mark.slow
def test_bench_serve_writes_floor_naive_and_ours(tmp_path: Path) -> None:
    figures = _bench(["serve", "--quick", "--seconds", "0.5"], tmp_path / "serve.json", timeout=900)
    for service in ("floor", "naive", "ours"):
        row = figures[service]
        assert all(isinstance(row[k], float) and math.isfinite(row[k]) and row[k] > 0 for k in SERVE_KEYS), row
        assert row["p99_ms"] >= row["p50_ms"]
    ours = figures["ours"]
    assert ours["predict_p50_ms"] > 0 and ours["non_model_p50_ms"] > 0
    assert figures["floor"]["p50_ms"] < figures["naive"]["p50_ms"]  # an empty endpoint beats any model
    assert figures["floor"]["max_rps_2w"] > figures["naive"]["max_rps_2w"]
    checks = {c["name"]: c for c in figures["checks"]}
    assert checks["p50 / naive p50"]["value"] == pytest.approx(ours["p50_ms"] / figures["naive"]["p50_ms"])
    assert checks["RSS MB per worker"]["value"] == ours["rss_mb"]
    assert all(c["met"] == _met(c["value"], c["target"]) for c in checks.values()), checks


@pytest.mark.slow
def test_bench_soak_counts_leaks_and_drift(tmp_path: Path) -> None:
    args = ["soak", "--pages", "2000", "--requests", "400", "--sample-every", "100", "--rps", "100",
            "--scale", "small", "--trees", "5", "--leaves", "4"]
    figures = _bench(args, tmp_path / "soak.json", timeout=600)
    pages, memory = figures["pages"], figures["memory"]
    assert pages["pages"] == 2000 and sum(pages["served_by"].values()) == 2000
    assert pages["fans_only_leaks"] == 0 and pages["fans_only_served_to_fans"] > 0 and pages["churn_events"] > 0
    samples = memory["samples"]
    assert [s["requests"] for s in samples] == [100, 200, 300, 400]
    rss = [s["rss_mb"] for s in samples]
    workers = len(rss[0])
    assert workers >= 1 and memory["rss_first_mb"] == rss[0] and memory["rss_last_mb"] == rss[-1]
    largest = max(abs(r[w] - rss[0][w]) / rss[0][w] * 100 for r in rss for w in range(workers))
    assert memory["max_abs_drift_pct"] == pytest.approx(largest) and memory["errors"] == 0
