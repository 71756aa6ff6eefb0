"""The slot declarations: which components, in which order, configured from settings.

A slot is data; :class:`~ranking.runner.Runner` runs it. The scorer (the model) is passed in, so the same
declaration serves a LightGBM ranker in the service, a baseline in the simulated world and a stub in tests.
Filters run cheapest-and-strictest first: privacy and penalty before the history look-ups.
"""

from __future__ import annotations

from ranking.base import Scorer, SlotDefinition
from ranking.filters.already_seen import AlreadySeen
from ranking.filters.fatigue import AuthorFatigue
from ranking.filters.h1_excluded import H1Excluded
from ranking.filters.visibility import VisibilityFilter
from ranking.hotlist import HotlistBoard
from ranking.rules.author_cap import AuthorCap
from ranking.rules.diversity import Diversity
from ranking.rules.preferred_shop import PreferredShopBoost
from ranking.scorers.recency import RecencyScorer
from ranking.selectors.top_k import TopK
from ranking.settings import RankingSettings
from ranking.sources.following_posts import FollowingPosts
from ranking.sources.hotlist import HotlistPosts
from ranking.sources.new_arrivals import NewArrivals
from ranking.sources.provided import ProvidedCandidates


def _history_filters(settings: RankingSettings) -> tuple[AlreadySeen, AuthorFatigue]:
    return (AlreadySeen(window_hours=settings.seen_window_hours),
            AuthorFatigue(max_impressions=settings.fatigue_max_impressions,
                          window_hours=settings.fatigue_window_hours))


def _rules(settings: RankingSettings) -> tuple[PreferredShopBoost, AuthorCap, Diversity]:
    return (PreferredShopBoost(weight=settings.preferred_weight), AuthorCap(max_per_author=settings.author_cap),
            Diversity(weight=settings.diversity_weight))


def _fallback(settings: RankingSettings, scorer: Scorer) -> RecencyScorer | None:
    fallback = RecencyScorer(half_life_hours=settings.recency_half_life_hours)
    return None if scorer.name == fallback.name else fallback  # recency cannot stand in for itself


def follow_feed_slot(settings: RankingSettings, scorer: Scorer) -> SlotDefinition:
    """关注动态: recent posts of followed accounts (plus any ids the request brings), fans-only kept to fans."""
    return SlotDefinition(
        name="follow_feed",
        sources=(FollowingPosts(window_hours=settings.follow_feed_window_hours, limit=settings.source_limit),
                 ProvidedCandidates(item_type="post")),
        filters=(VisibilityFilter(), H1Excluded(), *_history_filters(settings)),
        scorer=scorer,
        fallback_scorer=_fallback(settings, scorer),
        rules=_rules(settings),
        selectors=(TopK(),),
    )


def new_arrival_slot(settings: RankingSettings, scorer: Scorer) -> SlotDefinition:
    """宝贝上新: products newly launched by followed shops (plus any ids the request brings)."""
    return SlotDefinition(
        name="new_arrival",
        sources=(NewArrivals(window_days=settings.new_arrival_window_days, limit=settings.source_limit),
                 ProvidedCandidates(item_type="product")),
        # Products are public, so there is no visibility filter; H1 shops still never show.
        filters=(H1Excluded(), *_history_filters(settings)),
        scorer=scorer,
        fallback_scorer=_fallback(settings, scorer),
        rules=_rules(settings),
        selectors=(TopK(),),
    )


def hotlist_slot(settings: RankingSettings, board: HotlistBoard, scorer: Scorer | None = None) -> SlotDefinition:
    """精选热榜: the board's official picks and amplified posts, freshness-decayed, diverse across authors."""
    scorer = scorer or RecencyScorer(name="scorers/hot", half_life_hours=settings.hotlist_half_life_hours,
                                     weight_column="board_weight")
    return SlotDefinition(
        name="hotlist",
        sources=(HotlistPosts(board=board, window_hours=settings.hotlist_window_hours),),
        filters=(VisibilityFilter(), H1Excluded(), *_history_filters(settings)),
        scorer=scorer,
        fallback_scorer=_fallback(settings, scorer),
        rules=_rules(settings),
        selectors=(TopK(),),
    )
