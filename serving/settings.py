"""Settings of the ranking service (the ``serving`` section of the one settings tree in ``weitao.settings``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class ArmSettings(BaseModel):
    """One arm of an experiment layer: its share of users and what it changes."""

    model_config = ConfigDict(extra="forbid")

    share: float = Field(gt=0, le=1, description="Share of users in this arm.")
    model_alias: str | None = Field(None, min_length=1, description="Registry alias of the slot models this arm "
                                    "ranks with (e.g. 'challenger'); default: serving.model_alias.")
    explore_share: float | None = Field(None, ge=0, le=1, description="This arm's serving.explore_share.")


class LayerSettings(BaseModel):
    """One experiment layer: users split among arms by a hash of user id and layer name."""

    model_config = ConfigDict(extra="forbid")

    arms: dict[str, ArmSettings] = Field(min_length=1, description="Arm name -> arm; shares sum to 1.")

    @model_validator(mode="after")
    def _shares(self) -> LayerSettings:
        total = sum(a.share for a in self.arms.values())
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"arms: shares sum to {total}, not 1")
        return self


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
    gate_interval_s: float = Field(60.0, gt=0, description="How often (service clock) the amplification gate "
                                   "re-decides live fans-only posts and rebuilds the hotlist board; passes fall on "
                                   "one grid of the clock in every worker.")
    registry_poll_s: float = Field(15.0, ge=0, description="How often a worker asks the registry which versions "
                                   "the alias points at, reloading when they moved; 0 turns the watch off.")
    page_log_batch: int = Field(2_000, ge=1, description="Served rows buffered before a Parquet file is written.")
    model_alias: str = Field("champion", min_length=1, description="Registry alias of the models to serve.")
    champion_manifest: Path | None = Field(
        None, description="Set by `weitao serve`: the file in which the serving process keeps the versions every "
        "alias points at (it alone reads the registry; workers load what it names and never import MLflow). "
        "Unset: each worker reads the registry itself.")
    compile_models: bool = Field(True, description="Compile LightGBM forests with lleaves (cached by checksum "
                                 "under tracking.model_cache); off, or where lleaves is missing, LightGBM predicts.")
    admin_token: SecretStr = Field(SecretStr(""), description="Bearer token of /admin/*; empty disables them.")
    drain_s: float = Field(2.0, ge=0, description="After SIGTERM, how long a worker keeps answering while /ready "
                           "says 'draining' (a load balancer stops routing to it) before it stops; 0: stop at once "
                           "(see serving.drain).")
    max_k: int = Field(100, ge=1, le=1_000, description="Largest page a request may ask for.")
    max_candidates: int = Field(2_000, ge=1, description="Most candidate ids a request may bring.")
    max_body_bytes: int = Field(1_000_000, ge=1_024, description="Largest request body accepted.")
    max_events_per_batch: int = Field(10_000, ge=1, description="Most events one POST /events may carry.")
    events_per_account_per_minute: int = Field(
        600, ge=1, description="Events one account (the events' target account) may send per minute before 429.")
    deadline_ms: float = Field(80.0, gt=0, description="Per-request deadline; past it the fallback chain answers. "
                               "Requests ranked together in one pass share it.")
    max_batch: int = Field(16, ge=1, le=256, description="Most /rank requests a worker ranks together in one pass: "
                           "those that arrived while it was busy (1: every request alone).")
    explore_share: float = Field(
        0.0, ge=0, le=1, description="Share of pages shown in a random order of the top explore_pool × k items, "
        "with exact propensities logged, so served pages can evaluate other rankers off-policy (0: off).")
    explore_pool: int = Field(2, ge=1, le=10, description="Exploring pages draw from this many times k items.")
    experiments: dict[str, LayerSettings] = Field(
        default_factory=dict, description="Layered experiments: layer name -> arms. A user's arm in each layer is "
        "fixed by a hash of the user id and the layer name, independent across layers, and logged with every "
        "served row. At most one layer may change the model alias.")
    stale_ttl_s: float = Field(600.0, ge=0, description="How old a user's last page may be to serve as the "
                               "'stale' fallback.")
    clock: Literal["data", "wall"] = Field(
        "data", description="Request time: 'data' continues from the last event of data_dir (a simulated or "
        "replayed world), 'wall' is the system clock.")

    @model_validator(mode="after")
    def _one_model_layer(self) -> ServingSettings:
        layers = [n for n, lay in self.experiments.items() if any(a.model_alias for a in lay.arms.values())]
        if len(layers) > 1:
            raise ValueError(f"experiments: layers {layers} all change the model alias; one layer may")
        return self

    def aliases(self) -> list[str]:
        """Every registry alias served: the default first, then those experiment arms use."""
        extra = [a.model_alias for lay in self.experiments.values() for a in lay.arms.values() if a.model_alias]
        return list(dict.fromkeys([self.model_alias, *extra]))
