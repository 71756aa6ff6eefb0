"""The feeds report of our trained rankers: calibration comes from the model's heads, and tapping them
changes no score."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from experiments.reports.build import build_report
from experiments.reports.probe import HeadTap
from ranking.heads import HeadModel
from weitao.feeds_eval import TappedHeadModel, evaluate_seed
from weitao.settings import load_settings


@pytest.mark.slow
def test_ours_has_calibration_curves_and_baselines_do_not() -> None:
    settings = load_settings(rankers={"n_estimators": 30})
    results = evaluate_seed(settings, "small", 3, baselines=("random",))
    ours = next(r for r in results if r.policy == "ours").detail
    assert ours is not None
    sample = ours.shown["follow_feed"]
    assert np.isfinite(sample.p_click).all() and ((sample.p_click >= 0) & (sample.p_click <= 1)).all()
    assert np.isnan(ours.shown["hotlist"].p_click).all()  # the hotlist is ranked by the gate's fallback, not a model
    report, _ = build_report([results], {}, np.random.default_rng(0), resamples=100)
    calibration = report["calibration"]["follow_feed"]
    assert set(calibration) == {"ours"} and set(calibration["ours"]) == {"click", "engage"}
    click = calibration["ours"]["click"]
    assert click["count"].sum() == len(sample.p_click) and 0 <= click["ece"] < 0.5
    # The pooled observed rate is the sample's click rate: bins partition the rows.
    assert np.sum(click["observed"] * click["count"]) / click["count"].sum() == pytest.approx(sample.clicked.mean())


def test_a_tapped_model_scores_exactly_like_the_model() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((200, 3)).astype(np.float32)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1},
                        lgb.Dataset(X, (X[:, 0] + 0.3 * rng.random(200) > 0.7).astype(int)), num_boost_round=5)
    model = HeadModel(["a", "b", "c"], {"click": 0.1, "engage": 0.02}, {"click": booster},
                      blend={"click": 1.0, "engage": 2.0})
    tap = HeadTap()
    tapped = TappedHeadModel.of(model, tap)
    assert np.array_equal(tapped.predict(X), model.predict(X))
    heads = tap.take()
    assert heads is not None and set(heads) == {"click", "engage"} and tap.take() is None
    assert heads["engage"] == pytest.approx(np.full(200, 0.02))  # no booster: the prior
