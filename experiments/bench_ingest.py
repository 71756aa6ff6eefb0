"""Benchmark of the event intake (``features.ingest``): validated, deduplicated, counted events per second.

The events of a simulated world are ingested in batches of a given size into a fresh :class:`Ingestor`, as
the service's ``POST /events`` and ``weitao ingest`` do: every batch is validated against the contract and
against what was already accepted (replays and reused ids), then counted per post × audience × action ×
hour. Process CPU time is measured beside wall time, so the rate per core is read off directly.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from features.catalog import Catalog
from features.ingest import Ingestor
from features.storage import read_table

NAMES = ("users", "posts", "products", "accounts")


def load(data_dir: Path) -> tuple[Catalog, dict[str, np.ndarray], pa.Table]:
    """The catalogue, the known ids and the events table of a data directory."""
    t = {name: read_table(data_dir, name) for name in (*NAMES, "follows", "events")}
    catalog = Catalog(t["accounts"], t["posts"], t["products"], t["follows"])
    return catalog, {name: t[name].column(0).to_numpy() for name in NAMES}, t["events"]


def bench_ingest(data_dir: Path, batch: int, max_events: int | None = None) -> dict[str, Any]:
    """Ingest the events of ``data_dir`` (the first ``max_events``) in batches of ``batch`` rows."""
    catalog, ids, events = load(data_dir)
    if max_events is not None:
        events = events.slice(0, max_events)
    times = events.column("event_time").cast(pa.int64()).to_numpy()
    now = int(times.max(initial=0)) + 1
    ingestor = Ingestor(catalog, ids)
    accepted = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, events.num_rows, batch):
        accepted += ingestor.ingest(events.slice(start, batch), now_ms=now).accepted
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = events.num_rows
    return {"events": n, "batch": batch, "accepted": accepted, "wall_seconds": wall, "cpu_seconds": cpu,
            "events_per_second": n / wall, "events_per_cpu_second": n / cpu}
