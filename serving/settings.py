"""Settings of the ranking service (the ``serving`` section of the one settings tree in ``weitao.settings``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class ServingSettings(BaseModel):
    """Where the service listens, what it loads, and the limits that keep it safe."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="Interface to listen on (loopback unless you mean otherwise).")
    port: int = Field(8000, ge=1, le=65535, description="Port to listen on.")
    workers: int = Field(0, ge=0, description="Worker processes; 0 means one per core.")
    data_dir: Path = Field(Path("runs/quickstart/data"),
                           description="Contract tables the service indexes at start (catalogue, history).")
    page_log_dir: Path = Field(Path("runs/quickstart/served"),
                               description="Where served pages are written as Parquet, in batches.")
    event_log_dir: Path | None = Field(
        None, description="Shared durable log of accepted events (one file per batch); default: 'events' beside "
        "page_log_dir. Workers replay it at start and tail each other's batches.")
    sync_interval_s: float = Field(0.2, gt=0, description="How often a worker applies other workers' logged "
                                   "events and checks its online stores.")
    registry_poll_s: float = Field(15.0, ge=0, description="How often a worker asks the registry which versions "
                                   "the alias points at, reloading when they moved; 0 turns the watch off.")
    page_log_batch: int = Field(2_000, ge=1, description="Served rows buffered before a Parquet file is written.")
    model_alias: str = Field("champion", min_length=1, description="Registry alias of the models to serve.")
    compile_models: bool = Field(True, description="Compile LightGBM forests with lleaves (cached by checksum "
                                 "under tracking.model_cache); off, or where lleaves is missing, LightGBM predicts.")
    admin_token: SecretStr = Field(SecretStr(""), description="Bearer token of /admin/*; empty disables them.")
    max_k: int = Field(100, ge=1, le=1_000, description="Largest page a request may ask for.")
    max_candidates: int = Field(2_000, ge=1, description="Most candidate ids a request may bring.")
    max_body_bytes: int = Field(1_000_000, ge=1_024, description="Largest request body accepted.")
    max_events_per_batch: int = Field(10_000, ge=1, description="Most events one POST /events may carry.")
    events_per_account_per_minute: int = Field(
        600, ge=1, description="Events one account (the events' target account) may send per minute before 429.")
    deadline_ms: float = Field(80.0, gt=0, description="Per-request deadline; past it the fallback chain answers.")
    explore_share: float = Field(
        0.0, ge=0, le=1, description="Share of pages shown in a random order of the top explore_pool × k items, "
        "with exact propensities logged, so served pages can evaluate other rankers off-policy (0: off).")
    explore_pool: int = Field(2, ge=1, le=10, description="Exploring pages draw from this many times k items.")
    stale_ttl_s: float = Field(600.0, ge=0, description="How old a user's last page may be to serve as the "
                               "'stale' fallback.")
    clock: Literal["data", "wall"] = Field(
        "data", description="Request time: 'data' continues from the last event of data_dir (a simulated or "
        "replayed world), 'wall' is the system clock.")
