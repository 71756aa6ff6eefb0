"""The slot ranker's heads trained with ``lightgbm.dask`` on a Dask cluster (same model, distributed data).

Rows are split into one partition per worker; LightGBM's own distributed training (data parallel, over
the workers' sockets) fits each head. The fitted boosters are ordinary LightGBM boosters, so calibration,
blending, saving and serving are exactly those of :class:`training.ranker.MultiHeadRanker`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dask.array as da
import lightgbm as lgb
import numpy as np
from distributed import Client
from sklearn.isotonic import IsotonicRegression

from ranking.heads import HeadModel
from training.ranker import MultiHeadRanker, _check_matrix, check_weight


def fit_dask(ranker: MultiHeadRanker, X: np.ndarray, y: Mapping[str, np.ndarray], client: Client, *,
             feature_names: Sequence[str] | None = None, sample_weight: np.ndarray | None = None) -> MultiHeadRanker:
    """Fit ``ranker``'s heads with ``lightgbm.dask`` on ``client``'s workers; returns the fitted ranker."""
    from lightgbm.dask import DaskLGBMClassifier  # only this path needs the Dask integration

    X = _check_matrix(X)
    weight = check_weight(sample_weight, len(X))
    names = list(feature_names) if feature_names is not None else [f"f{i}" for i in range(X.shape[1])]
    workers = max(len(client.scheduler_info()["workers"]), 1)
    rng = np.random.default_rng(ranker.random_state)
    held = rng.random(len(X)) < ranker.calibration_fraction
    train = np.flatnonzero(~held)
    chunk = max(int(np.ceil(len(train) / workers)), 1)
    dX = da.from_array(X[train], chunks=(chunk, X.shape[1]))
    dw = da.from_array(weight[train], chunks=(chunk,))
    params = ranker._params(names)
    params.pop("num_threads", None)
    params.pop("force_col_wise", None)
    boosters: dict[str, lgb.Booster] = {}
    priors: dict[str, float] = {}
    calibration: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for head in ranker.heads:
        labels = np.asarray(y[head], dtype=np.float32)
        priors[head] = float(labels.mean()) if len(labels) else 0.0
        if labels[train].min(initial=0) == labels[train].max(initial=0):
            continue
        dy = da.from_array(labels[train].astype(np.int32), chunks=(chunk,))
        model = DaskLGBMClassifier(client=client, n_estimators=ranker.n_estimators, **params)
        model.fit(dX, dy, sample_weight=dw, feature_name=names)
        booster = model.booster_
        boosters[head] = booster
        if held.any():
            raw = booster.predict(X[held])
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
                raw, labels[held], sample_weight=weight[held])
            calibration[head] = (np.asarray(iso.X_thresholds_, np.float64), np.asarray(iso.y_thresholds_, np.float64))
    ranker.boosters_, ranker.priors_, ranker.calibration_ = boosters, priors, calibration
    ranker.feature_names_, ranker.n_features_in_ = names, X.shape[1]
    ranker.model_ = HeadModel(names, priors, boosters, calibration,
                              dict(ranker.blend or {h: 1.0 for h in ranker.heads}), ranker.n_jobs)
    return ranker
