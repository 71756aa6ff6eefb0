"""``filters/fatigue``: cross-session author fatigue. Drops (does not down-weight)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.base import FailPolicy, Filter, RankContext
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch

HOUR_MS = 3_600_000


@dataclass(frozen=True, kw_only=True)
class AuthorFatigue(Filter):
    """Drops every item of an author the user already had ``max_impressions`` impressions of in the last
    ``window_hours`` (earlier sessions, from ``ctx.seen``).

    Declared to drop rather than down-weight: a filter is a keep/drop decision taken before scoring, and a
    weight would need the score. Within the page, ``rules/author_cap`` bounds how far one page can go over.
    Fails open.
    """

    max_impressions: int = 6
    window_hours: float = 24.0
    name: str = "filters/fatigue"
    fail: FailPolicy = "open"

    def keep(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> np.ndarray:
        now = requests.now_ms[frame.request]
        shown = ctx.seen.author_impressions(requests.user_id[frame.request], frame.author_id,
                                            now - int(self.window_hours * HOUR_MS), now)
        return np.asarray(shown) < self.max_impressions
