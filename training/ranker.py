"""A multi-objective slot ranker: one LightGBM head per action, calibrated, blended by declared weights.

The heads predict, per impression, the probability of a click, an engagement (like, comment or share),
a follow, and a purchase. Their blend is the expected value of the page item under the weights the
platform declares in settings. Heads named in ``conditional`` are learned among clicked rows only and
predicted as P(click) x P(action | click): engagements and purchases follow clicks, and a rare action is
far less rare among clicks, so its head sees a denser signal. A scikit-learn estimator (``BaseEstimator``):
keyword-only ``__init__`` without logic, ``fit(...) -> self``, learned attributes end in ``_``; ``clone``,
``get_params``/``set_params`` and ``check_is_fitted`` work as on any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as NotFittedError  # re-exported: what predict raises before fit
from sklearn.isotonic import IsotonicRegression
from sklearn.utils.validation import check_is_fitted

from ranking.heads import HeadModel

HEADS = ("click", "engage", "follow", "purchase")


def _check_matrix(X: np.ndarray, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got shape {X.shape}")
    return X


def check_weight(sample_weight: np.ndarray | None, n: int) -> np.ndarray:
    """Row weights (ones when none are given); finite, non-negative and one per row, or a ``ValueError``."""
    if sample_weight is None:
        return np.ones(n, np.float64)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight: shape {w.shape} does not match X rows {n}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight: weights must be finite and non-negative")
    return w


def isotonic(raw: np.ndarray, labels: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Isotonic calibration of a head's raw scores on held-out rows, as (thresholds, probabilities)."""
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, labels, sample_weight=weight)
    return np.asarray(iso.X_thresholds_, np.float64), np.asarray(iso.y_thresholds_, np.float64)


class MultiHeadRanker(BaseEstimator):
    """Per-action LightGBM heads with isotonic calibration and a weighted blend.

    Parameters
    ----------
    heads: the actions to model, a subset of ``HEADS``.
    blend: weight of each head in the final score (missing heads weigh 0).
    n_estimators, learning_rate, num_leaves, min_child_samples: LightGBM parameters of every head.
    calibration_fraction: share of rows held out (at random) to fit each head's isotonic calibration.
    random_state: seed of the held-out draw and of LightGBM.
    n_jobs: LightGBM threads (one per worker in services).
    decreasing: features the score may only fall with (freshness: older is never better, all else equal).
    conditional: heads learned among the rows whose click label is 1 (P(action | click)); their per-impression
        probability is the click head's times theirs.
    """

    def __init__(self, *, heads: Sequence[str] = HEADS, blend: Mapping[str, float] | None = None,
                 n_estimators: int = 200, learning_rate: float = 0.05, num_leaves: int = 31,
                 min_child_samples: int = 50, calibration_fraction: float = 0.2, random_state: int = 0,
                 n_jobs: int = 1, decreasing: Sequence[str] = (), conditional: Sequence[str] = ()) -> None:
        self.heads = heads
        self.blend = blend
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.calibration_fraction = calibration_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.decreasing = decreasing
        self.conditional = conditional

    def _params(self, names: Sequence[str] = ()) -> dict[str, Any]:
        params: dict[str, Any] = {
            "objective": "binary", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples, "seed": self.random_state, "deterministic": True,
            "num_threads": self.n_jobs, "verbose": -1, "force_col_wise": True}
        if any(n in self.decreasing for n in names):
            params["monotone_constraints"] = [-1 if n in self.decreasing else 0 for n in names]
            params["monotone_constraints_method"] = "advanced"
        return params

    def fit(self, X: np.ndarray, y: Mapping[str, np.ndarray], *,
            feature_names: Sequence[str] | None = None, sample_weight: np.ndarray | None = None) -> MultiHeadRanker:
        """Fit every head on impressions ``X`` with binary labels ``y[head]`` (rows weighted by ``sample_weight``)."""
        X = _check_matrix(X)
        weight = check_weight(sample_weight, len(X))
        names = self._check_heads(X, y, feature_names)
        rng = np.random.default_rng(self.random_state)
        held = rng.random(len(X)) < self.calibration_fraction
        self.boosters_: dict[str, lgb.Booster] = {}
        self.priors_: dict[str, float] = {}
        self.calibration_: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for head in self.heads:
            labels = np.asarray(y[head], dtype=np.float32)
            rows = self.head_rows(head, y, len(X))
            self.priors_[head] = float(labels[rows].mean()) if rows.any() else 0.0
            fit, calibrate = rows & ~held, rows & held
            if labels[fit].min(initial=0) == labels[fit].max(initial=0):
                continue  # a constant head is its prior
            data = lgb.Dataset(X[fit], labels[fit], weight=weight[fit], feature_name=names, free_raw_data=True)
            booster = lgb.train(self._params(names), data, num_boost_round=self.n_estimators)
            self.boosters_[head] = booster
            if calibrate.any():
                self.calibration_[head] = isotonic(booster.predict(X[calibrate]), labels[calibrate], weight[calibrate])
        self.feature_names_ = names
        self.n_features_in_ = X.shape[1]
        self.model_ = HeadModel(names, self.priors_, self.boosters_, self.calibration_,
                                dict(self.blend or {h: 1.0 for h in self.heads}), self.n_jobs, self.given())
        return self

    def given(self) -> dict[str, str]:
        """Each conditional head and the head it is conditional on (the click)."""
        return {head: "click" for head in self.heads if head in self.conditional}

    def head_rows(self, head: str, y: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """Rows a head learns from: all of them, or the clicked ones for a conditional head."""
        if head in self.conditional:
            return np.asarray(y["click"], dtype=bool)
        return np.ones(n, dtype=bool)

    def _check_heads(self, X: np.ndarray, y: Mapping[str, np.ndarray],
                     feature_names: Sequence[str] | None) -> list[str]:
        """Validate heads, labels and names against ``X``; returns the feature names."""
        unknown = [h for h in self.heads if h not in HEADS]
        if unknown:
            raise ValueError(f"heads: unknown head(s) {unknown} (known: {', '.join(HEADS)})")
        odd = [h for h in self.conditional if h not in self.heads or h == "click"]
        if odd or (self.conditional and "click" not in self.heads):
            raise ValueError(f"conditional: {list(self.conditional)} must name heads other than 'click', "
                             "and the click head must be among the heads")
        for head in self.heads:
            if head not in y:
                raise ValueError(f"y: no labels for head {head!r}")
            if np.shape(y[head]) != (len(X),):
                raise ValueError(f"y[{head!r}]: shape {np.shape(y[head])} does not match X rows {len(X)}")
        names = list(feature_names) if feature_names is not None else [f"f{i}" for i in range(X.shape[1])]
        if len(names) != X.shape[1]:
            raise ValueError(f"feature_names: {len(names)} names for {X.shape[1]} columns")
        return names

    def _check_fitted(self) -> None:
        check_is_fitted(self, "model_", msg="%(name)s is not fitted: call fit() or load() first")

    def predict_heads(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Calibrated probability of each head's action for every row."""
        self._check_fitted()
        return self.model_.predict_heads(_check_matrix(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The blended score: sum of head probabilities times their declared weights."""
        self._check_fitted()
        return self.model_.predict(_check_matrix(X))

    def save(self, folder: Path, meta: Mapping[str, Any]) -> Path:
        """Write the fitted model as a model directory (LightGBM text heads + meta.json)."""
        self._check_fitted()
        return self.model_.save(folder, meta)
