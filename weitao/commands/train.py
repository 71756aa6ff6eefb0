"""`weitao train SLOT`: fit a slot ranker or the amplifier on a data folder, log it to MLflow, register it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import typer

from features.contract import TABLES
from features.storage import StorageError, read_table
from training.amplifier.job import SLOT as AMPLIFIER
from training.amplifier.job import AmplifierTraining, train_amplifier
from training.amplifier.log import PostLog
from training.registry import register
from training.slot_job import SlotTraining, snapshot_id, train_slot_with
from training.tracking import PYFUNC_DIR, TrackingError, log_model_run
from weitao.commands.common import console, fail, progress, settings_of, summary_table
from weitao.settings import Settings, SettingsError, load_settings

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
    return (result, *_log_and_register(settings, slot, result))


def _log_and_register(settings: Settings, name: str, result: SlotTraining | AmplifierTraining) -> tuple[str, int]:
    """Save ``result``'s model folder, log it as an MLflow run with its plots, register it as challenger."""
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = result.save(Path(tmp) / "model", settings.config_hash())
        run_id = log_model_run(settings, slot=name, model_dir=model_dir, params=result.params,
                               metrics=result.metrics, feature_set=result.feature_set,
                               config_hash=settings.config_hash(), data_snapshot_id=result.data_snapshot_id,
                               split_id=result.split_id, plots=result.plots())
    return run_id, register(settings, run_id, name)


def train_cmd(
    ctx: typer.Context,
    slot: Annotated[str, typer.Argument(help="follow-feed, new-arrival or amplifier.")],
    data: Annotated[Path | None, typer.Option("--data", help="Data directory (default: data.dir).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML); overrides the global "
                                                "--config for this command.")] = None,
) -> None:
    """Train a slot ranker or the amplifier, log it to MLflow with metrics and plots, register it as challenger."""
    if slot not in (*SLOTS, AMPLIFIER):
        fail(f"unknown slot {slot!r}; choose one of: {', '.join((*SLOTS, AMPLIFIER))}")
    try:
        settings = load_settings(config) if config is not None else settings_of(ctx)
    except SettingsError as e:
        fail(str(e))
    data_dir = data or settings.data.dir
    if slot == AMPLIFIER:
        _train_amplifier_cmd(settings, data_dir)
        return
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
    if settings.tracking.pyfunc:
        console.print(f"scores feature frames in Python: mlflow.pyfunc.load_model(\"runs:/{run_id}/{PYFUNC_DIR}\")",
                      soft_wrap=True)


def hidden_appeal(data_dir: Path, posts: pa.Table) -> np.ndarray | None:
    """The simulator's hidden appeal per row of ``posts`` when ``data_dir`` holds a simulated world's truth."""
    path = data_dir / "truth" / "posts"
    if not path.is_dir():
        return None
    truth = pq.read_table(path, columns=["post_id", "public_appeal"])
    ids = truth.column("post_id").to_numpy()
    appeal = truth.column("public_appeal").to_numpy()
    order = np.argsort(ids)
    want = posts.column("post_id").to_numpy()
    pos = np.minimum(np.searchsorted(ids[order], want), len(ids) - 1)
    return np.where(ids[order][pos] == want, appeal[order][pos], np.nan)


def train_amplifier_and_register(settings: Settings, tables: dict[str, pa.Table],
                                 appeal: np.ndarray | None = None) -> tuple[AmplifierTraining, str, int]:
    """Train the amplifier on a temporal split, log the run with plots, register it as the challenger."""
    s = settings.amplifier
    log = PostLog.from_tables(tables)
    split_ms = int(log.time.max(initial=0)) - int(s.holdout_days * DAY_MS)
    result = train_amplifier(log, s, split_ms=split_ms, data_snapshot_id=snapshot_id(tables), appeal=appeal)
    return (result, *_log_and_register(settings, AMPLIFIER, result))


def _train_amplifier_cmd(settings: Settings, data_dir: Path) -> None:
    with progress() as p:
        task = p.add_task(f"training the amplifier on {data_dir}", total=None)
        try:
            tables = read_tables(data_dir)
            appeal = hidden_appeal(data_dir, tables["posts"])
            result, run_id, version = train_amplifier_and_register(settings, tables, appeal)
        except (StorageError, ValueError, TrackingError) as e:
            fail(str(e))
        p.update(task, description="trained the amplifier", total=1, completed=1)
    rows = [(k, f"{v:.4f}") for k, v in result.metrics.items()]
    summary_table("weitao train amplifier: held-out metrics", ("metric", "value"), rows)
    console.print(f"MLflow run {run_id}; registered version {version} as challenger "
                  f"(promote with `weitao promote amplifier`)")
    if settings.tracking.pyfunc:
        console.print(f"predicts lift in Python: mlflow.pyfunc.load_model(\"runs:/{run_id}/{PYFUNC_DIR}\")",
                      soft_wrap=True)
