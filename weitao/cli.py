"""The `weitao` command line: one typer app, sub-commands in ``weitao.commands``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from weitao.commands import bench as bench_cmd
from weitao.commands import benchmark as benchmark_cmd
from weitao.commands import config as config_cmd
from weitao.commands import data as data_cmd
from weitao.commands import evaluate as evaluate_cmd
from weitao.commands import experiment as experiment_cmd
from weitao.commands import interleave as interleave_cmd
from weitao.commands import ope as ope_cmd
from weitao.commands import quickstart as quickstart_cmd
from weitao.commands import simulate as simulate_cmd
from weitao.commands import tiers as tiers_cmd
from weitao.commands.common import State
from weitao.commands.compare import compare_cmd
from weitao.commands.explain import explain_cmd
from weitao.commands.ingest import ingest_cmd
from weitao.commands.insights import insights_cmd
from weitao.commands.promote import promote_cmd, rollback_cmd
from weitao.commands.replay import replay_cmd
from weitao.commands.serve import serve_cmd
from weitao.commands.train import train_cmd

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Weitao distribution engine.")
app.add_typer(config_cmd.app, name="config")
app.add_typer(data_cmd.app, name="data")
app.add_typer(evaluate_cmd.app, name="evaluate")
app.add_typer(experiment_cmd.app, name="experiment")
app.add_typer(interleave_cmd.app, name="interleave")
app.add_typer(ope_cmd.app, name="ope")
app.add_typer(bench_cmd.app, name="bench")
app.add_typer(benchmark_cmd.app, name="benchmark")
app.add_typer(tiers_cmd.app, name="tiers")
simulate_cmd.register(app)
quickstart_cmd.register(app)
app.command("ingest")(ingest_cmd)
app.command("train")(train_cmd)
app.command("promote")(promote_cmd)
app.command("rollback")(rollback_cmd)
app.command("serve")(serve_cmd)
app.command("explain")(explain_cmd)
app.command("replay")(replay_cmd)
app.command("compare")(compare_cmd)
app.command("insights")(insights_cmd)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")] = None,
) -> None:
    ctx.obj = State(config=config)


def main() -> None:
    """Console-script entry point."""
    app()
