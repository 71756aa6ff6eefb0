"""`weitao data load|fetch`: bring real public data sets in through the contract."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from features.adapters import ADAPTERS, AdapterError
from features.fetch import FetchError, fetch_movielens_100k, fetch_open_bandit
from features.load import load_tables
from features.storage import StorageError
from features.validate import ContractError
from weitao.commands.common import console, fail, progress, settings_of, summary_table

app = typer.Typer(no_args_is_help=True, help="Load and fetch data sets through the data contract.")

FETCHABLE = ("movielens-100k", "open-bandit")
CAMPAIGNS = ("all", "men", "women")
BEHAVIORS = ("random", "bts")


def _load(ctx: typer.Context, kind: str, path: Path, out: Path, overwrite: bool) -> None:
    """Read ``path`` with adapter ``kind``, validate and publish to ``out``, print the summary."""
    adapter = ADAPTERS.get(kind)
    if adapter is None:
        fail(f"unknown data set kind {kind!r}; known kinds: {', '.join(ADAPTERS)}")
        return
    if not path.exists():
        fail(f"cannot read {path}: no such file or folder")
    settings = settings_of(ctx)
    out = out.expanduser()
    with progress() as p:
        task = p.add_task(f"reading {kind} from {path}", total=None)
        try:
            raw = adapter.read(path)
        except (AdapterError, ContractError, OSError) as e:
            fail(f"cannot load {path} as {kind}: {e}")
        p.update(task, description=f"validating and writing {sum(t.num_rows for t in raw.values()):,} rows")
        try:
            report = load_tables(raw, out, overwrite=overwrite,
                                 tolerance_ms=int(settings.data.future_tolerance_seconds * 1000))
        except (StorageError, ValueError) as e:
            fail(str(e))
        p.update(task, description=f"{kind} loaded", total=1, completed=1)
    summary_table(f"weitao data load {kind}", ("table", "rows in", "accepted", "quarantined"), report.rows())
    console.print(f"data written to [bold]{out.resolve()}[/bold]", soft_wrap=True)


@app.command("load")
def load(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help=f"Data set kind: {', '.join(ADAPTERS)}.")],
    path: Annotated[Path, typer.Argument(help="The data set's file or folder.")],
    out: Annotated[Path, typer.Option("--out", help="Data directory to publish the contract tables to.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty --out.")] = False,
) -> None:
    """Map a public data set into the contract, validate it (quarantining bad rows) and publish it."""
    _load(ctx, kind, path, out, overwrite)


@app.command("fetch")
def fetch(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help=f"Data set to fetch from PyPI: {', '.join(FETCHABLE)}.")],
    out: Annotated[Path, typer.Option("--out", help="Data directory to publish the contract tables to.")],
    campaign: Annotated[str, typer.Option("--campaign", help="open-bandit: all | men | women.")] = "all",
    behavior: Annotated[str, typer.Option("--behavior", help="open-bandit: random | bts.")] = "random",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty --out.")] = False,
) -> None:
    """Download a data set (cached under data.download_cache), then load it like `weitao data load`."""
    if name not in FETCHABLE:
        fail(f"cannot fetch {name!r}; fetchable data sets: {', '.join(FETCHABLE)}")
    if campaign not in CAMPAIGNS:
        fail(f"unknown --campaign {campaign!r}; choose one of {', '.join(CAMPAIGNS)}")
    if behavior not in BEHAVIORS:
        fail(f"unknown --behavior {behavior!r}; choose one of {', '.join(BEHAVIORS)}")
    cache = settings_of(ctx).data.download_cache.expanduser()
    with progress() as p:
        task = p.add_task(f"fetching {name} into {cache}", total=None)
        try:
            if name == "movielens-100k":
                path = fetch_movielens_100k(cache)
            else:
                path = fetch_open_bandit(cache) / behavior / campaign
        except (FetchError, OSError) as e:
            fail(str(e))
        p.update(task, description=f"{name} at {path}", total=1, completed=1)
    _load(ctx, name, path, out, overwrite)
