"""Top-k ranking metrics with the exact semantics of microsoft/recommenders 1.2.1 ``python_evaluation``.

All functions take a :class:`~experiments.metrics.topk_data.RankingData` built once by
:func:`~experiments.metrics.topk_data.ranking_data` (``relevancy_method="top_k"``, every truth item
relevant). Conventions taken from recommenders 1.2.1, each checked against its source:

* precision, recall, MAP and MAP@k average over the *common users* (users with both truth and
  predictions); a common user without hits counts as 0.
* nDCG averages over *every truth user*, including those with no predictions at all (they score 0): in
  recommenders the nDCG table is an outer join with the full truth, not with the common users only.
* precision divides the hits by ``k`` even when a user has fewer than ``k`` predictions.
* MAP divides by the user's number of relevant items; MAP@k by ``min(n_relevant, k)``.
* if there is not a single hit (or no common user) every metric returns ``0.0``.
"""

from __future__ import annotations

import numpy as np

from experiments.metrics._grouping import group_positions
from experiments.metrics.topk_data import RankingData


def _no_hits(data: RankingData) -> bool:
    """recommenders returns 0.0 before averaging when the hit table is empty."""
    return len(data.hit_user) == 0


def _mean_over_common(data: RankingData, per_user: np.ndarray) -> float:
    """Sum of ``per_user`` over common users divided by their number (``n_users`` in recommenders)."""
    return float(per_user[data.in_pred].sum() / data.n_common_users)


def precision_at_k(data: RankingData) -> float:
    """Precision at k: hits in the top k divided by ``k``, averaged over common users.

    Returns
    -------
    float
        In ``[0, 1]``. The maximum is below 1 when some user has fewer than ``k`` predictions or fewer
        than ``k`` relevant items (the denominator is always ``k``). 0.0 when there are no hits.
    """
    if _no_hits(data):
        return 0.0
    return _mean_over_common(data, data.n_hits / data.k)


def recall_at_k(data: RankingData) -> float:
    """Recall at k: hits in the top k divided by the user's number of relevant items, averaged.

    Returns
    -------
    float
        In ``[0, 1]``, averaged over common users; a user with more than ``k`` relevant items cannot
        reach 1. 0.0 when there are no hits.
    """
    if _no_hits(data):
        return 0.0
    return _mean_over_common(data, data.n_hits / data.n_relevant)


def _sum_precision_at_hits(data: RankingData) -> np.ndarray:
    """Per truth user: sum over hits of (hits up to and including rank r) / r."""
    ordinal = group_positions(data.hit_user)
    return np.bincount(data.hit_user, weights=ordinal / data.hit_rank, minlength=len(data.truth_users))


def mean_average_precision(data: RankingData) -> float:
    """MAP as recommenders 1.2.1 ``map``: average precision normalised by all relevant items.

    Per user: ``sum over hits at rank r of (hits within ranks 1..r) / r``, divided by the user's total
    number of relevant items (not ``min(n_relevant, k)``), then averaged over common users.

    Returns
    -------
    float
        In ``[0, 1]``; at most ``min(n_relevant, k) / n_relevant`` per user. 0.0 when there are no hits.
    """
    if _no_hits(data):
        return 0.0
    return _mean_over_common(data, _sum_precision_at_hits(data) / data.n_relevant)


def map_at_k(data: RankingData) -> float:
    """MAP@k as recommenders 1.2.1 ``map_at_k``: the same sum as MAP divided by ``min(n_relevant, k)``.

    Returns
    -------
    float
        In ``[0, 1]``, averaged over common users; always ``>= mean_average_precision``, equal to it when
        no user has more than ``k`` relevant items. 0.0 when there are no hits.
    """
    if _no_hits(data):
        return 0.0
    return _mean_over_common(data, _sum_precision_at_hits(data) / np.minimum(data.n_relevant, data.k))


def _binary_ideal_dcg(data: RankingData) -> np.ndarray:
    """Per truth user: ``sum_{i=1}^{min(n_relevant, k)} 1 / log2(i + 1)``."""
    cumulative = np.cumsum(1.0 / np.log2(np.arange(2, data.k + 2, dtype=np.float64)))
    return cumulative[np.minimum(data.n_relevant, data.k) - 1]


def ndcg_at_k(data: RankingData, *, graded: bool = False) -> float:
    """Normalised discounted cumulative gain at k, as recommenders 1.2.1 ``ndcg_at_k``.

    Parameters
    ----------
    data : RankingData
    graded : bool, default False
        False: binary gain (``score_type="binary"``), ideal DCG over ``min(n_relevant, k)`` relevant
        items. True: the true rating is the gain (``score_type="raw"``, not ``2**r - 1``) and the ideal
        DCG uses the user's ``k`` largest true ratings; needs ``true_rating`` in :func:`ranking_data`.

    Returns
    -------
    float
        In ``[0, 1]``. DCG sums ``gain / log2(rank + 1)`` over hits (rank 1-based; the log base cancels,
        recommenders' default natural log gives the same value). The mean runs over **all truth
        users**, users without predictions scoring 0. With ``graded=True`` users whose ratings are all
        0 have 0/0 and are left out of the mean (NaN is skipped, as pandas does); if that leaves no
        user the result is NaN. 0.0 when there are no hits.

    Raises
    ------
    ValueError
        ``graded=True`` on data built without ``true_rating``.
    """
    if _no_hits(data):
        if graded and (data.hit_rating is None or data.ideal_graded_dcg is None):
            raise ValueError("graded: needs true_rating, pass it to ranking_data()")
        return 0.0
    per_user = ndcg_per_user(data, graded=graded)
    per_user = per_user[~np.isnan(per_user)]
    return float(per_user.mean()) if per_user.size else float("nan")


def ndcg_per_user(data: RankingData, *, graded: bool = False) -> np.ndarray:
    """nDCG@k of every truth user (aligned with ``data.truth_users``; 0 without hits, NaN for 0/0): the values
    :func:`ndcg_at_k` averages, for intervals and breakdowns by user."""
    if not graded:
        gains, ideal = np.ones(len(data.hit_rank)), _binary_ideal_dcg(data)
    elif data.hit_rating is None or data.ideal_graded_dcg is None:
        raise ValueError("graded: needs true_rating, pass it to ranking_data()")
    else:
        gains, ideal = data.hit_rating, data.ideal_graded_dcg
    dcg = np.bincount(data.hit_user, weights=gains / np.log2(data.hit_rank + 1.0),
                      minlength=len(data.truth_users))
    with np.errstate(invalid="ignore", divide="ignore"):
        return dcg / ideal
