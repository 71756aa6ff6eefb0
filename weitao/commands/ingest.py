"""`weitao ingest EVENTS --data DIR`: count a batch of events into per-post counters by audience and hour."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import pyarrow.parquet as pq
import typer

from features.catalog import Catalog
from features.ingest import Ingestor
from features.readers import read_raw
from features.storage import StorageError, read_table, staged
from features.validate import ContractError
from weitao.commands.common import console, fail, progress, summary_table


def ingest_cmd(
    events: Annotated[Path, typer.Argument(help="Events file (CSV or Parquet, contract columns).")],
    data: Annotated[Path, typer.Option("--data", help="Data directory with the catalogue tables.")],
    out: Annotated[Path | None, typer.Option("--out", help="Where counters go (default DATA/counters).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty --out.")] = False,
) -> None:
    """Validate a batch (replays change nothing; reused ids are quarantined) and write post counters."""
    out = out or data / "counters"
    with progress() as p:
        task = p.add_task(f"ingesting {events}", total=None)
        try:
            t = {name: read_table(data, name) for name in ("accounts", "users", "posts", "products", "follows")}
            raw = read_raw(events)
            ids = {name: t[name].column(0).to_numpy() for name in ("users", "posts", "products", "accounts")}
            ingestor = Ingestor(Catalog(t["accounts"], t["posts"], t["products"], t["follows"]), ids)
            report = ingestor.ingest(raw, now_ms=int(time.time() * 1000))
            with staged(out, overwrite=overwrite) as stage:
                pq.write_table(ingestor.counters.table(), stage / "post_counters.parquet")
                pq.write_table(report.quarantine, stage / "quarantine.parquet")
        except (StorageError, ContractError, OSError) as e:
            fail(str(e))
        p.update(task, description="ingested", total=1, completed=1)
    summary_table("weitao ingest", ("rows in", "accepted", "duplicates", "quarantined", "late"),
                  [(report.rows_in, report.accepted, report.duplicates, report.quarantined, report.late)])
    console.print(f"counters written to {out}")
