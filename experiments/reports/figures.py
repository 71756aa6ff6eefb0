"""The report's curves as plain arrays (pure functions; ``plots`` draws them, tests check them by hand).

Lift and gain rank shown rows by the policy's score; calibration compares the model's predicted
probability with the observed outcome; Lorenz and Gini describe how exposure is spread over accounts;
activity buckets split users by their actions before the evaluation window.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from experiments.metrics import calibration_bins, exposure_gini, lorenz_curve
from experiments.reports.bootstrap import Interval, ratio_interval


def thin(x: np.ndarray, y: np.ndarray, points: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` evenly spaced points of a curve, first and last kept (for JSON and plots)."""
    if len(x) <= points:
        return x, y
    idx = np.unique(np.round(np.linspace(0, len(x) - 1, points)).astype(np.int64))
    return x[idx], y[idx]


def gain_curve(scores: npt.ArrayLike, outcomes: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative gain: after the top ``k/n`` rows by score, the share of all positive outcomes found.

    Returns ``(share_of_rows, share_of_outcomes)``, both of length ``n + 1`` from (0, 0) to (1, 1);
    rows with equal scores keep their order. With no positive outcome the curve is the diagonal.
    """
    s, y = np.asarray(scores, np.float64), np.asarray(outcomes, np.float64)
    if s.ndim != 1 or s.shape != y.shape or not len(s):
        raise ValueError("scores, outcomes: must be non-empty 1-d arrays of one length")
    if not np.isfinite(s).all() or (y < 0).any():
        raise ValueError("scores must be finite and outcomes non-negative")
    share = np.arange(len(s) + 1) / len(s)
    total = y.sum()
    if total == 0:
        return share, share.copy()
    order = np.argsort(-s, kind="stable")
    return share, np.concatenate([[0.0], np.cumsum(y[order]) / total])


def lift_curve(scores: npt.ArrayLike, outcomes: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Lift: the outcome rate in the top ``k/n`` rows over the overall rate (gain / share; 1 = no better than chance).

    Returns ``(share_of_rows, lift)`` of length ``n`` (the empty top is left out).
    """
    share, gain = gain_curve(scores, outcomes)
    return share[1:], gain[1:] / share[1:]


@dataclass(frozen=True)
class Calibration:
    """Non-empty bins of a reliability diagram and the expected calibration error."""

    predicted: np.ndarray
    observed: np.ndarray
    count: np.ndarray
    ece: float


def calibration_curve(probs: npt.ArrayLike, outcomes: npt.ArrayLike, bins: int = 10) -> Calibration:
    """Mean predicted probability vs observed rate per quantile bin of the prediction (empty bins dropped)."""
    observed, predicted, count = calibration_bins(outcomes, probs, bins, "quantile")
    keep = count > 0
    gap = np.abs(observed[keep] - predicted[keep])
    ece = float(np.sum(count[keep] * gap) / np.sum(count[keep]))
    return Calibration(predicted[keep], observed[keep], count[keep], ece)


@dataclass(frozen=True)
class Lorenz:
    """Lorenz curve of exposure (thinned for storage) and the Gini of the full distribution."""

    population: np.ndarray
    exposure: np.ndarray
    gini: float


def lorenz(exposure: npt.ArrayLike, points: int = 101) -> Lorenz:
    """Lorenz curve and Gini of exposure per account (zeros included: unseen accounts count)."""
    population, share = lorenz_curve(exposure)
    return Lorenz(*thin(population, share, points), exposure_gini(exposure))


def activity_edges(activity: npt.ArrayLike, buckets: int = 4) -> np.ndarray:
    """Inner bucket edges: the quantiles of past activity (repeated edges merged, so ties share a bucket)."""
    a = np.asarray(activity, np.float64)
    if not len(a):
        return np.zeros(0)
    return np.unique(np.quantile(a, np.linspace(0, 1, buckets + 1)[1:-1]))


def bucket_of(activity: npt.ArrayLike, edges: np.ndarray) -> np.ndarray:
    """Bucket index of each activity value: bucket j holds values in ``(edges[j-1], edges[j]]``."""
    return np.searchsorted(edges, np.asarray(activity, np.float64), side="left")


def by_bucket(num: np.ndarray, den: np.ndarray, bucket: np.ndarray, n_buckets: int, rng: np.random.Generator,
              resamples: int = 1000) -> list[Interval]:
    """The ratio ``sum(num) / sum(den)`` within each bucket, with its bootstrap interval."""
    return [ratio_interval(num[bucket == j], den[bucket == j], rng, resamples=resamples) for j in range(n_buckets)]


def bucket_labels(edges: np.ndarray) -> list[str]:
    """Readable ranges of past actions, one per bucket."""
    bounds = [int(e) for e in edges]
    if not bounds:
        return ["all"]
    labels = [f"≤{bounds[0]}"]
    labels += [f"{lo + 1}–{hi}" if hi > lo + 1 else f"{hi}" for lo, hi in pairwise(bounds)]
    return [*labels, f">{bounds[-1]}"]


def funnel_rates(counts: npt.ArrayLike) -> np.ndarray:
    """Share of each stage's posts that reached the next one (NaN after an empty stage)."""
    c = np.asarray(counts, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c[:-1] > 0, c[1:] / c[:-1], np.nan)
