"""Business rules: the shared contract, and known answers."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.base import RankContext
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch
from ranking.rules.author_cap import AuthorCap
from ranking.rules.diversity import Diversity
from ranking.rules.preferred_shop import PreferredShopBoost, preferred_reason
from ranking.selectors.top_k import TopK
from ranking.sources.provided import ProvidedCandidates
from tests.ranking.contract import RuleContract
from tests.ranking.worlds import FAN, NEWFAN, NOW, requests, tiny_catalog


class TestPreferredShopContract(RuleContract):
    def make(self) -> PreferredShopBoost:
        return PreferredShopBoost()


class TestAuthorCapContract(RuleContract):
    def make(self) -> AuthorCap:
        return AuthorCap(max_per_author=1)


class TestDiversityContract(RuleContract):
    def make(self) -> Diversity:
        return Diversity(weight=0.5)


def ctx() -> RankContext:
    return RankContext(catalog=tiny_catalog())


def hand_frame(author: list[int], category: list[int], score: list[float],
               request: list[int] | None = None) -> CandidateFrame:
    n = len(author)
    return CandidateFrame(request=request or [0] * n, item_id=np.arange(n), item_type=np.zeros(n),
                          author_id=author, category=category, created_ms=np.full(n, NOW - 1),
                          visibility=np.ones(n), score=score)


def test_preferred_shop_content_to_fans_is_weighted_and_the_weight_recorded() -> None:
    batch = requests([FAN, NEWFAN], candidates=[[11, 22, 12], [11, 42]])
    frame = ProvidedCandidates().fetch(batch, ctx()).with_score(np.array([1.0, 1.0, -1.0, 1.0, 1.0]))
    out = PreferredShopBoost(weight=1.2).apply(frame, batch, ctx())
    # Posts 11 and 12 are by account 1, a preferred shop that FAN follows; NEWFAN follows it only from NOW + 1h.
    assert out.score == pytest.approx([1.2, 1.0, -0.8, 1.0, 1.0])
    assert out.extra["preferred_weight"].tolist() == [1.2, 1.0, 1.2, 1.0, 1.0]
    assert out.has_reason("preferred shop ×1.2").tolist() == [True, False, True, False, False]
    assert out.explain(0) == ["preferred shop ×1.2"] and out.explain(1) == []
    top = PreferredShopBoost(weight=1.25).apply(frame, batch, ctx())
    assert top.score[0] == pytest.approx(1.25)
    assert top.explain(0) == [preferred_reason(1.25)] == ["preferred shop ×1.25"]


def test_author_cap_keeps_each_authors_best_rows_per_request() -> None:
    frame = hand_frame([1, 1, 2, 1, 2, 3, 1], [0] * 7, [0.5, 0.9, 0.8, 0.7, 0.1, 0.3, 0.9],
                       request=[0, 0, 0, 0, 0, 0, 1])
    batch = RequestBatch("follow_feed", np.array([FAN, FAN]), 10, NOW)
    out = AuthorCap(max_per_author=2).apply(frame, batch, ctx())
    # Request 0: author 1 keeps its two best (0.9, 0.7), author 2 keeps both; request 1 is its own page.
    assert out.item_id.tolist() == [1, 2, 3, 4, 5, 6]
    assert out.has_reason("author cap").tolist() == [True, False, True, False, False, False]
    one = AuthorCap(max_per_author=1).apply(frame, batch, ctx())
    assert one.item_id.tolist() == [1, 2, 5, 6]


def test_diversity_spreads_authors_and_categories_deterministically() -> None:
    frame = hand_frame([7, 7, 7, 8, 9], [1, 1, 1, 2, 3], [1.0, 0.9, 0.8, 0.7, 0.6])
    batch = RequestBatch("follow_feed", np.array([FAN]), 5, NOW)
    out = Diversity(weight=0.5).apply(frame, batch, ctx())
    # Scaled relevance 1, .75, .5, .25, 0; after row 0, rows 1 and 2 pay 0.5 × (1 author + 1 category).
    assert out.item_id.tolist() == [0, 3, 4, 1, 2]
    assert out.score.tolist() == [1.0, 0.9, 0.8, 0.7, 0.6]  # the request's scores, handed out in the new order
    assert out.extra["pre_diversity_score"].tolist() == [1.0, 0.7, 0.6, 0.9, 0.8]
    assert out.has_reason("diversity re-rank").tolist() == [False, True, True, True, True]
    page = TopK().select(out, RequestBatch("follow_feed", np.array([FAN]), 3, NOW), ctx())
    assert page.item_id.tolist() == [0, 3, 4]
    assert Diversity(weight=0.0).apply(frame, batch, ctx()) is frame


def test_diversity_places_only_the_page_and_keeps_score_order_below_it() -> None:
    frame = hand_frame([7, 7, 7, 8, 9], [1, 1, 1, 2, 3], [1.0, 0.9, 0.8, 0.7, 0.6])
    batch = RequestBatch("follow_feed", np.array([FAN]), 2, NOW)
    out = Diversity(weight=0.5).apply(frame, batch, ctx())
    assert out.item_id.tolist() == [0, 3, 1, 2, 4]


def test_diversity_ties_go_to_the_earlier_row() -> None:
    frame = hand_frame([1, 2, 3, 4], [1, 2, 3, 4], [0.5, 0.5, 0.5, 0.5])
    out = Diversity(weight=0.3).apply(frame, RequestBatch("follow_feed", np.array([FAN]), 4, NOW), ctx())
    assert out.item_id.tolist() == [0, 1, 2, 3] and not out.has_reason("diversity re-rank").any()


@pytest.mark.parametrize("seed", [3, 4, 5])
@pytest.mark.parametrize("k", [1, 7, 40, 300])
def test_diversity_of_one_request_matches_the_batch_walk(k: int, seed: int) -> None:
    # One request takes a faster walk (lazy greedy); a batch of two copies takes the general one: same order
    # and scores.
    rng = np.random.default_rng(seed)
    n = 200
    author, category = rng.integers(0, 60 // (seed - 2), n).tolist(), rng.integers(0, 6, n).tolist()
    score = np.round(rng.random(n), 2).tolist()  # rounded: many ties, which must break alike
    one = hand_frame(author, category, score)
    two = hand_frame(author * 2, category * 2, score * 2, request=[0] * n + [1] * n)
    rule = Diversity(weight=0.3)
    single = rule.apply(one, RequestBatch("follow_feed", np.array([FAN]), k, NOW), ctx())
    batch = rule.apply(two, RequestBatch("follow_feed", np.array([FAN, FAN]), k, NOW), ctx())
    for r in (0, 1):
        rows = batch.request == r
        assert (batch.item_id[rows] % n).tolist() == single.item_id.tolist()
        assert batch.score[rows].tolist() == single.score.tolist()
        assert batch.reasons[rows].tolist() == single.reasons.tolist()
