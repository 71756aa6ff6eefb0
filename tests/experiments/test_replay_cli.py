"""`weitao replay` end to end on the small simulated world, with the closed-loop check against the simulator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from experiments.world.engine import World
from features.load import load_tables
from weitao.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def small_data(small_world: tuple[World, dict[str, pa.Table]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    world, tables = small_world
    out = tmp_path_factory.mktemp("replay") / "data"
    load_tables(tables, out, now_ms=world.pop.end_ms)
    return out


def run(args: list[str]) -> str:
    result = runner.invoke(app, ["replay", "--reward-model", "logistic", "--bootstrap", "20", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_replay_writes_the_report_with_the_closed_loop_error(small_data: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate.toml"
    gate.write_text("[gate]\npublic_lift_to_promote = 1.0\nmin_probe_impressions = 50\n")
    # The conftest world is `weitao simulate --scale small --seed 5`: the check rebuilds that world.
    run(["--data", str(small_data), "--policy", "popularity", "--gate-config", str(gate), "--out", str(tmp_path),
         "--extra-candidates", "5", "--check-seed", "5", "--check-scale", "small"])
    got = orjson.loads((tmp_path / "replay.json").read_bytes())
    assert set(got["slots"]) == {"follow_feed", "new_arrival", "hotlist", "all"}
    for side in ("logged", "new"):
        assert sum(v[side] for v in got["exposure"]["account_kind"].values()) == pytest.approx(1.0)
        assert sum(v[side] for v in got["exposure"]["tier"].values()) == pytest.approx(1.0)
    assert got["gate_changes"]["public_lift_to_promote"] == {"logged": 1.4, "new": 1.0}
    amp = got["amplification"]
    changed = amp["would_be_amplified"] + amp["would_not_be_amplified"]
    assert len(changed) == sum(r["logged"] != r["new"] for r in changed) and all(r["reason"] for r in changed)
    for slot, check in got["closed_loop_check"].items():
        assert check["truth"] > 0 and check["truth_pages"] > 0, slot
        assert check["error"] == pytest.approx(check["estimate"] - check["truth"])
    md = (tmp_path / "replay.md").read_text()
    assert "## Amplification" in md and "## Closed-loop check" in md


def test_the_logged_policy_reproduces_the_logged_clicks(small_data: Path, tmp_path: Path) -> None:
    run(["--data", str(small_data), "--policy", "logged", "--out", str(tmp_path), "--day", "2026-10-05"])
    got = orjson.loads((tmp_path / "replay.json").read_bytes())
    assert got["day"] == "2026-10-05"
    for slot, m in got["slots"].items():
        assert m["new"]["exact_page_share"] == 1.0, slot
        assert m["new"]["clicks_per_page"]["value"] == pytest.approx(m["logged"]["clicks_per_page"]), slot
        assert m["new"]["ndcg"] == m["logged"]["ndcg"]
    assert all(np.isclose(v["difference"], 0) for v in got["exposure"]["tier"].values())


def test_bad_gate_settings_name_the_key(small_data: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate.toml"
    gate.write_text("public_lift_to_promot = 1.0\n")
    result = runner.invoke(app, ["replay", "--data", str(small_data), "--gate-config", str(gate)])
    assert result.exit_code == 2
    assert "public_lift_to_promot" in result.output
