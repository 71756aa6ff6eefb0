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
from features.offline import RowArrays
from features.online.base import FeatureReader
from ranking.affinity import Affinity
from ranking.base import FailPolicy, RankContext, Scorer
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch


def feature_arrays(feature_set: FeatureSet, user: np.ndarray, target_type: np.ndarray, target_id: np.ndarray,
                   account: np.ndarray, category: np.ndarray, request_ms: np.ndarray,
                   affinity: Affinity | None) -> RowArrays:
    """Request rows keyed like training rows, with the set's provided columns (every row at position 0).

    Numpy columns as :func:`features.offline.row_queries` reads them: the request path skips a round trip
    through Arrow (building a table only to convert it back costs about as much as reading the features).
    """
    n = len(user)
    provided = {"position": np.zeros(n)}
    if affinity is not None:
        provided["embedding_similarity"] = affinity.similarity(user, account)
    return RowArrays(np.asarray(user, np.int64), np.asarray(target_type, np.int8), np.asarray(target_id, np.int64),
                     np.asarray(account, np.int64), np.asarray(category, np.int64),
                     np.broadcast_to(np.asarray(request_ms, np.int64), n),
                     {name: np.asarray(provided.get(name, np.zeros(n)), np.float64)
                      for name in provided_names(feature_set)})


def feature_rows(feature_set: FeatureSet, user: np.ndarray, target_type: np.ndarray, target_id: np.ndarray,
                 account: np.ndarray, category: np.ndarray, request_ms: np.ndarray,
                 affinity: Affinity | None) -> pa.Table:
    """:func:`feature_arrays` as an Arrow table (columns named as training rows)."""
    r = feature_arrays(feature_set, user, target_type, target_id, account, category, request_ms, affinity)
    return pa.table({"user_id": r.user, "target_type": r.ttype, "target_id": r.target, "account_id": r.account,
                     "category": r.category, "request_ms": r.request_ms,
                     **{name: pa.array(values, pa.float64()) for name, values in r.provided.items()}})


@dataclass(frozen=True, kw_only=True)
class ModelScorer(Scorer):
    """Scores candidates with ``predict`` (a model's blended score) over ``online`` features.

    ``predict`` maps a float32 feature matrix to one score per row: a LightGBM head model's ``predict``
    or a compiled equivalent; ``version`` names the model in logs and responses.
    """

    predict: Callable[[np.ndarray], np.ndarray]
    online: FeatureReader
    affinity: Affinity | None = None
    version: str = "unversioned"
    name: str = "scorers/model"
    fail: FailPolicy = "open"

    def features(self, frame: CandidateFrame, requests: RequestBatch) -> np.ndarray:
        """The float32 feature matrix of the candidates."""
        rows = feature_arrays(self.online.feature_set, requests.user_id[frame.request], frame.item_type,
                              frame.item_id, frame.author_id, frame.category, requests.now_ms[frame.request],
                              self.affinity)
        return self.online.get(rows)

    def score(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> np.ndarray:
        if not len(frame):
            return np.zeros(0)
        return np.asarray(self.predict(self.features(frame, requests)), dtype=np.float64)
