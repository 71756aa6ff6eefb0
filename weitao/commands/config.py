"""`weitao config show`: the effective settings with their descriptions."""

from __future__ import annotations

import orjson
import typer

from weitao.commands.common import settings_of, summary_table
from weitao.settings import describe

app = typer.Typer(no_args_is_help=True, help="Inspect the settings tree.")


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the effective settings as JSON."),
) -> None:
    """Print every setting, its effective value and what it means."""
    settings = settings_of(ctx)
    if as_json:
        typer.echo(orjson.dumps(settings.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode())
        return
    rows = [(k, orjson.dumps(v).decode(), d) for k, v, d in describe(settings)]
    summary_table(f"effective settings (hash {settings.config_hash()})", ["key", "value", "description"], rows)
