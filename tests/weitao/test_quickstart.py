"""The main job end to end on a small world: data, report and table."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow.parquet as pq
from mlflow import MlflowClient
from typer.testing import CliRunner

from features.contract import TABLES
from weitao.cli import app


def test_quickstart_writes_data_and_a_report(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["quickstart", "--scale", "small", "--seed", "2", "--out", str(tmp_path),
                                      "--no-serve"])
    assert result.exit_code == 0, result.output
    assert set(TABLES) <= {p.name for p in (tmp_path / "data").iterdir()}
    summary = orjson.loads((tmp_path / "report" / "summary.json").read_bytes())
    feeds = summary["feeds"]
    assert feeds["follow_feed"]["oracle"]["ndcg_at_10"] == 1.0
    assert {"chronological", "popularity", "follower_count", "random"} <= set(feeds["follow_feed"])
    amp = summary["amplification"]
    assert {"hn_gravity", "reddit_hot", "szabo_huberman", "oracle"} <= set(amp)
    assert amp["oracle"]["precision"] == 1.0
    assert "baselines vs oracle" in result.output
    # Both slot rankers were registered and promoted in the local store under --out: serving loads the champions.
    db = tmp_path / "mlruns" / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{db}", registry_uri=f"sqlite:///{db}")
    for slot in ("follow_feed", "new_arrival"):
        champion = client.get_model_version_by_alias(f"weitao-{slot}", "champion")
        assert champion.version == client.get_model_version_by_alias(f"weitao-{slot}", "challenger").version
        assert client.get_run(champion.run_id).data.metrics["ndcg_at_10"] > 0
    md = (tmp_path / "report" / "summary.md").read_text()
    assert "| oracle | 1.000 |" in md
    # The gate's decisions in the evaluation are kept: a seller's question about a post is answered from them.
    log = pq.read_table(tmp_path / "gate-log" / "seed-2.parquet")
    post = int(log.column("post_id")[0].as_py())
    explained = CliRunner().invoke(app, ["explain", str(post), "--log", str(tmp_path / "gate-log")])
    assert explained.exit_code == 0 and f"post {post}" in explained.output.lower(), explained.output


def test_simulate_command_refuses_to_clobber(tmp_path: Path) -> None:
    out = tmp_path / "w"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    result = CliRunner().invoke(app, ["simulate", "--scale", "small", "--out", str(out)])
    assert result.exit_code == 2 and "not empty" in result.output
    assert (out / "keep.txt").exists()
