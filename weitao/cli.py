"""The `weitao` command line: one typer app, sub-commands in ``weitao.commands``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from weitao.commands import config as config_cmd
from weitao.commands import data as data_cmd
from weitao.commands import quickstart as quickstart_cmd
from weitao.commands import simulate as simulate_cmd
from weitao.commands.common import State

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Weitao distribution engine.")
app.add_typer(config_cmd.app, name="config")
app.add_typer(data_cmd.app, name="data")
simulate_cmd.register(app)
quickstart_cmd.register(app)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")] = None,
) -> None:
    ctx.obj = State(config=config)


def main() -> None:
    """Console-script entry point."""
    app()
