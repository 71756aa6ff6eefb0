"""`weitao train SLOT`: fit a slot ranker on a data directory, log it to MLflow, register a challenger."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer

from features.contract import TABLES
from features.storage import StorageError, read_table
from training.registry import register
from training.slot_job import SlotTraining, train_slot_with
from training.tracking import TrackingError, log_model_run
from weitao.commands.common import console, fail, progress, settings_of, summary_table
from weitao.settings import Settings

SLOTS = {"follow-feed": "follow_feed", "new-arrival": "new_arrival"}
DAY_MS = 86_400_000


def read_tables(data_dir: Path) -> dict[str, pa.Table]:
    """Every contract table of a data directory."""
    return {name: read_table(data_dir, name) for name in TABLES}


def train_and_register(settings: Settings, tables: dict[str, pa.Table], slot: str) -> tuple[SlotTraining, str, int]:
    """Train ``slot`` (internal name), log the run with plots, register it as the challenger."""
    last = int(pa.compute.max(tables["events"].column("event_time").cast(pa.int64())).as_py() or 0)
    split_ms = last - int(settings.rankers.holdout_days * DAY_MS)
    result = train_slot_with(tables, slot, split_ms, settings.rankers, settings.features)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = result.save(Path(tmp) / "model", settings.config_hash())
        run_id = log_model_run(settings, slot=slot, model_dir=model_dir, params=result.params,
                               metrics=result.metrics, feature_set=result.feature_set,
                               config_hash=settings.config_hash(), data_snapshot_id=result.data_snapshot_id,
                               split_id=result.split_id, plots=result.plots())
    version = register(settings, run_id, slot)
    return result, run_id, version


def train_cmd(
    ctx: typer.Context,
    slot: Annotated[str, typer.Argument(help="follow-feed or new-arrival.")],
    data: Annotated[Path | None, typer.Option("--data", help="Data directory (default: data.dir).")] = None,
) -> None:
    """Train a slot ranker, log it to MLflow with its metrics and plots, and register it as challenger."""
    if slot not in SLOTS:
        fail(f"unknown slot {slot!r}; choose one of: {', '.join(SLOTS)}")
    settings = settings_of(ctx)
    data_dir = data or settings.data.dir
    with progress() as p:
        task = p.add_task(f"training {slot} on {data_dir}", total=None)
        try:
            tables = read_tables(data_dir)
            result, run_id, version = train_and_register(settings, tables, SLOTS[slot])
        except (StorageError, ValueError, TrackingError) as e:
            fail(str(e))
        p.update(task, description=f"trained {slot}", total=1, completed=1)
    rows = [(k, v) for k, v in result.metrics.items()]
    summary_table(f"weitao train {slot}: held-out metrics", ("metric", "value"), rows)
    console.print(f"MLflow run {run_id}; registered version {version} as challenger "
                  f"(promote with `weitao promote {slot}`)")
