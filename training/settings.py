"""Settings of experiment tracking, the model registry and promotion (a section of ``weitao.settings``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class TrackingSettings(BaseModel):
    """Where runs and models are tracked, and how a challenger becomes champion."""

    model_config = ConfigDict(extra="forbid")

    tracking_uri: str = Field(
        "sqlite:///mlruns/mlflow.db",
        description="MLflow tracking and registry URI: a local SQLite file (no set-up) or an `mlflow server` URL.",
    )
    artifact_root: Path = Field(
        Path("mlruns/artifacts"),
        description="Artifact folder of new experiments in a local store; an `mlflow server` uses its own.",
    )
    experiment: str = Field("weitao", min_length=1, description="MLflow experiment that training runs go to.")
    registry_prefix: str = Field(
        "weitao-", description="Registered model name prefix; a slot's models are registered as PREFIX+slot."
    )
    promotion_metric: str = Field(
        "ndcg_at_10", min_length=1, description="Held-out metric a challenger must beat the champion on."
    )
    promotion_higher_is_better: bool = Field(True, description="Whether a larger promotion metric is better.")
    promotion_min_delta: float = Field(
        0.0, ge=0, description="Margin by which the challenger must beat the champion to be promoted."
    )
    pyfunc: bool = Field(
        True, description="Also log each model as an MLflow pyfunc under `pyfunc/` (code, not a pickle), so "
        "`mlflow.pyfunc.load_model` can score feature frames with it.",
    )
    model_cache: Path = Field(
        Path("mlruns/model-cache"), description="Local folder where loaded models are cached by checksum."
    )
