"""The amplifier estimator's contract: fit returns self, seeded determinism, monotone calibration, artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.amplifier.metrics import calibration_error
from training.amplifier.model import AmplifierModel, NotFittedError


def data(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = 0.8 * X[:, 0] - 0.3 * X[:, 1] + rng.normal(scale=0.3, size=n)
    return X, y


def model(**kw: float) -> AmplifierModel:
    return AmplifierModel(n_estimators=40, min_child_samples=10, **kw)  # type: ignore[arg-type]


def test_fit_returns_self_and_sets_fitted_attributes() -> None:
    X, y = data()
    m = model()
    assert m.fit(X, y, feature_names=["a", "b", "c"]) is m
    assert m.feature_names_ == ["a", "b", "c"] and m.n_features_in_ == 3
    assert len(m.calibration_x_) == len(m.calibration_y_) >= 2


def test_unfitted_and_bad_input_are_refused() -> None:
    with pytest.raises(NotFittedError):
        model().predict(np.zeros((1, 3)))
    X, y = data()
    with pytest.raises(ValueError, match="y"):
        model().fit(X, y[:-1])
    with pytest.raises(ValueError, match="feature_names"):
        model().fit(X, y, feature_names=["a"])
    with pytest.raises(ValueError, match="X"):
        model().fit(X, y).predict(np.zeros((2, 4)))


def test_same_random_state_same_predictions() -> None:
    X, y = data()
    a, b = model(random_state=3).fit(X, y), model(random_state=3).fit(X, y)
    assert np.array_equal(a.predict(X), b.predict(X))


def test_calibrated_output_is_monotone_in_the_raw_score_and_learns_the_signal() -> None:
    X, y = data()
    m = model().fit(X[:300], y[:300])
    raw, pred = m.predict_raw(X[300:]), m.predict(X[300:])
    order = np.argsort(raw)
    assert np.all(np.diff(pred[order]) >= 0)
    assert np.corrcoef(pred, y[300:])[0, 1] > 0.7


def test_calibration_maps_a_shifted_score_back_to_the_label_scale() -> None:
    # labels shifted by +2 after the boosting rows: the raw score is off by 2, the isotonic map corrects it
    X, y = data(600)
    y = y.copy()
    y[450:] += 2.0
    m = model(calibration_fraction=0.25).fit(X, y)
    Xh, yh = data(200, seed=1)
    yh = yh + 2.0
    assert calibration_error(m.predict(Xh), yh) < 0.5 * calibration_error(m.predict_raw(Xh), yh)


def test_save_and_load_give_bit_identical_predictions(tmp_path: Path) -> None:
    X, y = data()
    m = model().fit(X, y, feature_names=["a", "b", "c"])
    folder = m.save(tmp_path / "amp", {"kind": "amplifier"})
    assert not list(folder.glob("*.pkl"))
    with np.load(folder / "calibration.npz", allow_pickle=False) as z:
        assert set(z.files) == {"x", "y"}
    loaded = AmplifierModel.load(folder)
    assert loaded.feature_names_ == ["a", "b", "c"]
    assert np.array_equal(loaded.predict(X), m.predict(X))
    assert np.array_equal(loaded.predict_raw(X), m.predict_raw(X))
