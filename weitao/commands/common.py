"""What every command shares: settings from the root `--config`, a console, error reporting."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from weitao.settings import Settings, SettingsError, load_settings

console = Console()


@dataclass
class State:
    """Per-invocation state carried on the typer context."""

    config: Path | None = None
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config)
            except SettingsError as e:
                console.print(f"[red]error:[/red] {e}")
                raise typer.Exit(2) from None
        return self._settings


def settings_of(ctx: typer.Context) -> Settings:
    """The effective settings of this invocation."""
    state = ctx.find_root().obj
    if state is None:
        state = State()
    return state.settings()


def fail(message: str, code: int = 2) -> None:
    """Print a clear error and exit non-zero."""
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def parse_ints(text: str, option: str) -> list[int]:
    """Comma-separated integers of ``option``, in order, or a clear error naming the option."""
    try:
        values = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        fail(f"{option}: expected comma-separated integers, got {text!r}")
        raise
    if not values:
        fail(f"{option}: give at least one value")
    return values


@contextmanager
def progress() -> Iterator[Progress]:
    """A rich progress display for steps that take more than a couple of seconds."""
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) as p:
        yield p


def summary_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print the summary table that ends every command."""
    table = Table(title=title)
    for c in columns:
        table.add_column(str(c))
    for r in rows:
        table.add_row(*[_fmt(v) for v in r])
    console.print(table)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def merge_json(path: Path, name: str, value: Any) -> None:
    """Set ``path``'s top-level key ``name`` to ``value``, keeping the file's other keys (other benchmarks)."""
    data: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = orjson.loads(path.read_bytes())
            data = loaded if isinstance(loaded, dict) else {}
        except orjson.JSONDecodeError:
            data = {}
    data[name] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
