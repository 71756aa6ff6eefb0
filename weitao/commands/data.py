"""`weitao data load|fetch`: bring real public data sets in through the contract."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Load and fetch data sets through the data contract.")
