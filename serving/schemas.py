"""Request and response bodies of the HTTP API (separate from the domain types they are mapped to)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

Slot = Literal["follow_feed", "new_arrival", "hotlist"]
INT64_MAX = 2**63 - 1
Id = Annotated[StrictInt, Field(ge=0, le=INT64_MAX)]  # ids are stored as int64: larger ones are a 422 here
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
ContextValue = StrictInt | FiniteFloat | StrictStr | StrictBool | None


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer: what is wrong, naming the field when a field is."""

    detail: str
    errors: list[str] | None = Field(None, description="One line per invalid field (validation errors).")


class RankBody(BaseModel):
    """``POST /rank``: one page for one user in one slot."""

    model_config = ConfigDict(extra="forbid")

    user_id: StrictInt = Field(ge=0, le=INT64_MAX, description="The user the page is for.")
    slot: Slot = Field(description="follow_feed (关注动态), new_arrival (宝贝上新) or hotlist (精选热榜).")
    k: StrictInt = Field(10, ge=1, le=1_000, description="Items wanted (at most serving.max_k).")
    candidates: list[Id] | None = Field(
        None, max_length=100_000, description="Item ids the caller already has (posts, or products for "
        "new_arrival); ranked with the slot's own candidates. Omit rather than send an empty list.")
    context: dict[StrictStr, ContextValue] = Field(
        default_factory=dict, max_length=64, description="Free-form request data, logged with the page; "
        "context.now_ms pins the request time (replays).")


class RankedItem(BaseModel):
    id: int
    type: Literal["post", "product"]
    score: float
    position: int
    propensity: float = Field(description="Probability that this policy puts this item at this position.")
    reasons: list[str]


class RankResponse(BaseModel):
    request_id: str
    model_version: str
    fallback: str | None = Field(description="null when personalised; else recency, stale or popular.")
    items: list[RankedItem]


class EventsBody(BaseModel):
    """``POST /events``: a batch of events in the contract's columns (see the README's events table)."""

    model_config = ConfigDict(extra="forbid")

    events: list[dict[StrictStr, ContextValue]] = Field(min_length=1, max_length=100_000)


class QuarantinedEvent(BaseModel):
    row: dict[str, object]
    reason: str


class EventsResponse(BaseModel):
    rows_in: int
    accepted: int
    duplicates: int
    quarantined: list[QuarantinedEvent]
    pending: int = Field(0, description="Accepted rows logged durably but not yet applied (online store down).")


class ReadyResponse(BaseModel):
    ready: bool
    degraded: bool = Field(description="True while the service answers but not fully: a store is down (model "
                           "slots fall back) or accepted events wait to be applied; it recovers by itself.")
    detail: str
    model_versions: dict[str, str]
    compiled: dict[str, bool] = Field(default_factory=dict, description="Whether each slot's model runs compiled.")


class ReloadResponse(BaseModel):
    reloaded: bool
    model_versions: dict[str, str]
    detail: str


class PromoteBody(BaseModel):
    """``POST /admin/promote``: move a slot's serving alias, then reload."""

    model_config = ConfigDict(extra="forbid")

    slot: Literal["follow_feed", "new_arrival"]
    action: Literal["promote", "rollback"] = Field(
        "promote", description="promote: the challenger becomes champion if it beats it on the held-out metric; "
        "rollback: the previous champion returns.")


class PromoteResponse(BaseModel):
    slot: str
    action: str
    moved: bool
    reason: str
    champion_before: int | None
    champion_after: int | None
    reloaded: bool
    model_versions: dict[str, str]


class AccountSummary(BaseModel):
    account_id: int
    kind: str
    tier: str
    tier_state: str | None
    preferred_shop: bool
    acct_followers: float | None = Field(description="Fans now.")
    acct_fan_engagement_rate_30d: float | None = Field(description="The account's own baseline: engagements / "
                                                       "impressions of its posts among fans, 30 days.")
    acct_offsite_share_30d: float | None
    acct_fan_revisit_rate_30d: float | None
    link_lead_visits_30d: float | None
    link_interlock_rate_30d: float | None
    link_engage_rate_30d: float | None
    link_keep_rate_30d: float | None
    category: int | None = Field(None, description="The account's main category (-1 if unknown).")


