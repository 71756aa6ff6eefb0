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

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"user_id": 5, "slot": "follow_feed", "k": 10},
        {"user_id": 5, "slot": "new_arrival", "k": 3, "candidates": [7627, 1810, 9462],
         "context": {"now_ms": 1795996800000, "app_version": "10.4.0"}},
    ]})

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
    """One item of a ``/rank`` page: a post, or a product in new_arrival. ``position`` is 0-based; ``score`` is the
    ranking score of whichever policy answered (see ``fallback``); ``reasons`` are readable explanations."""

    id: int
    type: Literal["post", "product"]
    score: float
    position: int
    propensity: float = Field(description="Probability that this policy puts this item at this position.")
    reasons: list[str]


class RankResponse(BaseModel):
    """Answer of ``POST /rank``: the page in position order, the version of the slot's model (``rules:hot-decay``
    for the hotlist) and ``request_id``, which identifies the page in the page log."""

    request_id: str
    model_version: str
    fallback: str | None = Field(description="null when personalised; else recency, stale or popular.")
    items: list[RankedItem]


class EventsBody(BaseModel):
    """``POST /events``: a batch of events in the contract's columns (see the README's events table)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"events": [
        {"event_id": 900000000000001, "user_id": 5, "target_type": "post", "target_id": 3734, "action": "click",
         "slot": "follow_feed", "source": "in_app", "event_time": "2026-11-26T12:00:00Z", "position": 0},
    ]}]})

    events: list[dict[StrictStr, ContextValue]] = Field(min_length=1, max_length=100_000)


class QuarantinedEvent(BaseModel):
    """An event row ``POST /events`` refused: the row as sent and why it breaks the events contract."""

    row: dict[str, object]
    reason: str


class EventsResponse(BaseModel):
    """Answer of ``POST /events``: ``rows_in`` = ``accepted`` + ``duplicates`` (replays of events already seen,
    which change nothing) + the quarantined rows."""

    rows_in: int
    accepted: int
    duplicates: int
    quarantined: list[QuarantinedEvent]
    pending: int = Field(0, description="Accepted rows logged durably but not yet applied (online store down).")


class ReadyResponse(BaseModel):
    """Answer of ``GET /ready`` (status 503 until ``ready``): the model version serving each slot; ``detail`` is
    loading, ready, draining (stopping soon), what degrades the service, or the load error."""

    ready: bool
    degraded: bool = Field(description="True while the service answers but not fully: a store is down (model "
                           "slots fall back) or accepted events wait to be applied; it recovers by itself.")
    detail: str
    model_versions: dict[str, str]
    compiled: dict[str, bool] = Field(default_factory=dict, description="Whether each slot's model runs compiled.")


class ReloadResponse(BaseModel):
    """Answer of ``POST /admin/reload`` (409 when a model failed to load and the previous one keeps serving): the
    model version serving each slot now."""

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
    """Answer of ``POST /admin/promote``: whether the slot's alias moved and why, the champion's registry version
    before and after (null: none), and whether this worker reloaded."""

    slot: str
    action: str
    moved: bool
    reason: str
    champion_before: int | None
    champion_after: int | None
    reloaded: bool
    model_versions: dict[str, str]


class AccountSummary(BaseModel):
    """An account's catalogue attributes and live figures (the online features the ranker reads; 30-day windows
    where named, rates and shares as fractions). A figure is null when the service has none; ``tier_state`` is null
    for W1 and H1."""

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
    """One of the account's newest posts (newest first): fan and non-fan reach and engagement since publication, and
    hotlist status. ``created_ms`` is milliseconds since the Unix epoch."""

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
    """One stage of the account's LINK+ funnel over the last 30 days."""

    stage: Literal["LEAD", "INTERLOCK", "ENGAGE", "KEEP"]
    label: str = Field(description="visitors brought in, became fans, came back, bought again.")
    count: float | None = Field(description="Visits, follows, fan revisits (30 d); None for KEEP (rate only).")
    rate: float | None = Field(description="The stage's rate (see rate_means); None for LEAD.")
    rate_means: str


