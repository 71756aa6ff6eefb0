"""User-kNN: a user's score for an item sums the cosine similarities of the neighbours who have it.

A different view from the item-item models (EASE, item-kNN): it looks at whole histories of similar users,
so as a candidate generator it adds items the item-item models rank low. Neighbours are found batch by
batch, so memory grows with ``batch_size × users``, never ``users²``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from training.embeddings_interactions import Interactions
from training.topk.base import TopKModel
from training.topk.side import SideFeatures


class UserKNN(TopKModel):
    """Cosine user-kNN on the 0/1 matrix.

    Parameters
    ----------
    neighbours : int
        Most similar other users kept per user.
    batch_size : int
        Users whose similarities are computed at once.
    """

    name: ClassVar[str] = "userknn"

    def __init__(self, *, neighbours: int = 100, batch_size: int = 2048) -> None:
        self.neighbours = neighbours
        self.batch_size = batch_size

    def _fit(self, interactions: Interactions, side: SideFeatures | None) -> None:
        if self.neighbours < 1:
            raise ValueError(f"neighbours: must be >= 1, got {self.neighbours}")
        x = interactions.binary()
        norms = np.sqrt(np.asarray(x.sum(axis=1)).ravel())
        unit = sp.csr_matrix(sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ x)
        parts = [self._neighbours(unit, start) for start in range(0, x.shape[0], self.batch_size)]
        self.similarity_ = sp.vstack(parts).tocsr()
        self.matrix_ = x

    def _neighbours(self, unit: sp.csr_matrix, start: int) -> sp.csr_matrix:
        """Rows ``start..start+batch_size`` of the user-user cosine matrix, strongest ``neighbours`` kept."""
        rows = np.arange(start, min(start + self.batch_size, unit.shape[0]))
        sim = np.asarray((unit[rows] @ unit.T).toarray())
        sim[np.arange(len(rows)), rows] = 0.0  # not one's own neighbour
        k = min(self.neighbours, sim.shape[1])
        if k < sim.shape[1]:
            weakest = np.argpartition(-sim, k - 1, axis=1)[:, k:]
            np.put_along_axis(sim, weakest, 0.0, axis=1)
        return sp.csr_matrix(sim)

    def _score(self, user_rows: np.ndarray) -> np.ndarray:
        return np.asarray((self.similarity_[user_rows] @ self.matrix_).toarray())
