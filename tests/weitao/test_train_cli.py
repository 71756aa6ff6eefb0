"""`weitao train` and `weitao promote` against a local MLflow store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from weitao.cli import app


@pytest.mark.slow
def test_train_registers_and_promote_moves_champion(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "data"
    assert runner.invoke(app, ["simulate", "--scale", "small", "--seed", "4", "--out", str(data)]).exit_code == 0
    cfg = tmp_path / "w.toml"
    cfg.write_text(f'[tracking]\ntracking_uri = "sqlite:///{tmp_path}/mlflow.db"\n'
                   f'artifact_root = "{tmp_path}/artifacts"\n[rankers]\nn_estimators = 20\n')
    trained = runner.invoke(app, ["--config", str(cfg), "train", "follow-feed", "--data", str(data)])
    assert trained.exit_code == 0, trained.output
    assert "registered version 1 as challenger" in trained.output
    assert "mlflow.pyfunc.load_model(\"runs:/" in trained.output  # where a data scientist loads it from
    promoted = runner.invoke(app, ["--config", str(cfg), "promote", "follow-feed"])
    assert promoted.exit_code == 0, promoted.output
    assert "first promotion" in promoted.output
    again = runner.invoke(app, ["--config", str(cfg), "train", "follow-feed", "--data", str(data)])
    assert "registered version 2" in again.output
    same = runner.invoke(app, ["--config", str(cfg), "promote", "follow-feed"])
    assert "not promoted" in same.output  # an identical model does not beat the champion


def test_unknown_slot_is_refused() -> None:
    result = CliRunner().invoke(app, ["train", "hotlist"])
    assert result.exit_code == 2 and "follow-feed" in result.output
