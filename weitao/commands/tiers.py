"""`weitao tiers assess`: the monthly re-assessment of account tiers, states and traffic rewards."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import orjson
import pyarrow as pa
import typer

from features.storage import StorageError
from training.tiers import (
    TRANSITIONS,
    TierError,
    assess,
    assessment_window,
    h1_months_served,
    read_flags,
    read_inputs,
    transition_counts,
    write_assessments,
)
from training.tiers_metrics import Window
from weitao.commands.common import console, fail, progress, settings_of, summary_table

app = typer.Typer(no_args_is_help=True, help="Monthly tier assessment (W1–W4, H1) and traffic rewards.")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary(table: pa.Table, month: str, window: Window, out: Path) -> dict[str, Any]:
    """The JSON summary: transition counts per tier, moves between tiers, rewards, the window and output."""
    before = np.asarray(table.column("tier_before").cast(pa.string()).to_pylist(), dtype=str)
    after = np.asarray(table.column("tier_after").cast(pa.string()).to_pylist(), dtype=str)
    moved = before != after
    pairs, counts = np.unique(np.char.add(np.char.add(before[moved], " -> "), after[moved]), return_counts=True)
    return {
        "month": month, "assessed_at": _iso(window.end_ms), "window_start": _iso(window.start_ms),
        "accounts": table.num_rows, "transitions": transition_counts(table),
        "moves": dict(zip(pairs.tolist(), counts.tolist(), strict=True)),
        "rewarded": int(np.sum(table.column("reward_multiplier").to_numpy() > 1.0)),
        "out": str(out.resolve()),
    }


def _print_summary(table: pa.Table, month: str) -> None:
    """Tier before × transition counts, and how many accounts of each tier earned a traffic reward."""
    counts = transition_counts(table)
    rewarded = np.asarray(table.column("reward_multiplier").to_numpy() > 1.0)
    tiers = np.asarray(table.column("tier_before").cast(pa.string()).to_pylist(), dtype=str)
    rows = [(tier, *counts[tier].values(), int(rewarded[tiers == tier].sum()) if tier != "all" else int(rewarded.sum()))
            for tier in counts]
    summary_table(f"weitao tiers assess --month {month}", ("tier before", *TRANSITIONS, "rewarded"), rows)


@app.command("assess")
def assess_cmd(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month", help="Month assessed, YYYY-MM (runs as of its 1st, 00:00 UTC).")],
    data: Annotated[Path, typer.Option("--data", help="Data directory of contract tables (read only).")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Output folder (default DATA/assessments/month=YYYY-MM).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write a JSON summary here.")] = None,
    flags: Annotated[Path | None, typer.Option(
        "--flags", help="CSV of anti-abuse flags: account_id,reason (flagged accounts go to H1).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing assessment.")] = False,
) -> None:
    """Assess every account on the 30 days before the 1st of --month and write `tier_assessments`."""
    settings = settings_of(ctx).tiers
    try:
        window = assessment_window(month, settings.window_days)
    except TierError as e:
        fail(f"--month: {e}")
        return
    try:
        flagged = read_flags(flags) if flags is not None else {}
    except TierError as e:
        fail(f"--flags: {e}")
    if not (data / "accounts").exists():
        fail(f"--data {data} holds no contract tables (no accounts/ folder)")
    out = out if out is not None else data / "assessments" / f"month={month}"
    if out.exists() and any(out.iterdir()) and not overwrite:
        fail(f"--out {out} exists and is not empty (pass --overwrite to replace it)")
    with progress() as p:
        task = p.add_task(f"reading contract tables from {data}", total=None)
        try:
            tables = read_inputs(data)
            served = h1_months_served(out.parent, month, settings.h1_penalty_months)
        except (StorageError, OSError, pa.ArrowInvalid) as e:
            fail(f"cannot read {data}: {e}")
            return
        p.update(task, description=f"assessing {tables['accounts'].num_rows:,} accounts on "
                                   f"[{_iso(window.start_ms)[:10]}, {_iso(window.end_ms)[:10]})")
        try:
            table = assess(tables, month, settings, flags=flagged, h1_served=served)
        except (TierError, ValueError) as e:
            fail(f"cannot assess {data}: {e}")
        p.update(task, description=f"writing {out}")
        try:
            write_assessments(table, out, overwrite=overwrite)
        except (StorageError, OSError) as e:
            fail(str(e))
        p.update(task, description=f"assessed {table.num_rows:,} accounts", total=1, completed=1)
    _print_summary(table, month)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_bytes(orjson.dumps(summary(table, month, window, out), option=orjson.OPT_INDENT_2))
    console.print(f"assessments written to [bold]{out.resolve()}[/bold]", soft_wrap=True)
