"""``filters/already_seen``: items the user was shown in earlier sessions are not shown again."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.base import FailPolicy, Filter, RankContext
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch

HOUR_MS = 3_600_000


@dataclass(frozen=True, kw_only=True)
class AlreadySeen(Filter):
    """Drops items the user had an impression of in ``[now - window_hours, now)`` (from ``ctx.seen``).

    Fails open: showing an item twice is a small harm next to an empty page.
    """

    window_hours: float = 72.0
    name: str = "filters/already_seen"
    fail: FailPolicy = "open"

    def keep(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> np.ndarray:
        now = requests.now_ms[frame.request]
        seen = ctx.seen.seen(requests.user_id[frame.request], frame.item_type, frame.item_id,
                             now - int(self.window_hours * HOUR_MS), now)
        return ~np.asarray(seen, dtype=bool)
