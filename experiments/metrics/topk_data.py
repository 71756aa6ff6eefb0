"""The per-user top-k hit table shared by the ranking metrics, built once by :func:`ranking_data`.

Semantics follow microsoft/recommenders 1.2.1 ``python_evaluation.merge_ranking_true_pred`` with
``relevancy_method="top_k"``: every truth row is a relevant item, the predictions of each user are sorted
by score descending and cut at ``k``, and a hit is a top-k ``(user, item)`` pair present in the truth.
Everything is vectorised (sorts, ``searchsorted`` and ``bincount``; no Python loop per user).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from experiments.metrics._grouping import group_positions
from experiments.metrics._validation import (
    as_float,
    check_ids,
    check_positive_int,
    check_same_length,
    id_family,
)


@dataclass(frozen=True)
class RankingData:
    """Hits of the top-k predictions against the truth, indexed by truth user.

    Attributes
    ----------
    k : int
        Cut-off of the ranking (``k >= 1``).
    truth_users : np.ndarray
        Distinct users of the truth, sorted; every per-user array below is aligned with it.
    in_pred : np.ndarray of bool
        Whether the truth user also has predictions (a "common user" in recommenders' terms).
    n_relevant : np.ndarray of int64
        Number of truth items of the user (all of them are relevant); always ``>= 1``.
    n_hits : np.ndarray of int64
        Number of the user's top-k predicted items that are in the truth.
    hit_user : np.ndarray of int64
        One entry per hit: index into ``truth_users``; sorted by user, then by rank.
    hit_rank : np.ndarray of int64
        One entry per hit: 1-based rank of the hit in the user's predictions.
    hit_rating : np.ndarray of float64 or None
        One entry per hit: its true rating (None when no ``true_rating`` was given).
    ideal_graded_dcg : np.ndarray of float64 or None
        Per truth user: sum of the user's k largest true ratings discounted by ``log2(rank + 1)``
        (None when no ``true_rating`` was given).
    """

    k: int
    truth_users: np.ndarray
    in_pred: np.ndarray
    n_relevant: np.ndarray
    n_hits: np.ndarray
    hit_user: np.ndarray
    hit_rank: np.ndarray
    hit_rating: np.ndarray | None
    ideal_graded_dcg: np.ndarray | None

    @property
    def n_common_users(self) -> int:
        """Number of users present in both the truth and the predictions."""
        return int(self.in_pred.sum())


def _encode(true_ids: np.ndarray, pred_ids: np.ndarray, names: tuple[str, str]) -> tuple[np.ndarray, ...]:
    """Integer codes shared by both arrays: ``(true_codes, pred_codes, sorted_distinct_ids)``."""
    if len(true_ids) and len(pred_ids) and id_family(true_ids) != id_family(pred_ids):
        raise ValueError(f"{names[1]}: dtype {pred_ids.dtype} is not comparable with {names[0]} "
                         f"dtype {true_ids.dtype}")
    uniq, codes = np.unique(np.concatenate([true_ids, pred_ids]), return_inverse=True)
    codes = codes.astype(np.int64, copy=False)
    return codes[: len(true_ids)], codes[len(true_ids):], uniq


def _check_unique_pairs(keys: np.ndarray, name: str) -> np.ndarray:
    """Sort the pair keys and raise if a ``(user, item)`` pair repeats; return the sort order."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    if np.any(sorted_keys[1:] == sorted_keys[:-1]):
        raise ValueError(f"{name}: duplicate (user, item) pairs")
    return order


def _top_k(user: np.ndarray, score: np.ndarray, keep: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of each kept user's k best predictions and their 1-based ranks.

    Rows come out sorted by user code, then score descending; equal scores keep input order
    (``np.lexsort`` is stable), exactly as pandas' ``sort_values`` in recommenders' ``get_top_k_items``.
    """
    rows = np.flatnonzero(keep)
    rows = rows[np.lexsort((-score[rows], user[rows]))]
    rank = group_positions(user[rows])
    top = rank <= k
    return rows[top], rank[top]


def _lookup(sorted_keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query: whether it is in ``sorted_keys`` and, if so, its position there."""
    if len(sorted_keys) == 0:
        return np.zeros(len(queries), dtype=bool), np.zeros(len(queries), dtype=np.int64)
    pos = np.minimum(np.searchsorted(sorted_keys, queries), len(sorted_keys) - 1)
    return sorted_keys[pos] == queries, pos


def _ideal_graded(user: np.ndarray, rating: np.ndarray, n_users: int, k: int) -> np.ndarray:
    """Per user code: sum of the k largest ratings, the i-th largest divided by ``log2(i + 1)``."""
    order = np.lexsort((-rating, user))
    rank = group_positions(user[order])
    top = rank <= k
    gains = rating[order][top] / np.log2(rank[top] + 1.0)
    return np.bincount(user[order][top], weights=gains, minlength=n_users)


def _validated(
    true_user: npt.ArrayLike, true_item: npt.ArrayLike, pred_user: npt.ArrayLike,
    pred_item: npt.ArrayLike, pred_score: npt.ArrayLike, k: int, true_rating: npt.ArrayLike | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Check the arguments of :func:`ranking_data` and return them as arrays."""
    check_positive_int(k, "k")
    tu, ti = check_ids(true_user, "true_user"), check_ids(true_item, "true_item")
    pu, pi = check_ids(pred_user, "pred_user"), check_ids(pred_item, "pred_item")
    ps = as_float(pred_score, "pred_score")
    check_same_length(("true_user", tu), ("true_item", ti))
    check_same_length(("pred_user", pu), ("pred_item", pi))
    check_same_length(("pred_item", pi), ("pred_score", ps))
    tr = None
    if true_rating is not None:
        tr = as_float(true_rating, "true_rating")
        check_same_length(("true_item", ti), ("true_rating", tr))
        if tr.size and tr.min() < 0:
            raise ValueError("true_rating: ratings must be >= 0")
    return tu, ti, pu, pi, ps, tr


def ranking_data(
    true_user: npt.ArrayLike, true_item: npt.ArrayLike, pred_user: npt.ArrayLike,
    pred_item: npt.ArrayLike, pred_score: npt.ArrayLike, *, k: int = 10,
    true_rating: npt.ArrayLike | None = None,
) -> RankingData:
    """Join top-k predictions with the truth once, for all ranking metrics.

    Parameters
    ----------
    true_user, true_item : array_like
        The truth in long form, one row per relevant ``(user, item)`` pair (integer or string ids).
    pred_user, pred_item, pred_score : array_like
        The predictions in long form; higher score ranks first. Scores must not be NaN.
    k : int, default 10
        Cut-off, ``>= 1``.
    true_rating : array_like, optional
        Non-negative graded relevance of each truth row, needed only by ``ndcg_at_k(graded=True)``.

    Returns
    -------
    RankingData

    Raises
    ------
    ValueError
        Mismatched lengths, ``k < 1``, NaN scores, negative ratings, user or item ids of incomparable
        types (numbers against strings), or a repeated ``(user, item)`` pair in truth or predictions.

    Notes
    -----
    Users with predictions but no truth are dropped. Ties in ``pred_score`` are broken by input order
    (the earlier row ranks first), which is what recommenders 1.2.1 does through pandas' stable sort.
    """
    arrays = _validated(true_user, true_item, pred_user, pred_item, pred_score, k, true_rating)
    return _build(*arrays, k=int(k))


def _build(
    tu: np.ndarray, ti: np.ndarray, pu: np.ndarray, pi: np.ndarray, ps: np.ndarray, tr: np.ndarray | None,
    *, k: int,
) -> RankingData:
    """Body of :func:`ranking_data` on validated arrays."""
    t_u, p_u, users = _encode(tu, pu, ("true_user", "pred_user"))
    t_i, p_i, items = _encode(ti, pi, ("true_item", "pred_item"))
    n_u = len(users)
    t_key, p_key = t_u * len(items) + t_i, p_u * len(items) + p_i
    t_order = _check_unique_pairs(t_key, "true_item")
    _check_unique_pairs(p_key, "pred_item")
    n_relevant = np.bincount(t_u, minlength=n_u)
    is_truth_user = n_relevant > 0
    rows, rank = _top_k(p_u, ps, is_truth_user[p_u], k)
    hit, pos = _lookup(t_key[t_order], p_key[rows])
    truth_index = np.cumsum(is_truth_user) - 1
    hit_code = p_u[rows[hit]]
    return RankingData(
        k=k,
        truth_users=users[is_truth_user],
        in_pred=(np.bincount(p_u, minlength=n_u) > 0)[is_truth_user],
        n_relevant=n_relevant[is_truth_user],
        n_hits=np.bincount(hit_code, minlength=n_u)[is_truth_user],
        hit_user=truth_index[hit_code],
        hit_rank=rank[hit],
        hit_rating=None if tr is None else tr[t_order][pos[hit]],
        ideal_graded_dcg=None if tr is None else _ideal_graded(t_u, tr, n_u, k)[is_truth_user],
    )
