"""``scorers/model``: a trained slot model over online features, the scorer of the live service.

Each candidate becomes one feature row keyed like a training row (user, item, author, category, request
time), read from the slot's online store with the same definitions that built the training frames. The
model sees every candidate at position 0 (the top), as in training's held-out scoring, so position bias
is learned apart from the item and never ranks it. Fails open: the slot's fallback scorer takes over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from features.definitions import FeatureSet, provided_names
from features.online.updater import OnlineFeatures
from ranking.affinity import Affinity
from ranking.base import FailPolicy, RankContext, Scorer
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch


def feature_rows(feature_set: FeatureSet, user: np.ndarray, target_type: np.ndarray, target_id: np.ndarray,
                 account: np.ndarray, category: np.ndarray, request_ms: np.ndarray,
                 affinity: Affinity | None) -> pa.Table:
    """Request rows keyed like training rows, with the set's provided columns (every row at position 0)."""
    n = len(user)
    rows = pa.table({
        "user_id": np.asarray(user, np.int64), "target_type": np.asarray(target_type, np.int8),
        "target_id": np.asarray(target_id, np.int64), "account_id": np.asarray(account, np.int64),
        "category": np.asarray(category, np.int64), "request_ms": np.broadcast_to(np.asarray(request_ms, np.int64), n),
    })
    provided = {"position": np.zeros(n)}
    if affinity is not None:
        provided["embedding_similarity"] = affinity.similarity(user, account)
    for name in provided_names(feature_set):
        rows = rows.append_column(name, pa.array(provided.get(name, np.zeros(n)), pa.float64()))
    return rows


@dataclass(frozen=True, kw_only=True)
class ModelScorer(Scorer):
    """Scores candidates with ``predict`` (a model's blended score) over ``online`` features.

    ``predict`` maps a float32 feature matrix to one score per row: a LightGBM head model's ``predict``
    or a compiled equivalent; ``version`` names the model in logs and responses.
    """

    predict: Callable[[np.ndarray], np.ndarray]
    online: OnlineFeatures
    affinity: Affinity | None = None
    version: str = "unversioned"
    name: str = "scorers/model"
    fail: FailPolicy = "open"

    def features(self, frame: CandidateFrame, requests: RequestBatch) -> np.ndarray:
        """The float32 feature matrix of the candidates."""
        rows = feature_rows(self.online.feature_set, requests.user_id[frame.request], frame.item_type,
                            frame.item_id, frame.author_id, frame.category, requests.now_ms[frame.request],
                            self.affinity)
        return self.online.get(rows)

    def score(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> np.ndarray:
        if not len(frame):
            return np.zeros(0)
        return np.asarray(self.predict(self.features(frame, requests)), dtype=np.float64)
