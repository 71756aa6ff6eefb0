"""Matrix factorisation as a top-k model: the ALS or BPR embeddings of :mod:`training.embeddings`."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from training.embeddings import EmbeddingModel, make_embeddings
from training.embeddings_interactions import Interactions
from training.topk.base import TopKModel
from training.topk.side import SideFeatures


class FactorModel(TopKModel):
    """Scores ``user_factors_[u] · item_factors_[i]`` of an ALS or BPR embedding model.

    Parameters
    ----------
    kind : {"als", "bpr"}
        Backend, chosen by :func:`training.embeddings.make_embeddings`.
    params : dict, optional
        Hyper-parameters of that backend (``random_state`` and ``num_threads`` are set from here).
    binary : bool
        Fit on the 0/1 matrix instead of the summed action weights.
    """

    name: ClassVar[str] = "factor"

    def __init__(self, *, kind: str = "als", params: dict[str, Any] | None = None, binary: bool = True,
                 random_state: int | None = 0, num_threads: int = 1) -> None:
        self.kind = kind
        self.params = params
        self.binary = binary
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, interactions: Interactions, side: SideFeatures | None) -> None:
        params = {**(self.params or {}), "random_state": self.random_state, "num_threads": self.num_threads}
        data = Interactions(interactions.binary(), interactions.user_ids, interactions.item_ids) \
            if self.binary else interactions
        self.embeddings_: EmbeddingModel = make_embeddings(self.kind, **params).fit(data)

    def _score(self, user_rows: np.ndarray) -> np.ndarray:
        return self.embeddings_.score(user_rows)
