"""Slot declarations and the ranking settings they are built from."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ranking.scorers.callable import CallableScorer
from ranking.scorers.recency import RecencyScorer
from ranking.settings import RankingSettings
from ranking.slots import follow_feed_slot, new_arrival_slot
from weitao.settings import SettingsError, describe, load_settings

MODEL = CallableScorer(name="scorers/model", fn=lambda f: f.score)


@pytest.mark.parametrize("weight", [1.19, 1.26, 1.0])
def test_preferred_weight_outside_the_handbook_range_is_refused(weight: float) -> None:
    with pytest.raises(ValidationError, match="preferred_weight"):
        RankingSettings(preferred_weight=weight)
    with pytest.raises(SettingsError, match=r"ranking\.preferred_weight"):
        load_settings(ranking={"preferred_weight": weight})


def test_ranking_section_is_in_the_settings_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = {k: d for k, _, d in describe(load_settings())}
    assert keys["ranking.preferred_weight"] and keys["ranking.budget_ms.scorer"]
    monkeypatch.setenv("WEITAO_RANKING__PREFERRED_WEIGHT", "1.25")
    assert load_settings().ranking.preferred_weight == 1.25
    with pytest.raises(SettingsError, match="author_capp"):
        load_settings(ranking={"author_capp": 3})


def test_follow_feed_declaration_follows_settings() -> None:
    s = RankingSettings(follow_feed_window_hours=48, source_limit=50, preferred_weight=1.25, author_cap=3,
                        diversity_weight=0.5, seen_window_hours=12, fatigue_max_impressions=4,
                        fatigue_window_hours=6, recency_half_life_hours=10)
    slot = follow_feed_slot(s, MODEL)
    by_name = {c.name: c for c in slot.components()}
    assert [c.name for c in slot.sources] == ["sources/following_posts", "sources/provided"]
    assert [c.name for c in slot.filters] == [
        "filters/visibility", "filters/h1_excluded", "filters/already_seen", "filters/fatigue"]
    assert [c.name for c in slot.rules] == ["rules/preferred_shop", "rules/author_cap", "rules/diversity"]
    assert [c.name for c in slot.selectors] == ["selectors/top_k"]
    assert slot.scorer is MODEL and isinstance(slot.fallback_scorer, RecencyScorer)
    f = by_name
    assert (f["sources/following_posts"].window_hours, f["sources/following_posts"].limit) == (48, 50)
    assert f["rules/preferred_shop"].weight == 1.25 and f["rules/author_cap"].max_per_author == 3
    assert f["rules/diversity"].weight == 0.5 and f["filters/already_seen"].window_hours == 12
    assert (f["filters/fatigue"].max_impressions, f["filters/fatigue"].window_hours) == (4, 6)
    assert slot.fallback_scorer.half_life_hours == 10
    assert {c.name: c.fail for c in slot.components() if c.fail == "closed"} == {
        "filters/visibility": "closed", "filters/h1_excluded": "closed", "selectors/top_k": "closed"}


def test_new_arrival_declaration() -> None:
    slot = new_arrival_slot(RankingSettings(new_arrival_window_days=3), MODEL)
    assert slot.name == "new_arrival"
    assert slot.sources[0].window_days == 3 and slot.sources[1].item_type == "product"
    assert "filters/h1_excluded" in {c.name for c in slot.filters}
    # A recency model has no separate fallback (it cannot stand in for itself).
    assert new_arrival_slot(RankingSettings(), RecencyScorer()).fallback_scorer is None
