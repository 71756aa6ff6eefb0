"""The multi-head ranker on a tiny world whose answer is known by construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from experiments.metrics import expected_calibration_error
from ranking.heads import HeadModel
from training.ranker import MultiHeadRanker, NotFittedError


def _world(n: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Clicks depend on x0, purchases on x1 (after a click), engagement on x0 + x2; follows never happen."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    p_click = 1 / (1 + np.exp(-(-2 + 1.5 * X[:, 0])))
    click = rng.random(n) < p_click
    engage = click & (rng.random(n) < 1 / (1 + np.exp(-(X[:, 2]))))
    purchase = click & (rng.random(n) < 1 / (1 + np.exp(-(-2 + 2 * X[:, 1]))))
    return X, {"click": click, "engage": engage, "follow": np.zeros(n, bool), "purchase": purchase}


def _model() -> MultiHeadRanker:
    return MultiHeadRanker(n_estimators=40, num_leaves=7, min_child_samples=20, random_state=3,
                           blend={"click": 1.0, "engage": 2.0, "follow": 5.0, "purchase": 10.0})


def test_heads_learn_their_own_signal_and_are_calibrated() -> None:
    X, y = _world(20_000, 1)
    model = _model()
    assert model.fit(X, y) is model
    Xt, yt = _world(10_000, 2)
    probs = model.predict_heads(Xt)
    assert roc_auc_score(yt["click"], probs["click"]) > 0.75
    assert roc_auc_score(yt["purchase"], probs["purchase"]) > 0.75
    assert expected_calibration_error(yt["click"], probs["click"]) < 0.03
    # a head that never fires is its prior (0), not a model
    assert "follow" not in model.boosters_ and np.all(probs["follow"] == 0)
    blended = model.predict(Xt)
    np.testing.assert_allclose(blended, probs["click"] + 2 * probs["engage"] + 10 * probs["purchase"])


def test_same_seed_same_model_and_save_load_round_trip(tmp_path: Path) -> None:
    X, y = _world(5_000, 4)
    a, b = _model().fit(X, y), _model().fit(X, y)
    assert np.array_equal(a.predict(X), b.predict(X))
    a.save(tmp_path / "m", {"kind": "slot_ranker", "slot": "follow_feed"})
    loaded = HeadModel.load(tmp_path / "m")
    assert np.array_equal(loaded.predict(X), a.predict(X))


def test_tampered_head_is_refused(tmp_path: Path) -> None:
    X, y = _world(3_000, 5)
    _model().fit(X, y).save(tmp_path / "m", {"kind": "slot_ranker"})
    head = tmp_path / "m" / "head_click.txt"
    head.write_text(head.read_text().replace("learning_rate", "learning_rate "))
    with pytest.raises(ValueError, match="checksum"):
        HeadModel.load(tmp_path / "m")


def test_contract_errors_name_the_argument() -> None:
    X, y = _world(1_000, 6)
    with pytest.raises(NotFittedError):
        _model().predict(X)
    with pytest.raises(ValueError, match="heads"):
        MultiHeadRanker(heads=("clicks",)).fit(X, y)
    with pytest.raises(ValueError, match=r"y\['click'\]"):
        _model().fit(X, {**y, "click": y["click"][:10]})
    with pytest.raises(ValueError, match="X"):
        _model().fit(X, y).predict(X[:, :3])
    with pytest.raises(ValueError, match="sample_weight"):
        _model().fit(X, y, sample_weight=np.ones(10))
    with pytest.raises(ValueError, match="sample_weight"):
        _model().fit(X, y, sample_weight=np.full(len(X), np.nan))


def test_decreasing_features_never_raise_the_score() -> None:
    """Clicks rise with x3 in the data (a selection effect); declared decreasing, the model may not follow."""
    X, y = _world(6_000, 8)
    rng = np.random.default_rng(9)
    y = {**y, "click": y["click"] | (rng.random(len(X)) < 0.3 / (1 + np.exp(-3 * X[:, 3])))}
    names = ["x0", "x1", "x2", "age"]
    grid = np.repeat(X[:50], 21, axis=0)
    grid[:, 3] = np.tile(np.linspace(-3, 3, 21), 50)
    free = _model().fit(X, y, feature_names=names).predict_heads(grid)["click"].reshape(50, 21)
    tied = MultiHeadRanker(**{**_model().__dict__, "decreasing": ["age"]}).fit(X, y, feature_names=names)
    held = tied.predict_heads(grid)["click"].reshape(50, 21)
    assert (np.diff(free, axis=1) > 1e-9).any()  # the control: unconstrained, the score follows the data up
    assert (np.diff(held, axis=1) <= 1e-9).all()


def test_sample_weight_shifts_the_fit_towards_weighted_rows() -> None:
    X, y = _world(4_000, 10)
    weight = np.where(y["click"], 5.0, 1.0)
    plain = _model().fit(X, y).predict_heads(X)["click"].mean()
    weighted = _model().fit(X, y, sample_weight=weight).predict_heads(X)["click"].mean()
    assert weighted > plain + 0.05


def test_conditional_heads_learn_among_clicks_and_multiply_by_the_click() -> None:
    """Purchases need a click and then depend on x1 alone: learned among clicks, the head finds x1 and its
    per-impression probability is P(click) x P(purchase | click), calibrated against the impressions."""
    X, y = _world(30_000, 11)
    cond = MultiHeadRanker(**{**_model().__dict__, "conditional": ("engage", "purchase")}).fit(X, y)
    plain = _model().fit(X, y)
    clicked = y["click"]
    assert cond.priors_["purchase"] == pytest.approx(y["purchase"][clicked].mean())
    assert plain.priors_["purchase"] == pytest.approx(y["purchase"].mean())  # the control: all impressions
    Xt, yt = _world(20_000, 12)
    heads = cond.predict_heads(Xt)
    alone = cond.boosters_["purchase"].predict(Xt)  # the conditional forest, before calibration
    p_given_click = 1 / (1 + np.exp(-(-2 + 2 * Xt[:, 1])))
    assert np.corrcoef(alone, p_given_click)[0, 1] > 0.9
    assert np.corrcoef(plain.boosters_["purchase"].predict(Xt), p_given_click)[0, 1] < 0.9
    cal = cond.calibration_["purchase"]
    np.testing.assert_array_equal(heads["purchase"], heads["click"] * np.interp(alone, cal[0], cal[1]))
    assert expected_calibration_error(yt["purchase"], heads["purchase"]) < 0.02
    np.testing.assert_allclose(cond.predict(Xt), heads["click"] + 2 * heads["engage"] + 10 * heads["purchase"])


def test_conditional_heads_survive_save_and_load(tmp_path: Path) -> None:
    X, y = _world(5_000, 13)
    model = MultiHeadRanker(**{**_model().__dict__, "conditional": ("purchase",)}).fit(X, y)
    model.save(tmp_path / "m", {"kind": "slot_ranker"})
    loaded = HeadModel.load(tmp_path / "m")
    assert loaded.given == {"purchase": "click"}
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    with pytest.raises(ValueError, match="conditional"):
        MultiHeadRanker(conditional=("click",)).fit(X, y)
    with pytest.raises(ValueError, match="given"):
        HeadModel(["a"], {"click": 0.1, "buy": 0.01}, given={"buy": "cart"})


def test_the_ranker_is_a_scikit_learn_estimator() -> None:
    """clone, get_params/set_params and check_is_fitted work as on any scikit-learn estimator."""
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError as SklearnNotFitted
    from sklearn.utils.validation import check_is_fitted

    X, y = _world(2_000, 7)
    fitted = _model().fit(X, y)
    again = clone(fitted)
    assert again.get_params() == fitted.get_params() and again.get_params()["num_leaves"] == 7
    assert not hasattr(again, "model_")  # a clone is unfitted
    with pytest.raises(SklearnNotFitted, match="MultiHeadRanker is not fitted"):
        again.predict(X)
    check_is_fitted(fitted)
    assert again.set_params(num_leaves=3) is again and again.num_leaves == 3
    assert "num_leaves=3" in repr(again)
    assert np.array_equal(clone(fitted).fit(X, y).predict(X), fitted.predict(X))
