"""Settings of the slot rankers (the ``rankers`` section of the one settings tree)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Blend(BaseModel):
    """Weight of each head in a slot's score: the platform's value of each action."""

    model_config = ConfigDict(extra="forbid")

    click: float = Field(1.0, ge=0, description="Value of a click.")
    engage: float = Field(2.0, ge=0, description="Value of a like, comment or share.")
    follow: float = Field(5.0, ge=0, description="Value of a new follow.")
    purchase: float = Field(10.0, ge=0, description="Value of a conversion: the purchase head is labelled by a cart "
                            "or a purchase (training.impressions.CONVERSION).")


class RankerSettings(BaseModel):
    """How the follow-feed and new-arrival rankers are trained."""

    model_config = ConfigDict(extra="forbid")

    blend: Blend = Field(default_factory=Blend, description="Head weights of the blended score.")
    n_estimators: int = Field(150, gt=0, description="Boosting rounds per head.")
    learning_rate: float = Field(0.05, gt=0, le=1, description="LightGBM learning rate.")
    num_leaves: int = Field(15, ge=2, description="LightGBM leaves per tree.")
    min_child_samples: int = Field(
        300, ge=1, description="LightGBM minimum rows per leaf (positives are rare: large leaves generalise).")
    holdout_days: float = Field(2.0, gt=0, description="Last days of the data held out for metrics and promotion.")
    random_state: int = Field(0, description="Seed of the calibration split and of LightGBM.")
    n_jobs: int = Field(1, ge=1, description="LightGBM threads while training.")
    engine: Literal["inprocess", "dask"] = Field(
        "inprocess", description="Where the heads are fitted: in this process, or by lightgbm.dask on the "
        "features' Dask cluster (features.dask_scheduler; 'local' starts a LocalCluster of features.dask_workers "
        "worker processes for the training run). The boosters are ordinary LightGBM models either way.")
    decreasing: list[str] = Field(
        default_factory=lambda: ["post_freshness_hours", "prod_launch_age_hours"],
        description="Features the score may only fall with (LightGBM monotone constraints).")
    conditional_heads: list[str] = Field(
        default_factory=lambda: ["engage", "follow", "purchase"],
        description="Heads learned among clicked impressions only (P(action | click)) and multiplied by the click "
        "head: every one of these actions follows a click, and among clicks they are far less rare.")
    transfer_weight: float = Field(
        1.0, ge=0, description="Weight of a transfer source's impressions in a ranker's training rows (the "
        "follow feed's for the new-arrival ranker, see features.featuresets.TRANSFER); 0 = the slot's own only.")
    propensity_clip: float = Field(
        0.0, ge=0, description="Weight training rows by 1/propensity of the logging policy, capped at this "
        "value, so rows the logging policy rarely showed count for the pages it did not show; 0 = unweighted.")

    max_train_rows: int = Field(
        2_000_000, ge=100, description="Training impressions per ranker (and per transfer source) beyond which "
        "impressions without any action are sampled, each kept one weighing 1/rate so the heads stay calibrated "
        "(training.row_sampling); a large world's full frame does not fit in memory.")
    max_held_rows: int = Field(
        1_000_000, ge=100, description="Held-out impressions beyond which whole pages are sampled for the "
        "held-out metrics and plots.")

    def params(self) -> dict[str, float | int | list[str]]:
        """Keyword arguments of ``MultiHeadRanker`` (besides heads and blend)."""
        return {"n_estimators": self.n_estimators, "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves, "min_child_samples": self.min_child_samples,
                "n_jobs": self.n_jobs, "decreasing": list(self.decreasing),
                "conditional": list(self.conditional_heads)}
