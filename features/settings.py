"""Settings of the data layer (a section of the one settings tree in ``weitao.settings``)."""

from __future__ import annotations

from pathlib import Path

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
