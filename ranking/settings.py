"""Settings of the slot pipelines (the ``ranking`` section of the one settings tree in ``weitao.settings``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StageBudgets(BaseModel):
    """Per-request time budget of each pipeline stage, in milliseconds.

    A stage that takes longer (for a batch: longer than budget × requests) is counted as over budget in the
    run's result; it is not interrupted, because a half-run filter would be worse than a late page.
    """

    model_config = ConfigDict(extra="forbid")

    sources: float = Field(default=20.0, gt=0, description="Candidate sources, all together (ms per request).")
    filters: float = Field(default=10.0, gt=0, description="Filters, all together (ms per request).")
    scorer: float = Field(default=30.0, gt=0, description="The scorer, including a fallback scorer (ms per request).")
    rules: float = Field(default=10.0, gt=0, description="Business rules, all together (ms per request).")
    selectors: float = Field(default=5.0, gt=0, description="Selectors, all together (ms per request).")


class RankingSettings(BaseModel):
    """Candidate windows, business-rule weights and stage budgets of the slot pipelines."""

    model_config = ConfigDict(extra="forbid")

    follow_feed_window_hours: float = Field(
        default=72.0, gt=0,
        description="Follow-feed candidates: posts of followed accounts created in the last N hours.")
    new_arrival_window_days: float = Field(
        default=7.0, gt=0,
        description="New-arrival candidates: products of followed shops launched in the last N days.")
    source_limit: int = Field(
        default=500, gt=0, description="Most candidates one source returns per request (the newest are kept).")
    discovery_accounts: int = Field(
        default=0, ge=0, description="Discovery in the service: accounts nearest the user's taste (faiss over the "
        "ranker's account vectors) whose recent public posts / new products join the candidates; 0 turns it off.")
    discovery_limit: int = Field(default=20, gt=0, description="Most discovery candidates per request.")
    preferred_weight: float = Field(
        default=1.2, ge=1.2, le=1.25,
        description="Score weight of preferred-shop (优选好店) content shown to fans; the handbook's +20–25 %.")
    author_cap: int = Field(default=2, ge=1, description="Most items of one author on one page.")
    diversity_weight: float = Field(
        default=0.3, ge=0, le=1,
        description="Diversity re-rank: penalty per item of the same author or category already placed higher "
                    "(scores scaled to [0, 1] within the request); 0 keeps the score order.")
    seen_window_hours: float = Field(
        default=72.0, gt=0, description="Already-seen filter: items shown to the user in the last N hours are dropped.")
    fatigue_max_impressions: int = Field(
        default=6, ge=1, description="Fatigue filter: an author already shown N times to a user is dropped for them.")
    fatigue_window_hours: float = Field(default=24.0, gt=0, description="Fatigue filter: hours of impressions counted.")
    recency_half_life_hours: float = Field(
        default=24.0, gt=0, description="Recency fallback scorer: age at which an item's score halves.")
    hotlist_window_hours: float = Field(
        default=48.0, gt=0, description="Hotlist candidates: board posts created in the last N hours.")
    hotlist_half_life_hours: float = Field(
        default=12.0, gt=0, description="Hotlist freshness decay: age at which a post's score halves.")
    budget_ms: StageBudgets = Field(default_factory=StageBudgets, description="Per-request stage budgets.")
