"""Item-kNN on co-occurrence: cosine similarity of items' user sets, optionally only near in time.

With ``window=None`` two items co-occur when the same user has both (classic item-kNN). With an integer
``window`` they co-occur only when a user interacted with them at most ``window`` interactions apart in
time order, weighted ``1/distance``: items consumed in one sitting are more alike than items of one
history. A user's score for an item is the sum of its similarities to the user's items.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from training.embeddings_interactions import Interactions
from training.topk.base import TopKModel
from training.topk.side import SideFeatures


def cooccurrence(x: sp.csr_matrix) -> sp.csr_matrix:
    """Item × item counts of users sharing both items (``xᵀx`` of the 0/1 matrix), diagonal removed."""
    c = (x.T @ x).tocsr()
    c.setdiag(0)
    c.eliminate_zeros()
    return c


def sequential_cooccurrence(interactions: Interactions, window: int) -> sp.csr_matrix:
    """Symmetric item × item weights ``sum 1/d`` over pairs ``d <= window`` apart in a user's time order.

    Ties in time keep the column order of the matrix (deterministic). Needs ``interactions.times``.
    """
    if interactions.times is None:
        raise ValueError("interactions: a sequential item-kNN needs interaction times")
    times = interactions.times.tocoo()
    order = np.lexsort((times.col, times.data, times.row))
    user, item = times.row[order], times.col[order]
    n = interactions.shape[1]
    rows, cols, vals = [], [], []
    for d in range(1, window + 1):
        same = user[d:] == user[:-d]
        rows.append(item[:-d][same])
        cols.append(item[d:][same])
        vals.append(np.full(int(same.sum()), 1.0 / d))
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    m = sp.csr_matrix((v, (r, c)), shape=(n, n))
    m = (m + m.T).tocsr()
    m.setdiag(0)
    m.eliminate_zeros()
    return m


class ItemKNN(TopKModel):
    """Cosine item-kNN over (optionally time-windowed) co-occurrence.

    Parameters
    ----------
    window : int or None
        None: whole-history co-occurrence. An integer: only pairs at most this many interactions apart.
    neighbours : int or None
        Keep each item's strongest ``neighbours`` similarities (None keeps all).
    shrink : float
        Added to the cosine denominator: damps similarities between rarely seen items.
    """

    name: ClassVar[str] = "itemknn"

    def __init__(self, *, window: int | None = None, neighbours: int | None = None, shrink: float = 1.0) -> None:
        self.window = window
        self.neighbours = neighbours
        self.shrink = shrink

    def _fit(self, interactions: Interactions, side: SideFeatures | None) -> None:
        if self.window is not None and self.window < 1:
            raise ValueError(f"window: must be >= 1 or None, got {self.window}")
        x = interactions.binary()
        counts = np.asarray(x.sum(axis=0)).ravel().astype(np.float64)
        co = cooccurrence(x) if self.window is None else sequential_cooccurrence(interactions, self.window)
        co = co.tocoo()
        norm = np.sqrt(counts[co.row] * counts[co.col]) + self.shrink
        sim = sp.csr_matrix((co.data / norm, (co.row, co.col)), shape=co.shape)
        if self.neighbours is not None:
            sim = _keep_strongest(sim, self.neighbours)
        self.similarity_ = sim.tocsc()
        self.matrix_ = x

    def _score(self, user_rows: np.ndarray) -> np.ndarray:
        return np.asarray((self.matrix_[user_rows] @ self.similarity_).toarray())


def _keep_strongest(sim: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Each row's ``n`` largest entries (a row with fewer keeps all)."""
    sim = sim.tocsr()
    keep = np.zeros(sim.nnz, dtype=bool)
    for r in range(sim.shape[0]):
        lo, hi = sim.indptr[r], sim.indptr[r + 1]
        if hi - lo <= n:
            keep[lo:hi] = True
        else:
            keep[lo + np.argpartition(-sim.data[lo:hi], n - 1)[:n]] = True
    out = sim.copy()
    out.data = np.where(keep, out.data, 0.0)
    out.eliminate_zeros()
    return out
