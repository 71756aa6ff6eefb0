"""Pointwise click/engagement metrics: group AUC, log loss and calibration (numpy only, vectorised)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from experiments.metrics._grouping import positions_in_runs, run_starts
from experiments.metrics._validation import (
    as_binary,
    as_float,
    as_probabilities,
    check_ids,
    check_positive_int,
    check_same_length,
)

BinStrategy = Literal["uniform", "quantile"]


def _within_group_ranks(group_codes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort order by (group, score) and the 1-based average rank of each sorted row within its group.

    Rows with equal scores in the same group all get the mean of the ranks they span.
    """
    order = np.lexsort((scores, group_codes))
    g, s = group_codes[order], scores[order]
    tie_starts = run_starts(g, s)
    position = positions_in_runs(run_starts(g)).astype(np.float64)
    tie_ends = np.append(tie_starts[1:], True)
    tie_id = np.cumsum(tie_starts) - 1
    mean_rank = (position[tie_starts] + position[tie_ends]) / 2.0
    return order, mean_rank[tie_id]


def group_auc(groups: npt.ArrayLike, labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Group AUC: per-group ROC AUC averaged with weights equal to the group's number of impressions.

    Parameters
    ----------
    groups : array_like
        Group id (typically the user) of each impression, integers or strings.
    labels : array_like
        Binary outcome (0/1 or bool) of each impression.
    scores : array_like
        Model score of each impression (any real numbers, higher = more likely positive; no NaN).

    Returns
    -------
    float
        In ``[0, 1]``. Each group's AUC is the Mann-Whitney statistic (a tied positive/negative pair
        counts 1/2, as ``sklearn.metrics.roc_auc_score``). Groups whose labels are all 0 or all 1 are
        skipped, both in the numerator and in the weights. NaN when no group has both classes
        (including empty input).

    Raises
    ------
    ValueError
        Mismatched lengths, labels other than 0/1, NaN scores.
    """
    g = check_ids(groups, "groups")
    y = as_binary(labels, "labels")
    s = as_float(scores, "scores")
    check_same_length(("groups", g), ("labels", y), ("scores", s))
    codes = np.unique(g, return_inverse=True)[1].astype(np.int64)
    order, rank = _within_group_ranks(codes, s)
    g_sorted, y_sorted = codes[order], y[order]
    size = np.bincount(g_sorted).astype(np.float64)
    n_pos = np.bincount(g_sorted, weights=y_sorted)
    n_neg = size - n_pos
    valid = (n_pos > 0) & (n_neg > 0)
    if not valid.any():
        return float("nan")
    pos_rank_sum = np.bincount(g_sorted, weights=y_sorted * rank)
    auc = (pos_rank_sum[valid] - n_pos[valid] * (n_pos[valid] + 1) / 2) / (n_pos[valid] * n_neg[valid])
    return float(np.sum(auc * size[valid]) / np.sum(size[valid]))


def log_loss(labels: npt.ArrayLike, probs: npt.ArrayLike, eps: float = 1e-15) -> float:
    """Mean binary cross-entropy, ``-mean(y log p + (1 - y) log(1 - p))``.

    Parameters
    ----------
    labels : array_like
        Binary outcomes (0/1 or bool).
    probs : array_like
        Predicted probability of the positive class, each in ``[0, 1]``.
    eps : float, default 1e-15
        ``p`` and ``1 - p`` are each clipped to ``[eps, 1 - eps]`` before the log, so a confident miss
        costs at most ``-log(eps)``. With ``eps=np.finfo(float).eps`` this equals
        ``sklearn.metrics.log_loss`` of scikit-learn >= 1.5 (which dropped its ``eps`` argument); older
        scikit-learn used 1e-15 by default. Away from 0 and 1 the value does not depend on ``eps``.

    Returns
    -------
    float
        In ``[0, -log(eps)]``; 0 only for perfectly confident, correct predictions.

    Raises
    ------
    ValueError
        Empty input, mismatched lengths, labels other than 0/1, probabilities outside ``[0, 1]``, or
        ``eps`` outside ``(0, 0.5)``.
    """
    y = as_binary(labels, "labels")
    p = as_probabilities(probs, "probs")
    check_same_length(("labels", y), ("probs", p))
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps: must lie in (0, 0.5), got {eps}")
    if y.size == 0:
        raise ValueError("labels: empty")
    p_pos = np.clip(p, eps, 1.0 - eps)
    p_neg = np.clip(1.0 - p, eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p_pos) + (1.0 - y) * np.log(p_neg)))


def _bin_ids(probs: np.ndarray, n_bins: int, strategy: BinStrategy) -> np.ndarray:
    """Bin index of every probability (edges as ``sklearn.calibration.calibration_curve``)."""
    n_bins = check_positive_int(n_bins, "n_bins")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.percentile(probs, np.linspace(0.0, 1.0, n_bins + 1) * 100)
    else:
        raise ValueError(f"strategy: must be 'uniform' or 'quantile', got {strategy!r}")
    return np.searchsorted(edges[1:-1], probs, side="left")


def calibration_bins(
    labels: npt.ArrayLike, probs: npt.ArrayLike, n_bins: int = 10, strategy: BinStrategy = "uniform",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reliability-diagram table: per bin the mean label, the mean probability and the count.

    Parameters
    ----------
    labels, probs : array_like
        Binary outcomes and predicted probabilities in ``[0, 1]``, same length, non-empty.
    n_bins : int, default 10
        Number of bins, ``>= 1``.
    strategy : {"uniform", "quantile"}
        ``"uniform"``: edges ``0, 1/n_bins, ..., 1``. ``"quantile"``: edges at the
        ``0, 1/n_bins, ..., 1`` quantiles of ``probs`` (repeated edges leave empty bins).

    Returns
    -------
    mean_label, mean_prob, count : np.ndarray
        Arrays of length ``n_bins``; the means are NaN for empty bins.

    Notes
    -----
    Bins are right-closed, ``(e_{j}, e_{j+1}]``, except the first which also holds its lower edge
    (so ``p = 0`` falls in bin 0, ``p = 0.1`` in bin 0 and ``p = 0.1000001`` in bin 1 with 10 uniform
    bins). This is the rule of ``sklearn.calibration.calibration_curve``, whose non-empty bins these
    means reproduce.
    """
    y = as_binary(labels, "labels")
    p = as_probabilities(probs, "probs")
    check_same_length(("labels", y), ("probs", p))
    if y.size == 0:
        raise ValueError("labels: empty")
    ids = _bin_ids(p, n_bins, strategy)
    count = np.bincount(ids, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_label = np.bincount(ids, weights=y, minlength=n_bins) / count
        mean_prob = np.bincount(ids, weights=p, minlength=n_bins) / count
    return mean_label, mean_prob, count


def expected_calibration_error(
    labels: npt.ArrayLike, probs: npt.ArrayLike, n_bins: int = 10, strategy: BinStrategy = "uniform",
) -> float:
    """Expected calibration error: ``sum over bins of (count / n) * |mean label - mean prob|``.

    Binning is that of :func:`calibration_bins` (right-closed bins, the first one including 0;
    uniform or quantile edges). Empty bins contribute nothing.

    Returns
    -------
    float
        In ``[0, 1]``; 0 when every bin's mean probability equals its observed positive rate.

    Raises
    ------
    ValueError
        Empty input, mismatched lengths, labels other than 0/1, probabilities outside ``[0, 1]``,
        ``n_bins < 1`` or an unknown ``strategy``.
    """
    mean_label, mean_prob, count = calibration_bins(labels, probs, n_bins, strategy)
    filled = count > 0
    gap = np.abs(mean_label[filled] - mean_prob[filled])
    return float(np.sum(count[filled] * gap) / np.sum(count))
