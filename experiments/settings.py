"""Settings of the simulated world and of offline evaluation (sections of ``weitao.settings``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Scale = Literal["small", "medium", "large", "busy"]


class ScaleSettings(BaseModel):
    """Size of one simulated world."""

    model_config = ConfigDict(extra="forbid")

    users: int = Field(gt=0, description="Number of users.")
    accounts: int = Field(gt=0, description="Number of publishing accounts.")
    days: int = Field(gt=0, description="Days of history simulated hour by hour.")
    sessions_per_user_day: float = Field(gt=0, description="Mean feed sessions per user per day.")


def _default_scales() -> dict[str, ScaleSettings]:
    return {
        "small": ScaleSettings(users=2_000, accounts=200, days=7, sessions_per_user_day=0.6),
        "medium": ScaleSettings(users=50_000, accounts=2_000, days=14, sessions_per_user_day=0.15),
        "large": ScaleSettings(users=1_000_000, accounts=20_000, days=30, sessions_per_user_day=0.15),
        # Few posts per user-session, as in a real app: enough non-fan traffic to test every new post.
        "busy": ScaleSettings(users=30_000, accounts=300, days=8, sessions_per_user_day=2.0),
    }


class SimulatorSettings(BaseModel):
    """The simulated Weitao world."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(7, description="Default seed of `weitao simulate` and `weitao quickstart`.")
    scale: Scale = Field("medium", description="Default scale of the main job.")
    scales: dict[Scale, ScaleSettings] = Field(
        default_factory=_default_scales, description="Size of each scale."
    )
    page_size: int = Field(10, gt=0, le=50, description="Items shown per feed page.")
    start: str = Field("2026-10-01", description="First simulated day (UTC, YYYY-MM-DD).")
    exploration_share: float = Field(
        0.2, ge=0, le=1, description="Share of logged pages shuffled at random (gives propensities)."
    )


class EvaluationSettings(BaseModel):
    """Offline evaluation and the main job's report."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(10, gt=0, description="Cut-off of top-k metrics.")
    out_dir: str = Field("runs/quickstart", description="Where `weitao quickstart` writes data and report.")
    eval_days: int = Field(2, gt=0, description="Last days of the world used as the evaluation window.")
    hotlist_capacity: int = Field(20, gt=0, description="Posts admitted to public pools per hour.")
