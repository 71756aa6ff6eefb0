"""`weitao ingest` writes counters and a quarantine, and names what it did."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from weitao.cli import app


def test_ingest_counts_a_simulated_batch(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "data"
    assert runner.invoke(app, ["simulate", "--scale", "small", "--seed", "6", "--out", str(data)]).exit_code == 0
    result = runner.invoke(app, ["ingest", str(data / "events"), "--data", str(data), "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    counters = pq.read_table(tmp_path / "c" / "post_counters.parquet")
    assert counters.num_rows > 0 and set(counters.column("audience").to_pylist()) >= {"fan", "nonfan"}
    events = pq.ParquetDataset(data / "events").read()
    post_imps = sum(1 for a, t in zip(events.column("action").to_pylist(), events.column("target_type").to_pylist(),
                                      strict=True) if a == "impression" and t == "post")
    imps = [c for c, a in zip(counters.column("count").to_pylist(), counters.column("action").to_pylist(),
                              strict=True) if a == "impression"]
    assert sum(imps) == post_imps


def test_ingest_names_a_missing_data_dir(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "e.csv"), "--data", str(tmp_path / "none")])
    assert result.exit_code == 2 and "not found" in result.output
