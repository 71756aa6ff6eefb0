"""Settings of the monthly tier assessment (the ``tiers`` section of ``weitao.settings``).

They live in ``ranking`` because both the monthly job (``training/tiers.py``) and the seller insights of
the service (``serving/insights``) read them: the service tells a seller what the next tier needs.

Each of W2, W3 and W4 is measured by its own thresholds: entry conditions (what an account needs to be
promoted *into* the tier) and, for each state metric, the value needed for ``fair`` and for ``excellent``
plus the metric's weight in the tier's composite. Defaults are set on the simulated medium world so that
most accounts keep their tier and some are promoted or demoted (see ``training/tiers.py``;
the grading rules are in ``ranking/tier_rules.py``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class MetricGrade(BaseModel):
    """What one state metric must reach in one tier: ``fair`` and ``excellent`` levels, and its weight."""

    model_config = ConfigDict(extra="forbid")

    fair: float = Field(0.0, ge=0, description="Value at or above which the metric is graded fair.")
    excellent: float = Field(0.0, ge=0, description="Value at or above which the metric is graded excellent.")
    weight: float = Field(1.0, ge=0, description="Weight of the metric in the tier's composite (0 drops it).")

    @model_validator(mode="after")
    def _ordered(self) -> MetricGrade:
        if self.excellent < self.fair:
            raise ValueError(f"excellent ({self.excellent}) must be at least fair ({self.fair})")
        return self


class TierRule(BaseModel):
    """Entry conditions and state thresholds of one tier (W2, W3 or W4)."""

    model_config = ConfigDict(extra="forbid")

    min_fans: int = Field(0, ge=0, description="Fans needed at the assessment time to be promoted into the tier.")
    min_fan_interaction_rate: float = Field(
        0.0, ge=0, description="Fan interaction rate needed in the window to be promoted into the tier.")
    fan_activity: MetricGrade = Field(
        default_factory=MetricGrade, description="Share of fans who acted on the account's content in the window.")
    fan_interaction_rate: MetricGrade = Field(
        default_factory=MetricGrade, description="Fan interaction rate (fan likes+comments+shares / fan impressions).")
    fan_revisit_rate: MetricGrade = Field(
        default_factory=MetricGrade, description="Share of fans who came back to the account page in the window.")
    fan_purchases: MetricGrade = Field(
        default_factory=MetricGrade, description="Purchases by fans credited to the account in the window.")

    @model_validator(mode="after")
    def _weighted(self) -> TierRule:
        grades = (self.fan_activity, self.fan_interaction_rate, self.fan_revisit_rate, self.fan_purchases)
        if sum(g.weight for g in grades) <= 0:
            raise ValueError("at least one state metric needs a positive weight")
        return self


def _w2() -> TierRule:
    # W2 accounts are small and sell little: graded mostly on whether their fans act at all.
    return TierRule(min_fans=25, min_fan_interaction_rate=0.005,
                    fan_activity=MetricGrade(fair=0.02, excellent=0.10, weight=2.0),
                    fan_interaction_rate=MetricGrade(fair=0.002, excellent=0.015),
                    fan_revisit_rate=MetricGrade(fair=0.002, excellent=0.015),
                    fan_purchases=MetricGrade(fair=1, excellent=2, weight=0.0))


def _w3() -> TierRule:
    return TierRule(min_fans=100, min_fan_interaction_rate=0.003,
                    fan_activity=MetricGrade(fair=0.01, excellent=0.05, weight=0.5),
                    fan_interaction_rate=MetricGrade(fair=0.0015, excellent=0.01),
                    fan_revisit_rate=MetricGrade(fair=0.002, excellent=0.01),
                    fan_purchases=MetricGrade(fair=1, excellent=3))


def _w4() -> TierRule:
    return TierRule(min_fans=500, min_fan_interaction_rate=0.003,
                    fan_activity=MetricGrade(fair=0.01, excellent=0.05, weight=0.5),
                    fan_interaction_rate=MetricGrade(fair=0.0015, excellent=0.01),
                    fan_revisit_rate=MetricGrade(fair=0.002, excellent=0.01),
                    fan_purchases=MetricGrade(fair=2, excellent=8))


class TierSettings(BaseModel):
    """The monthly re-assessment of account tiers (W1–W4, H1) and the traffic rewards it hands the gate."""

    model_config = ConfigDict(extra="forbid")

    window_days: int = Field(30, gt=0, description="Days before the assessment time (the 1st, 00:00 UTC) assessed.")
    w2: TierRule = Field(default_factory=_w2, description="W2: entry conditions (W1 graduation) and states.")
    w3: TierRule = Field(default_factory=_w3, description="W3: entry conditions and states.")
    w4: TierRule = Field(default_factory=_w4, description="W4: entry conditions and states.")
    fair_min_score: float = Field(
        0.5, ge=0, le=2,
        description="Composite (weighted mean grade: 0 below fair, 1 fair, 2 excellent) needed for state fair.")
    excellent_min_score: float = Field(
        1.5, ge=0, le=2, description="Composite needed for state excellent.")
    h1_penalty_months: int = Field(
        3, ge=1, description="Months an account stays in H1 with no abuse flag before it is released to W1.")
    reward_top_share: float = Field(
        0.1, ge=0, le=1,
        description="Share of each tier, by private-domain score (fans, activity, interaction, purchases), rewarded.")
    reward_min: float = Field(1.1, ge=1, description="Budget multiplier of the last rewarded account of a tier.")
    reward_max: float = Field(1.3, ge=1, description="Budget multiplier of the best account of a tier.")

    @model_validator(mode="after")
    def _consistent(self) -> TierSettings:
        if self.excellent_min_score < self.fair_min_score:
            raise ValueError("excellent_min_score must be at least fair_min_score")
        if self.reward_max < self.reward_min:
            raise ValueError("reward_max must be at least reward_min")
        if not self.w2.min_fans <= self.w3.min_fans <= self.w4.min_fans:
            raise ValueError("min_fans must not decrease from w2 to w3 to w4")
        return self

    def rule(self, tier: str) -> TierRule:
        """The rule of tier ``tier`` ("W2", "W3" or "W4")."""
        return {"W2": self.w2, "W3": self.w3, "W4": self.w4}[tier]
