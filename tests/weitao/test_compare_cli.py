"""`weitao evaluate amplification --report` into a temporary MLflow, then `weitao compare` of the runs."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
from mlflow import MlflowClient
from typer.testing import CliRunner

from weitao.cli import app


def _evaluate(runner: CliRunner, cfg: Path, seed: int, folder: Path) -> str:
    result = runner.invoke(app, ["--config", str(cfg), "evaluate", "amplification", "--scale", "small",
                                 "--seeds", str(seed), "--report", str(folder), "--resamples", "200"])
    assert result.exit_code == 0, result.output
    found = re.search(r"MLflow run ([0-9a-f]{32})", result.output)
    assert found, result.output
    return found.group(1)


def test_evaluate_logs_a_report_and_compare_reads_it_back(tmp_path: Path) -> None:
    runner = CliRunner()
    cfg = tmp_path / "w.toml"
    cfg.write_text(f'[tracking]\ntracking_uri = "sqlite:///{tmp_path}/mlflow.db"\n'
                   f'artifact_root = "{tmp_path}/artifacts"\n')
    run_a = _evaluate(runner, cfg, 1, tmp_path / "a")
    report = orjson.loads((tmp_path / "a" / "report.json").read_bytes())
    assert set(report["slots"]) == {"follow_feed", "new_arrival", "hotlist"}
    assert report["funnel"]["stages"][0] == "published" and "ours" in report["lorenz"]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    logged = {f.path for f in client.list_artifacts(run_a, "report")}
    assert {"report/report.md", "report/report.json", "report/units.npz", "report/lorenz.png"} <= logged
    assert client.get_run(run_a).data.metrics["follow_feed.oracle.ndcg_at_10"] == 1.0

    # The run (downloaded from MLflow) against its own folder: the same users, so every difference is
    # paired and exactly zero.
    out = tmp_path / "cmp"
    compared = runner.invoke(app, ["--config", str(cfg), "compare", run_a, str(tmp_path / "a"), "--out", str(out),
                                   "--resamples", "200"])
    assert compared.exit_code == 0, compared.output
    text = (out / "compare.md").read_text()
    assert "B − A" in text and "paired" in text and "independent" not in text
    assert "| follow_feed | ours | ndcg_at_10 |" in text and "[0.000, 0.000]" in text
    assert (out / "differences_ndcg.png").is_file() and (out / "lorenz_a_vs_b.png").is_file()


def test_compare_names_a_reference_that_is_neither_run_nor_folder(tmp_path: Path) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text(f'[tracking]\ntracking_uri = "sqlite:///{tmp_path}/mlflow.db"\n')
    result = CliRunner().invoke(app, ["--config", str(cfg), "compare", "no-such-run", str(tmp_path)])
    assert result.exit_code == 2
    assert "no-such-run" in result.output
