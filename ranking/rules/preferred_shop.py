"""``rules/preferred_shop``: private-domain content of preferred shops (优选好店) is weighted up."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.base import FailPolicy, RankContext, Rule
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch


def preferred_reason(weight: float) -> str:
    """The reason text recorded on a boosted row, e.g. ``"preferred shop ×1.2"``."""
    return f"preferred shop ×{weight:g}"


@dataclass(frozen=True, kw_only=True)
class PreferredShopBoost(Rule):
    """Multiplies by ``weight`` the score of rows whose author is a certified preferred shop and whose user is
    that author's fan at the request time (the account's private domain: content reaching its fans).

    Scores may be negative (raw model margins), so the boost adds ``(weight - 1) × |score|``: ×weight for a
    positive score, and always a move up. Each boosted row gets the reason :func:`preferred_reason` and the
    ``preferred_weight`` column (1.0 elsewhere), so the weight is logged with every served item.
    """

    weight: float = 1.2
    name: str = "rules/preferred_shop"
    fail: FailPolicy = "open"

    def apply(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> CandidateFrame:
        boost = ctx.catalog.preferred(frame.author_id)
        if boost.any():
            req = frame.request[boost]
            boost[boost] = ctx.catalog.is_fan(requests.user_id[req], frame.author_id[boost], requests.now_ms[req])
        factor = np.where(boost, self.weight, 1.0)
        score = frame.score + (factor - 1.0) * np.abs(frame.score)
        return frame.with_score(score).with_columns(preferred_weight=factor).with_reason(
            boost, preferred_reason(self.weight))