class FanRevisit(BaseModel):
    """The account's 30-day fan revisit rate with the counts behind it; ``means`` says it in words."""

    rate_30d: float | None = Field(description="Account-page visits by fans in 30 days per fan.")
    fans: float | None
    fan_visits_30d: float | None
    means: str


class HourStat(BaseModel):
    """Fan engagement of the account's posts published in one hour of the day; ``rate``, ``low`` and ``high`` are
    null for an hour without fan impressions."""

    hour: int = Field(description="Publication hour of day, UTC+8.")
    posts: int
    fan_impressions: float
    fan_engagements: float
    rate: float | None = Field(description="Fan engagements / fan impressions of the posts published this hour.")
    low: float | None = Field(description="95 % Wilson interval, lower end.")
    high: float | None = Field(description="95 % Wilson interval, upper end.")
    p_best: float = Field(description="Probability this hour has the highest true rate (Beta posteriors).")


class PostingHours(BaseModel):
    """Best posting hour: the 24 hours (0-23, UTC+8) in order and the one most likely to have the highest fan
    engagement rate; ``best_hour`` and ``p_best`` are null until fans have seen a post."""

    hours: list[HourStat]
    best_hour: int | None
    p_best: float | None = Field(description="Probability the best hour really is the best.")
    posts_used: int
    summary: str


class TierCondition(BaseModel):
    """A condition of the next monthly tier assessment: the level needed beside the account's live figure (rates as
    fractions, fans and purchases as counts); ``met`` is null without a live figure."""

    metric: str
    label: str
    need: float
    have: float | None = Field(description="The live figure; None when only the monthly assessment measures it.")
    met: bool | None
    for_: str = Field(alias="for", description="Which rule asks for it, e.g. 'W3 entry' or 'W2 state excellent'.")


class TierProgress(BaseModel):
    """The account's tier and state, the next tier (null at W4, the top) and what the next monthly assessment asks
    for, with a one-sentence summary."""

    tier: str
    state: str | None
    next_tier: str | None
    conditions: list[TierCondition]
    summary: str


class AmplifiedPost(BaseModel):
    """One post of the account's amplification history: how far it got and the gate's reason in words.
    ``created_ms`` is milliseconds since the Unix epoch; impressions are counts since publication."""

    post_id: int
    created_ms: int
    level: str = Field(description="fans only, public, seen by non-fans, hotlist (amplified) or (official pick).")
    fan_impressions: float
    nonfan_impressions: float
    reason_code: int = Field(description="The gate reason code the figures imply (-1: public from the start).")
    reason: str


class Amplification(BaseModel):
    """How far each post of the account was amplified, and how many posts reached each level."""

    posts: list[AmplifiedPost] = Field(description="Every post of the account, oldest first.")
    counts: dict[str, int] = Field(description="Posts per level.")


class PeerStats(BaseModel):
    """An account figure among its peers (the other accounts of the group with a value): quartiles and where the
    account stands; null where no peer has a value."""

    peers: int = Field(description="Other accounts of the group with this figure.")
    q1: float | None
    median: float | None
    q3: float | None
    share_below: float | None = Field(description="Share of the peers below the account (ties count half).")


class PeerFigure(BaseModel):
    """One account figure (``field``, as in the account summary) beside its tier peers and its category peers;
    ``value`` is null when the account has none."""

    field: str
    value: float | None
    tier: PeerStats
    category: PeerStats


class Peers(BaseModel):
    """Every account figure compared with the other accounts of the same tier and the same main category."""

    tier: str
    category: int
    figures: list[PeerFigure]


class InsightsResponse(BaseModel):
    """Answer of ``GET /accounts/{account_id}/insights`` (JSON): what a seller sees of the account, as of
    ``as_of_ms`` (service clock, milliseconds since the Unix epoch)."""

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
    """A post on the hotlist board. ``weight`` is how strongly the hotlist shows it: for a post the gate put there,
    its reach (log of its impressions) times its level's share of the top level; for a post already on the
    hotlist when the data ends, the log of its recent hotlist impressions; 1 for an official pick. ``official``
    is true for an official pick."""

    id: int
    weight: float
    official: bool


class HotlistResponse(BaseModel):
    """Answer of ``GET /hotlist``: every post on the board now, heaviest first."""

    items: list[HotlistItem]
