"""`weitao bench memory`: the synthetic world it writes is a valid contract dataset of the asked size, and a
missing bench world is named."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from features.storage import read_table
from weitao.bench.memory import write_world
from weitao.commands.bench import app

runner = CliRunner()


def test_the_world_has_the_asked_items_users_and_events(tmp_path: Path) -> None:
    sizes = write_world(tmp_path / "data", items=3001, users=1200, events=7000, seed=0)
    posts, products = read_table(tmp_path / "data", "posts"), read_table(tmp_path / "data", "products")
    assert posts.num_rows + products.num_rows == 3001 and posts.num_rows == 1500
    assert read_table(tmp_path / "data", "users").num_rows == 1200
    assert read_table(tmp_path / "data", "events").num_rows == 7000 == sizes["events"]


def test_a_workdir_without_a_bench_world_is_named(tmp_path: Path) -> None:
    result = runner.invoke(app, ["memory", "--workdir", str(tmp_path)])
    assert result.exit_code == 2 and "--workdir" in result.output
