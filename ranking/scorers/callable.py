"""``scorers/callable``: any function ``frame -> scores`` as a slot's scorer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ranking.base import FailPolicy, RankContext, Scorer
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch


@dataclass(frozen=True, kw_only=True)
class CallableScorer(Scorer):
    """Scores with ``fn(frame)``, which returns one float per row (a model's predict, a baseline, a test stub).

    Fails open by default, so a slot with a ``fallback_scorer`` keeps serving when the model breaks.
    """

    fn: Callable[[CandidateFrame], np.ndarray]
    name: str = "scorers/callable"
    fail: FailPolicy = "open"

    def score(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> np.ndarray:
        return np.asarray(self.fn(frame), dtype=np.float64)
