"""Response schema of ``GET /amplification`` (the operator's view of the gate)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class GateLevel(BaseModel):
    """One level of the amplification gate: the live fans-only posts it holds and, for a public pool, its capacity
    and fill."""

    level: str = Field(description="private, probe, pool 1, pool 2 or hotlist (the top public pool).")
    posts: int = Field(description="Live fans-only posts at this level.")
    capacity: int | None = Field(description="Most posts the level holds at once (public pools only).")
    fill: float | None = Field(description="posts / capacity.")
    admitted_per_pass: int | None = Field(None, description="Probe admissions per gate pass (probe only).")


class BoardPost(BaseModel):
    """A post on the hotlist board with its author (null when the gate does not know the post), weight, gate level
    and the reason it is there."""

    post_id: int
    account_id: int | None
    weight: float = Field(description="Board weight: the hotlist ranks by weight × freshness decay.")
    official: bool
    level: str = Field(description="The gate level of an amplified post; 'public' for official and public posts.")
    reason: str = Field(description="Why the post is on the hotlist, in words a seller understands.")


class GateMove(BaseModel):
    """A level change made by a gate pass at ``at_ms`` (service clock, milliseconds since the Unix epoch): levels
    ``from`` and ``to``, and the gate's reason."""

    post_id: int
    at_ms: int
    from_: str = Field(alias="from")
    to: str
    reason: str


class AmplificationResponse(BaseModel):
    """Answer of ``GET /amplification`` (JSON): the gate as of ``now_ms`` (service clock, milliseconds since the
    Unix epoch); ``hotlist_size`` counts the whole board."""

    now_ms: int
    last_pass_ms: int | None = Field(description="Service-clock time of the gate's last pass.")
    live_posts: int
    levels: list[GateLevel]
    hotlist: list[BoardPost] = Field(description="The heaviest board posts, heaviest first.")
    hotlist_size: int
    transitions: list[GateMove] = Field(description="The latest level changes, newest first.")
