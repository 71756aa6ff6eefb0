"""``scorers/hot``: the hotlist's score, board weight decayed by age."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.base import FailPolicy, RankContext, Scorer
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch

HOUR_MS = 3_600_000


@dataclass(frozen=True, kw_only=True)
class HotScorer(Scorer):
    """``board_weight * 0.5 ** (age_hours / half_life_hours)``: a higher pool ranks higher, and fresher."""

    half_life_hours: float = 12.0
    name: str = "scorers/hot"
    fail: FailPolicy = "open"

    def score(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> np.ndarray:
        age_h = np.maximum(requests.now_ms[frame.request] - frame.created_ms, 0) / HOUR_MS
        weight = np.asarray(frame.extra.get("board_weight", np.ones(len(frame))), dtype=np.float64)
        return weight * np.power(0.5, age_h / self.half_life_hours)
