"""The amplifier estimator: a LightGBM regressor of public lift, calibrated by isotonic regression.

A scikit-learn estimator (``BaseEstimator``: ``clone``, ``get_params``/``set_params``): keyword-only
``__init__`` without logic, ``fit(...) -> self``, learned attributes end in ``_``. Saved as LightGBM model
text, the calibration as ``.npz`` (``allow_pickle=False``) and ``meta.json`` with the feature names in
column order: loading executes no code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import orjson
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as NotFittedError  # re-exported: what predict raises before fit
from sklearn.isotonic import IsotonicRegression
from sklearn.utils.validation import check_is_fitted

from training.amplifier.features import FEATURES

MODEL_FILE, CALIBRATION_FILE, META_FILE = "model.txt", "calibration.npz", "meta.json"


@dataclass(frozen=True)
class AmplifierFeatureSet:
    """The amplifier's columns, named and fingerprinted like a declared feature set (for the model store)."""

    name: str = "amplifier_early"
    version: int = 1
    columns: tuple[str, ...] = FEATURES

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.name}:{self.version}:{','.join(self.columns)}".encode()).hexdigest()[:16]


def _check_matrix(X: np.ndarray, n_features: int | None = None) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X: expected a 2-D array, got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X: expected {n_features} columns, got {X.shape[1]}")
    return X


class AmplifierModel(BaseEstimator):
    """LightGBM regression of public lift (log scale) with an isotonic map from raw score to observed lift.

    Parameters
    ----------
    n_estimators, learning_rate, num_leaves, min_child_samples: LightGBM parameters.
    calibration_fraction: share of the rows, the last ones (pass rows in time order), held out of the
        boosting to fit the isotonic calibration.
    random_state: LightGBM's seed.
    n_jobs: LightGBM threads.
    """

    def __init__(self, *, n_estimators: int = 200, learning_rate: float = 0.03, num_leaves: int = 15,
                 min_child_samples: int = 20, calibration_fraction: float = 0.25, random_state: int = 0,
                 n_jobs: int = 1) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.calibration_fraction = calibration_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _params(self) -> dict[str, Any]:
        return {"objective": "regression", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                "min_child_samples": self.min_child_samples, "min_data_in_bin": 1, "seed": self.random_state,
                "deterministic": True, "num_threads": self.n_jobs, "verbose": -1, "force_col_wise": True}

    def fit(self, X: np.ndarray, y: np.ndarray, *, feature_names: Sequence[str] | None = None) -> AmplifierModel:
        """Boost on the first rows, calibrate on the last ``calibration_fraction`` (rows in time order)."""
        X = _check_matrix(X)
        y = np.asarray(y, dtype=np.float64)
        if y.shape != (len(X),):
            raise ValueError(f"y: shape {y.shape} does not match X rows {len(X)}")
        if not np.isfinite(y).all():
            raise ValueError("y: labels must be finite")
        if len(X) < 4:
            raise ValueError(f"X: {len(X)} rows are too few to fit and calibrate")
        names = list(feature_names) if feature_names is not None else [f"f{i}" for i in range(X.shape[1])]
        if len(names) != X.shape[1]:
            raise ValueError(f"feature_names: {len(names)} names for {X.shape[1]} columns")
        n_cal = max(int(round(len(X) * self.calibration_fraction)), 2)
        fit_rows, cal_rows = slice(0, len(X) - n_cal), slice(len(X) - n_cal, len(X))
        data = lgb.Dataset(X[fit_rows], y[fit_rows], feature_name=names, free_raw_data=True)
        self.booster_ = lgb.train(self._params(), data, num_boost_round=self.n_estimators)
        iso = IsotonicRegression(out_of_bounds="clip").fit(self.booster_.predict(X[cal_rows]), y[cal_rows])
        self.calibration_x_ = np.asarray(iso.X_thresholds_, np.float64)
        self.calibration_y_ = np.asarray(iso.y_thresholds_, np.float64)
        self.feature_names_ = names
        self.n_features_in_ = X.shape[1]
        return self

    def _check_fitted(self) -> None:
        check_is_fitted(self, "booster_", msg="%(name)s is not fitted: call fit() or load() first")

    def predict_raw(self, X: np.ndarray) -> np.ndarray:
        """The booster's uncalibrated score."""
        self._check_fitted()
        return np.asarray(self.booster_.predict(_check_matrix(X, self.n_features_in_), num_threads=self.n_jobs))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Calibrated predicted public lift (log scale), non-decreasing in the raw score."""
        raw = self.predict_raw(X)
        if len(self.calibration_x_) < 2:  # a constant calibration set: its mean is the best guess
            return np.full(len(raw), float(self.calibration_y_.mean()) if len(self.calibration_y_) else 0.0)
        return np.interp(raw, self.calibration_x_, self.calibration_y_)

    def save(self, folder: Path, meta: Mapping[str, Any]) -> Path:
        """Write model text, calibration ``.npz`` and ``meta.json`` (the caller seals the folder)."""
        self._check_fitted()
        folder.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(folder / MODEL_FILE))
        np.savez(folder / CALIBRATION_FILE, x=self.calibration_x_, y=self.calibration_y_)
        params = {k: getattr(self, k) for k in ("n_estimators", "learning_rate", "num_leaves", "min_child_samples",
                                                "calibration_fraction", "random_state", "n_jobs")}
        body = {**meta, "heads": {"lift": MODEL_FILE}, "calibration_file": CALIBRATION_FILE,
                "feature_names": self.feature_names_, "params": params, "files": {}}
        (folder / META_FILE).write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        return folder

    @classmethod
    def load(cls, folder: Path) -> AmplifierModel:
        """Read a folder written by :meth:`save` (no code is executed)."""
        meta = orjson.loads((folder / META_FILE).read_bytes())
        model = cls(**meta["params"])
        model.booster_ = lgb.Booster(model_file=str(folder / meta["heads"]["lift"]))
        with np.load(folder / meta["calibration_file"], allow_pickle=False) as z:
            model.calibration_x_, model.calibration_y_ = np.asarray(z["x"]), np.asarray(z["y"])
        model.feature_names_ = list(meta["feature_names"])
        model.n_features_in_ = len(model.feature_names_)
        if model.booster_.num_feature() != model.n_features_in_:
            raise ValueError(f"{folder}: the booster reads {model.booster_.num_feature()} features, "
                             f"meta.json names {model.n_features_in_}")
        return model
