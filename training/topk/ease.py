"""EASE (Steck 2019): a closed-form item-item linear model, ``B = I - P·diag(1/diag(P))``, ``P = (XᵀX+λI)⁻¹``.

With ``session_gap_ms`` the Gram matrix also counts co-occurrence within sessions
(:func:`training.topk.sessions.session_matrix`): ``G = XᵀX + w·SᵀS``, still a Gram matrix (of the users'
and the sessions' rows stacked), so the closed form holds; scores stay ``X·B``. Items of one sitting then pull
each other harder than items far apart in a user's history.

The Gram matrix is dense, so the model keeps at most ``max_items`` columns, the most popular ones (the
rest score ``-inf``: they never come from EASE); on MovieLens-100k (1,682 movies) that is all of them.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from training.embeddings_interactions import Interactions
from training.topk.base import TopKModel
from training.topk.sessions import session_matrix
from training.topk.side import SideFeatures


class EASE(TopKModel):
    """Embarrassingly shallow autoencoder on the binary interaction matrix.

    Parameters
    ----------
    l2 : float
        The ridge penalty λ (about 500 on MovieLens-100k).
    max_items : int
        Largest number of columns kept (the Gram matrix is ``max_items²`` float64).
    session_gap_ms : float, optional
        Also learn from sessions split at gaps longer than this (needs interaction times); None: users only.
    session_weight : float
        Weight ``w`` of the sessions' co-occurrence against the users'.
    """

    name: ClassVar[str] = "ease"

    def __init__(self, *, l2: float = 500.0, max_items: int = 15_000, session_gap_ms: float | None = None,
                 session_weight: float = 1.0) -> None:
        self.l2 = l2
        self.max_items = max_items
        self.session_gap_ms = session_gap_ms
        self.session_weight = session_weight

    def _fit(self, interactions: Interactions, side: SideFeatures | None) -> None:
        if self.l2 <= 0:
            raise ValueError(f"l2: must be > 0, got {self.l2}")
        x = interactions.binary().tocsc()
        counts = np.diff(x.indptr)
        keep = np.sort(np.argsort(-counts, kind="stable")[: self.max_items])
        xk = x[:, keep]
        gram = (xk.T @ xk).toarray().astype(np.float64)
        if self.session_gap_ms is not None:
            sk = session_matrix(interactions, self.session_gap_ms).tocsc()[:, keep]
            gram += self.session_weight * (sk.T @ sk).toarray()
        gram[np.diag_indices_from(gram)] += self.l2
        p = np.linalg.inv(gram)
        weights = -p / np.diag(p)
        np.fill_diagonal(weights, 0.0)
        self.columns_ = keep
        self.weights_ = weights
        self.matrix_ = x[:, keep].tocsr()
        self.n_items_ = x.shape[1]

    def _score(self, user_rows: np.ndarray) -> np.ndarray:
        out = np.full((len(user_rows), self.n_items_), -np.inf)
        out[:, self.columns_] = np.asarray(self.matrix_[user_rows] @ self.weights_)
        return out
