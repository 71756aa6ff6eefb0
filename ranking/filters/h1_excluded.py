"""``filters/h1_excluded``: nothing of an account in the H1 penalty box (小黑屋) is served. Fails closed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.contract import code
from ranking.base import FailPolicy, Filter, RankContext
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch

H1 = code("tier", "H1")


@dataclass(frozen=True, kw_only=True)
class H1Excluded(Filter):
    """Drops posts and products whose author's current tier is H1.

    Fails closed with no safe subset: if tiers cannot be read, no row can be shown to be outside the
    penalty box, so none is served.
    """

    name: str = "filters/h1_excluded"
    fail: FailPolicy = "closed"

    def keep(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> np.ndarray:
        return ctx.catalog.tier(frame.author_id) != H1