class PostInsight(BaseModel):
    post_id: int
    created_ms: int
    visibility: Literal["fans_only", "public"]
    status: str = Field(description="hotlist (official pick), hotlist (amplified), fans only or public.")
    post_fan_impressions: float | None
    post_fan_clicks: float | None
    post_fan_engagement_rate: float | None
    post_nonfan_impressions: float | None
    post_nonfan_clicks: float | None
    post_nonfan_engagement_rate: float | None
    post_rate_vs_account: float | None = Field(description="Fan engagement rate / the account's baseline.")
    post_rate_vs_tier: float | None = Field(description="Engagement rate / the tier × kind × format baseline.")
    why: list[str] = Field(description="For a fans-only post not on the hotlist: the amplification criteria "
                           "with this post's numbers.")


class FunnelStage(BaseModel):
    stage: Literal["LEAD", "INTERLOCK", "ENGAGE", "KEEP"]
    label: str = Field(description="visitors brought in, became fans, came back, bought again.")
    count: float | None = Field(description="Visits, follows, fan revisits (30 d); None for KEEP (rate only).")
    rate: float | None = Field(description="The stage's rate (see rate_means); None for LEAD.")
    rate_means: str


class FanRevisit(BaseModel):
    rate_30d: float | None = Field(description="Account-page visits by fans in 30 days per fan.")
    fans: float | None
    fan_visits_30d: float | None
    means: str


class HourStat(BaseModel):
    hour: int = Field(description="Publication hour of day, UTC+8.")
    posts: int
    fan_impressions: float
    fan_engagements: float
    rate: float | None = Field(description="Fan engagements / fan impressions of the posts published this hour.")
    low: float | None = Field(description="95 % Wilson interval, lower end.")
    high: float | None = Field(description="95 % Wilson interval, upper end.")
    p_best: float = Field(description="Probability this hour has the highest true rate (Beta posteriors).")


class PostingHours(BaseModel):
    hours: list[HourStat]
    best_hour: int | None
    p_best: float | None = Field(description="Probability the best hour really is the best.")
    posts_used: int
    summary: str


class TierCondition(BaseModel):
    metric: str
    label: str
    need: float
    have: float | None = Field(description="The live figure; None when only the monthly assessment measures it.")
    met: bool | None
    for_: str = Field(alias="for", description="Which rule asks for it, e.g. 'W3 entry' or 'W2 state excellent'.")


class TierProgress(BaseModel):
    tier: str
    state: str | None
    next_tier: str | None
    conditions: list[TierCondition]
    summary: str


class AmplifiedPost(BaseModel):
    post_id: int
    created_ms: int
    level: str = Field(description="fans only, public, seen by non-fans, hotlist (amplified) or (official pick).")
    fan_impressions: float
    nonfan_impressions: float
    reason_code: int = Field(description="The gate reason code the figures imply (-1: public from the start).")
    reason: str


class Amplification(BaseModel):
    posts: list[AmplifiedPost] = Field(description="Every post of the account, oldest first.")
    counts: dict[str, int] = Field(description="Posts per level.")


class PeerStats(BaseModel):
    peers: int = Field(description="Other accounts of the group with this figure.")
    q1: float | None
    median: float | None
    q3: float | None
    share_below: float | None = Field(description="Share of the peers below the account (ties count half).")


class PeerFigure(BaseModel):
    field: str
    value: float | None
    tier: PeerStats
    category: PeerStats


class Peers(BaseModel):
    tier: str
    category: int
    figures: list[PeerFigure]


class InsightsResponse(BaseModel):
    account: AccountSummary
    posts: list[PostInsight]
    as_of_ms: int
    funnel: list[FunnelStage] = Field(description="LINK+: LEAD, INTERLOCK, ENGAGE, KEEP (30 days).")
    fan_revisit: FanRevisit
    posting_hours: PostingHours
    tier_progress: TierProgress
    amplification: Amplification
    peers: Peers = Field(description="Every account figure beside the same tier's and the same category's.")


class HotlistItem(BaseModel):
    id: int
    weight: float
    official: bool


class HotlistResponse(BaseModel):
    items: list[HotlistItem]
