"""`weitao tiers assess` on a small simulated world, through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from experiments.settings import SimulatorSettings
from experiments.simulate import simulate
from features.storage import read_table
from weitao.commands import tiers as tiers_cmd
from weitao.commands.common import State

runner = CliRunner()


def _app() -> typer.Typer:
    """The root app as weitao.cli registers the sub-app (`weitao tiers ...`)."""
    root = typer.Typer()
    root.add_typer(tiers_cmd.app, name="tiers")

    @root.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = State()

    return root


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiers") / "small"
    simulate(SimulatorSettings(), "small", 3, out)  # starts 2026-10-01: November's window sees it all
    return out


def test_assess_writes_table_json_and_summary(world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    accounts = read_table(world, "accounts")
    kind, tier = accounts.column("kind").cast("string"), accounts.column("tier").cast("string")
    h1 = set(accounts.filter(pc.equal(tier, "H1")).column("account_id").to_pylist())
    shops = accounts.filter(pc.and_(pc.equal(kind, "shop"), pc.equal(tier, "W2"))).column("account_id").to_pylist()
    assert h1 and shops, "the small world should hold H1 accounts and W2 shops"
    flags = tmp_path / "flags.csv"
    flags.write_text(f"account_id,reason\n{shops[0]},lockstep engagement\n")
    app = _app()
    october = runner.invoke(app, ["tiers", "assess", "--month", "2026-10", "--data", str(world)])
    assert october.exit_code == 0, october.output
    monkeypatch.setenv("WEITAO_TIERS__H1_PENALTY_MONTHS", "1")
    summary = tmp_path / "summary.json"
    result = runner.invoke(app, ["tiers", "assess", "--month", "2026-11", "--data", str(world), "--json", str(summary),
                                 "--flags", str(flags)])
    assert result.exit_code == 0, result.output
    for word in ("tier", "promoted", "kept", "demoted", "to_h1", "official", "W1", "H1", "assessments written"):
        assert word in result.output
    table = pq.read_table(world / "assessments" / "month=2026-11" / "part-0.parquet")
    assert table.num_rows == accounts.num_rows
    for column in ("tier_before", "state_after", "fan_revisit_rate", "interlock_rate", "reward_multiplier",
                   "offsite_visits_offsite_search", "reason"):
        assert column in table.column_names
    rows = {r["account_id"]: r for r in table.to_pylist()}
    assert (rows[shops[0]]["tier_after"], rows[shops[0]]["transition"]) == ("H1", "to_h1")
    # October's assessment kept them in H1 for one month: with a one-month period they are released now.
    assert all(rows[a]["transition"] == "released" for a in h1)
    assert all(r["reason"] for r in rows.values())
    report = orjson.loads(summary.read_bytes())
    assert sum(report["transitions"]["all"].values()) == table.num_rows
    assert report["transitions"]["all"]["released"] == len(h1) and report["transitions"]["W2"]["to_h1"] == 1
    assert report["window_start"] == "2026-10-02T00:00:00Z" and report["assessed_at"] == "2026-11-01T00:00:00Z"
    assert read_table(world, "accounts").equals(accounts)  # inputs are read only

    again = runner.invoke(app, ["tiers", "assess", "--month", "2026-11", "--data", str(world)])
    assert again.exit_code == 2 and "overwrite" in again.output


def test_bad_arguments_are_named(world: Path, tmp_path: Path) -> None:
    app = _app()
    bad = runner.invoke(app, ["tiers", "assess", "--month", "2026-13", "--data", str(world)])
    assert bad.exit_code == 2 and "--month" in bad.output
    empty = runner.invoke(app, ["tiers", "assess", "--month", "2026-11", "--data", str(tmp_path)])
    assert empty.exit_code == 2 and "--data" in empty.output
    flags = tmp_path / "flags.csv"
    flags.write_text("id\n1\n")
    wrong = runner.invoke(app, ["tiers", "assess", "--month", "2026-11", "--data", str(world), "--flags", str(flags)])
    assert wrong.exit_code == 2 and "account_id,reason" in "".join(wrong.output.split())  # rich wraps lines
