"""`weitao explain POST --log DIR`: why the gate did or did not amplify a post, in the seller's words."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ranking.gate.explain import LOGGED_NUMBERS, explain, level_name
from ranking.gate.log import read_post
from weitao.commands.common import console, fail, settings_of, summary_table


def explain_cmd(
    ctx: typer.Context,
    post: Annotated[int, typer.Argument(help="Post id.")],
    log: Annotated[Path, typer.Option("--log", help="Gate decision log: a Parquet file, or a folder of them "
                                      "(`weitao evaluate amplification --gate-log DIR`, or quickstart's "
                                      "OUT/gate-log).")] = Path("runs/gate-log"),
) -> None:
    """Print a post's gate history (each change of level or reason, with its figures) and where it stands."""
    gate = settings_of(ctx).gate
    try:
        rows = read_post(log, post).to_pylist()
    except (FileNotFoundError, OSError) as e:
        fail(str(e))
        return
    if not rows:
        fail(f"post {post}: not in the gate log {log} (the gate never evaluated it: not live in the logged window)")
        return
    table = []
    for r in rows:
        when = datetime.fromtimestamp(r["at_ms"] / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        before, now = level_name(r["level_before"], gate.pools), level_name(r["level"], gate.pools)
        move = f"{before} → {now}" if r["level"] != r["level_before"] else now
        table.append((when, move, explain(r["reason"], r["level"], {k: r[k] for k in LOGGED_NUMBERS}, gate)))
    summary_table(f"post {post}: gate decisions", ("when (UTC)", "level", "why"), table)
    last = rows[-1]
    verdict = "amplified" if max(r["level"] for r in rows) >= 2 else "not amplified"
    console.print(f"post {post} was {verdict}; it is now {level_name(last['level'], gate.pools)}: {table[-1][2]}",
                  soft_wrap=True)
