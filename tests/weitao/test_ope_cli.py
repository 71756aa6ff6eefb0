"""`weitao ope open-bandit` end to end on the Open Bandit Dataset sample (obp's sdist, cached once)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.fetch import fetch_open_bandit
from features.settings import DataSettings
from weitao.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_open_bandit_men_writes_the_estimates(tmp_path: Path) -> None:
    obd = fetch_open_bandit(DataSettings().download_cache.expanduser())
    out = tmp_path / "ope.json"
    result = runner.invoke(app, ["ope", "open-bandit", "--campaign", "men", "--behavior", "bts", "--policy",
                                 "uniform", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "ipw" in result.output and "truth" in result.output
    got = orjson.loads(out.read_bytes())
    # straight from the CSVs: uniform over the 34 men's items, weighted by the bts log's propensities
    bts = pd.read_csv(obd / "bts" / "men" / "men.csv")
    ipw = (bts["click"] * (1 / 34) / bts["propensity_score"]).mean()
    assert got["ipw"]["value"] == pytest.approx(ipw, rel=1e-12)
    assert got["on_policy_truth"] == pd.read_csv(obd / "random" / "men" / "men.csv")["click"].mean()
    for name in ("ipw", "snipw", "dr"):
        assert set(got[name]) == {"value", "ci_low", "ci_high"}
        assert got[name]["ci_low"] <= got[name]["value"] <= got[name]["ci_high"], name


def test_unknown_policy_is_refused() -> None:
    result = runner.invoke(app, ["ope", "open-bandit", "--policy", "greedy"])
    assert result.exit_code == 2
    assert "--policy" in result.output and "uniform" in result.output
