"""lightgbm.dask on a real LocalCluster gives a ranker as good as in-process training (within 1 % AUC)."""

from __future__ import annotations

import pytest
from distributed import Client, LocalCluster
from sklearn.metrics import roc_auc_score

from tests.training.test_ranker import _model, _world
from training.ranker import MultiHeadRanker
from training.ranker_dask import fit_dask


def _conditional() -> MultiHeadRanker:
    """The production shape: engage, follow and purchase learned among clicks."""
    return MultiHeadRanker(**{**_model().__dict__, "conditional": ("engage", "follow", "purchase")})


@pytest.mark.slow
def test_dask_heads_match_in_process_quality() -> None:
    X, y = _world(20_000, 11)
    Xt, yt = _world(10_000, 12)
    local = _conditional().fit(X, y)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as client:
        distributed = fit_dask(_conditional(), X, y, client)
    for head in ("click", "purchase"):
        auc_local = roc_auc_score(yt[head], local.predict_heads(Xt)[head])
        auc_dask = roc_auc_score(yt[head], distributed.predict_heads(Xt)[head])
        assert auc_dask >= auc_local - 0.01, (head, auc_local, auc_dask)
    assert "follow" not in distributed.boosters_
    assert distributed.model_.given == local.model_.given == {"engage": "click", "follow": "click", "purchase": "click"}
    assert distributed.priors_ == local.priors_  # conditional priors: rates among the clicked rows
