"""The slot ranker's heads trained with ``lightgbm.dask`` on a Dask cluster (same model, distributed data).

Rows are split into one partition per worker; LightGBM's own distributed training (data parallel, over
the workers' sockets) fits each head. The fitted boosters are ordinary LightGBM boosters, so calibration,
blending, saving and serving are exactly those of :class:`training.ranker.MultiHeadRanker`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import dask.array as da
import lightgbm as lgb
import numpy as np
from distributed import Client

from ranking.heads import HeadModel
from training.ranker import MultiHeadRanker, _check_matrix, check_weight, isotonic


def fit_dask(ranker: MultiHeadRanker, X: np.ndarray, y: Mapping[str, np.ndarray], client: Client, *,
             feature_names: Sequence[str] | None = None, sample_weight: np.ndarray | None = None) -> MultiHeadRanker:
    """Fit ``ranker``'s heads with ``lightgbm.dask`` on ``client``'s workers; returns the fitted ranker."""
    from lightgbm.dask import DaskLGBMClassifier  # only this path needs the Dask integration

    X = _check_matrix(X)
    weight = check_weight(sample_weight, len(X))
    names = ranker._check_heads(X, y, feature_names)
    workers = max(len(client.scheduler_info()["workers"]), 1)
    rng = np.random.default_rng(ranker.random_state)
    held = rng.random(len(X)) < ranker.calibration_fraction
    params = ranker._params(names)
    params.pop("num_threads", None)
    params.pop("force_col_wise", None)
    boosters: dict[str, lgb.Booster] = {}
    priors: dict[str, float] = {}
    calibration: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for head in ranker.heads:
        labels = np.asarray(y[head], dtype=np.float32)
        rows = ranker.head_rows(head, y, len(X))
        priors[head] = float(labels[rows].mean()) if rows.any() else 0.0
        fit, calibrate = np.flatnonzero(rows & ~held), rows & held
        if labels[fit].min(initial=0) == labels[fit].max(initial=0):
            continue
        chunk = max(int(np.ceil(len(fit) / workers)), 1)
        model = DaskLGBMClassifier(client=client, n_estimators=ranker.n_estimators, **params)
        with warnings.catch_warnings():
            # The estimator's own n_jobs default (None) trips lightgbm.dask's warning; we set no thread count here.
            warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
            model.fit(da.from_array(X[fit], chunks=(chunk, X.shape[1])),
                      da.from_array(labels[fit].astype(np.int32), chunks=(chunk,)),
                      sample_weight=da.from_array(weight[fit], chunks=(chunk,)), feature_name=names)
        boosters[head] = model.booster_
        if calibrate.any():
            calibration[head] = isotonic(model.booster_.predict(X[calibrate]), labels[calibrate], weight[calibrate])
    ranker.boosters_, ranker.priors_, ranker.calibration_ = boosters, priors, calibration
    ranker.feature_names_, ranker.n_features_in_ = names, X.shape[1]
    ranker.model_ = HeadModel(names, priors, boosters, calibration,
                              dict(ranker.blend or {h: 1.0 for h in ranker.heads}), ranker.n_jobs, ranker.given())
    return ranker
