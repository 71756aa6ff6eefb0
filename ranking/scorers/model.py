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

from features.definitions import provided_names
from features.online.updater import OnlineFeatures
from ranking.affinity import Affinity
from ranking.base import FailPolicy, RankContext, Scorer
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch


def feature_rows(frame: CandidateFrame, requests: RequestBatch, online: OnlineFeatures,
                 affinity: Affinity | None) -> pa.Table:
    """The key and provided columns of every candidate, in the online feature set's schema."""
    user = requests.user_id[frame.request]
    rows = pa.table({
        "user_id": user, "target_type": frame.item_type, "target_id": frame.item_id,
        "account_id": frame.author_id, "category": frame.category.astype(np.int64),
        "request_ms": requests.now_ms[frame.request],
    })
    provided = {"position": np.zeros(len(frame))}
    if affinity is not None:
        provided["embedding_similarity"] = affinity.similarity(user, frame.author_id)
    for name in provided_names(online.feature_set):
        rows = rows.append_column(name, pa.array(provided.get(name, np.zeros(len(frame))), pa.float64()))
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
        return self.online.get(feature_rows(frame, requests, self.online, self.affinity))

    def score(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> np.ndarray:
        if not len(frame):
            return np.zeros(0)
        return np.asarray(self.predict(self.features(frame, requests)), dtype=np.float64)
