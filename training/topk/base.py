"""The contract of every top-k model, and the one function that turns scores into top-k lists.

A model is fitted on an :class:`~training.embeddings_interactions.Interactions` matrix (optionally with
:class:`~training.topk.side.SideFeatures`) and scores rows of that matrix against every column:
``score(user_rows)`` is a dense ``(len(user_rows), n_items)`` array in which ``-inf`` means "never
recommend". :func:`top_k` removes each user's training items and keeps the ``k`` best.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from training.embeddings_interactions import Interactions
from training.topk.side import SideFeatures

__all__ = ["NotFittedError", "TopKModel", "clone", "top_k"]


class TopKModel(BaseEstimator):
    """Base contract: keyword-only hyper-parameters, ``fit(interactions, side=None) -> self``, ``score``.

    A scikit-learn ``BaseEstimator``: ``sklearn.base.clone`` (re-exported here) gives an unfitted copy, and
    clones estimators among the parameters too (a re-ranker's candidate generators).

    Learned attributes end in ``_``; every model sets ``user_ids_`` and ``item_ids_`` (the rows and columns
    it was fitted on) and implements :meth:`_fit` and :meth:`_score`.
    """

    name: ClassVar[str] = ""

    def fit(self, interactions: Interactions, side: SideFeatures | None = None) -> TopKModel:
        """Learn from ``interactions`` (and ``side`` attributes, if the model uses them); returns ``self``."""
        if not isinstance(interactions, Interactions):
            raise TypeError(f"interactions: expected Interactions, got {type(interactions).__name__}")
        if interactions.matrix.nnz == 0:
            raise ValueError("interactions: the matrix has no entries to learn from")
        self._fit(interactions, side)
        self.user_ids_ = interactions.user_ids
        self.item_ids_ = interactions.item_ids
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Dense scores of the fitted matrix's rows ``user_rows`` against every fitted item."""
        check_is_fitted(self, "item_ids_", msg="%(name)s is not fitted yet: call fit(interactions) first")
        rows = np.asarray(user_rows, dtype=np.int64)
        return np.asarray(self._score(rows), dtype=np.float64)

    def _fit(self, interactions: Interactions, side: SideFeatures | None) -> None:
        raise NotImplementedError

    def _score(self, user_rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _best_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices of each row's ``k`` best finite scores (ties: lower column first) and the ranks."""
    kk = min(k, scores.shape[1])
    part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk] if kk < scores.shape[1] else np.tile(
        np.arange(scores.shape[1]), (len(scores), 1))
    picked = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -picked), axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(picked, order, axis=1)


def top_k(model: TopKModel, interactions: Interactions, *, k: int = 10, batch_size: int = 1024,
          user_rows: np.ndarray | None = None) -> pd.DataFrame:
    """Each user's ``k`` best items, the user's items in ``interactions`` removed.

    Parameters
    ----------
    model : TopKModel
        Fitted on ``interactions`` (same rows and columns).
    interactions : Interactions
        The training matrix: its entries are the items removed from each user's list.
    k : int
        List length; a user gets fewer when fewer items have a finite score.
    user_rows : array of int, optional
        Rows to recommend for (default: every row).

    Returns
    -------
    pandas.DataFrame
        ``user``, ``item`` (ids), ``rank`` (1..k), ``score``; sorted by user row, then rank.
    """
    if k < 1:
        raise ValueError(f"k: must be >= 1, got {k}")
    if not np.array_equal(model.item_ids_, interactions.item_ids):
        raise ValueError("interactions: not the items the model was fitted on")
    rows_all = np.arange(interactions.shape[0]) if user_rows is None else np.asarray(user_rows, np.int64)
    parts = []
    for start in range(0, len(rows_all), batch_size):
        rows = rows_all[start:start + batch_size]
        scores = model.score(rows)
        seen = interactions.matrix[rows].tocoo()
        scores[seen.row, seen.col] = -np.inf
        cols, best = _best_k(scores, k)
        rank = np.broadcast_to(np.arange(1, cols.shape[1] + 1), cols.shape)
        keep = np.isfinite(best)
        parts.append(pd.DataFrame({
            "user": np.repeat(interactions.user_ids[rows], cols.shape[1])[keep.ravel()],
            "item": interactions.item_ids[cols[keep]], "rank": rank[keep].astype(np.int64),
            "score": best[keep],
        }))
    if not parts:
        return pd.DataFrame({"user": [], "item": [], "rank": [], "score": []}).astype(
            {"user": np.int64, "item": np.int64, "rank": np.int64})
    return pd.concat(parts, ignore_index=True)
