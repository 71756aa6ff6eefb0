"""The ingest benchmark runs the real intake over a world's events (timings are reported, not asserted)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from experiments.bench_ingest import bench_ingest
from features.storage import write_dataset


def test_bench_ingest_accepts_every_event_of_the_world_once(small_world: tuple[object, dict[str, pa.Table]],
                                                             tmp_path: Path) -> None:
    _, tables = small_world
    data = write_dataset(tmp_path / "data", tables)
    n = tables["events"].num_rows
    small = bench_ingest(data, batch=997, max_events=20_000)
    whole = bench_ingest(data, batch=n)
    assert small["events"] == small["accepted"] == min(n, 20_000)
    assert whole["events"] == whole["accepted"] == n  # one batch or many: every event counted exactly once
    assert whole["events_per_second"] > 0 and whole["cpu_seconds"] > 0
