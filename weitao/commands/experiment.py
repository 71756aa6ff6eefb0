"""`weitao experiment analyze`: a layered experiment's arms compared from the page log and the events."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import numpy as np
import orjson
import pyarrow as pa
import typer

from experiments.abtest import analyse
from features.storage import read_table, table_names
from serving.eventlog import EventLog
from serving.pagelog import read_pages
from weitao.commands.common import console, fail, summary_table

app = typer.Typer(no_args_is_help=True, help="Layered experiments (serving.experiments).")


def _events(path: Path) -> pa.Table | None:
    """Events from a contract data directory, or from the service's event log folder (*.arrow)."""
    if path.is_dir() and "events" in table_names(path):
        return read_table(path, "events")
    return EventLog.read(sorted(path.glob("*.arrow"))) if path.is_dir() else None


@app.command("analyze")
def analyze(
    pages: Annotated[Path, typer.Option("--pages", help="The service's page log (serving.page_log_dir).")],
    events: Annotated[Path, typer.Option("--events", help="A data directory, or the service's event log folder.")],
    layer: Annotated[str, typer.Option("--layer", help="Experiment layer to analyse.")],
    control: Annotated[str | None, typer.Option("--control", help="Control arm (default: 'control').")] = None,
    window_minutes: Annotated[float, typer.Option("--window-minutes", min=1, help="Click attribution window.")] = 60,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON.")] = None,
) -> None:
    """Click-through per arm with 95 % intervals (users resampled) and each arm's difference from control."""
    served = read_pages(pages)
    ev = _events(events)
    if served.num_rows == 0:
        fail(f"--pages: no served pages under {pages}")
    if ev is None:
        fail(f"--events: {events} is neither a data directory with events nor an event log folder")
    try:
        results = analyse(served, ev, layer, np.random.default_rng(seed), control=control,
                          window_ms=int(window_minutes * 60_000))
    except ValueError as e:
        fail(str(e))
        return
    rows = [(r.arm, r.users, r.rows, r.clicks, f"{r.ctr:.4f} [{r.ctr_low:.4f}, {r.ctr_high:.4f}]",
             f"{r.diff:+.4f} [{r.diff_low:+.4f}, {r.diff_high:+.4f}]") for r in results]
    summary_table(f"experiment layer {layer}", ("arm", "users", "rows", "clicks", "CTR [95 %]", "vs control"), rows)
    if json_out is not None:
        json_out.write_bytes(orjson.dumps({r.arm: asdict(r) for r in results}, option=orjson.OPT_INDENT_2))
        console.print(f"figures written to {json_out}")
