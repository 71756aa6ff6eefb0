"""The top-k selector and the scorers: the shared contracts and known answers."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.base import RankContext
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch
from ranking.scorers.callable import CallableScorer
from ranking.scorers.recency import RecencyScorer
from ranking.selectors.top_k import TopK
from tests.ranking.contract import ScorerContract, SelectorContract
from tests.ranking.worlds import FAN, HOUR, NOW, tiny_catalog


class TestTopKContract(SelectorContract):
    def make(self) -> TopK:
        return TopK()


class TestCallableScorerContract(ScorerContract):
    def make(self) -> CallableScorer:
        return CallableScorer(fn=lambda f: f.item_id % 7 / 7.0)


class TestRecencyScorerContract(ScorerContract):
    def make(self) -> RecencyScorer:
        return RecencyScorer()


def test_top_k_writes_positions_best_first_with_stable_ties_and_per_request_k() -> None:
    score = [0.1, 0.5, 0.5, 0.9, 0.3, 0.8, 0.2]
    n = len(score)
    frame = CandidateFrame(request=[0, 0, 0, 0, 1, 1, 2], item_id=np.arange(n), item_type=np.zeros(n),
                           author_id=np.arange(n), category=np.zeros(n), created_ms=np.zeros(n),
                           visibility=np.ones(n), score=score)
    batch = RequestBatch("follow_feed", np.array([FAN, FAN, FAN]), np.array([3, 5, 0]), NOW)
    page = TopK().select(frame, batch, RankContext(catalog=tiny_catalog()))
    assert page.item_id.tolist() == [3, 1, 2, 5, 4]
    assert page.extra["position"].tolist() == [0, 1, 2, 0, 1]
    assert page.request.tolist() == [0, 0, 0, 1, 1]


def test_recency_halves_per_half_life_and_the_callable_scores_the_frame() -> None:
    n = 3
    frame = CandidateFrame(request=[0, 0, 0], item_id=[5, 6, 7], item_type=np.zeros(n), author_id=np.zeros(n),
                           category=np.zeros(n), created_ms=[NOW, NOW - 24 * HOUR, NOW - 48 * HOUR],
                           visibility=np.ones(n), score=np.zeros(n))
    batch = RequestBatch("follow_feed", np.array([FAN]), 3, NOW)
    ctx = RankContext(catalog=tiny_catalog())
    assert RecencyScorer(half_life_hours=24).score(frame, batch, ctx) == pytest.approx([1.0, 0.5, 0.25])
    weighted = RecencyScorer(half_life_hours=24, weight_column="w")
    assert weighted.score(frame.with_columns(w=np.array([1.0, 4.0, 2.0])), batch, ctx) == pytest.approx([1.0, 2.0, 0.5])
    assert CallableScorer(fn=lambda f: f.item_id * 2.0).score(frame, batch, ctx).tolist() == [10.0, 12.0, 14.0]
