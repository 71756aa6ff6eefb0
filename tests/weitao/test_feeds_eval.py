"""Our feed rankers in closed loop on a small world: trained on history, ranked with online features."""

from __future__ import annotations

import pytest

from weitao.feeds_eval import aggregate, evaluate_seed
from weitao.settings import load_settings


@pytest.mark.slow
def test_ours_beats_random_and_the_figures_aggregate() -> None:
    settings = load_settings(rankers={"n_estimators": 40})
    results = evaluate_seed(settings, "small", 3, baselines=("random", "chronological"))
    by = {r.policy: r for r in results}
    assert set(by) == {"ours", "oracle", "random", "chronological"}
    assert by["oracle"].slots["follow_feed"]["ndcg_at_10"] == pytest.approx(1.0)
    assert by["ours"].slots["follow_feed"]["ndcg_at_10"] > by["random"].slots["follow_feed"]["ndcg_at_10"]
    figures = aggregate([results, results])
    ours = figures["follow_feed"]["ours"]
    assert ours["ndcg_at_10_std"] == 0.0 and len(ours["per_seed"]) == 2
    assert set(figures) == {"follow_feed", "new_arrival"}
