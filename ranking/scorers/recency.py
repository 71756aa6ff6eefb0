"""``scorers/recency``: newer is better; the fallback when a model cannot score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.base import FailPolicy, RankContext, Scorer
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch

HOUR_MS = 3_600_000


@dataclass(frozen=True, kw_only=True)
class RecencyScorer(Scorer):
    """``0.5 ** (age_hours / half_life_hours)``: 1 for an item created at the request time, halving with age.

    Positive, so multiplicative rules act as weights on it. With ``weight_column`` the decay multiplies that
    extra column of the frame (the hotlist's board weight: a higher pool ranks higher, and fresher).
    """

    half_life_hours: float = 24.0
    weight_column: str | None = None
    name: str = "scorers/recency"
    fail: FailPolicy = "open"

    def score(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> np.ndarray:
        age_h = np.maximum(requests.now_ms[frame.request] - frame.created_ms, 0) / HOUR_MS
        decay = np.power(0.5, age_h / self.half_life_hours)
        if self.weight_column is None:
            return decay
        return np.asarray(frame.extra[self.weight_column], dtype=np.float64) * decay
