"""Settings of the data layer (a section of the one settings tree in ``weitao.settings``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DataSettings(BaseModel):
    """Where contract tables live and how strictly they are checked."""

    model_config = ConfigDict(extra="forbid")

    dir: Path = Field(Path("data"), description="Data directory holding one folder per contract table.")
    future_tolerance_seconds: float = Field(
        300.0, ge=0, description="Clock skew allowed before a timestamp counts as 'in the future'."
    )
    download_cache: Path = Field(
        Path("~/.cache/weitao"), description="Where `weitao data fetch` keeps downloaded packages."
    )


class FeatureSettings(BaseModel):
    """Feature pipelines: time buckets, the offline engine (in-process or Dask) and the online store."""

    model_config = ConfigDict(extra="forbid")

    bucket_ms: int = Field(
        3_600_000, gt=0,
        description="Width of a counting bucket in ms; a feature at time t sees only complete buckets before t's.",
    )
    engine: Literal["inprocess", "dask"] = Field(
        "inprocess", description="Offline engine for training frames: 'inprocess' or 'dask' (distributed)."
    )
    numpy_hugepages: bool = Field(
        False, description="Let numpy ask for transparent huge pages during offline builds (off: where the kernel "
        "compacts memory to serve them, a 20M-event in-process build took 1.8 s longer; see features.hugepages).",
    )
    dask_scheduler: str = Field(
        "local", description="Dask scheduler address (tcp://host:port), or 'local' to start a LocalCluster."
    )
    dask_workers: int = Field(2, ge=1, description="Worker processes of the LocalCluster started for 'local'.")
    dask_partitions: int = Field(
        0, ge=0, description="Event partitions (by acting user) per offline build; 0 means one per worker."
    )
    online_store: Literal["memory", "redis"] = Field(
        "memory", description="Online counter store: 'memory' (in-process) or 'redis' (shared by replicas)."
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL used when online_store is 'redis'.")
    redis_timeout_s: float = Field(
        2.0, gt=0, description="Longest wait for one Redis call (connect or command) before it counts as failed."
    )
    redis_prefix: str = Field(
        "weitao:features", description="Prefix of every Redis key (then the feature set's fingerprint)."
    )
    dedup_horizon_hours: int = Field(
        48, gt=0, description="How long event ids are remembered online, so a replayed batch is counted once."
    )
