"""Percentile bootstrap intervals of ratio means over units (users), alone or as a paired / independent difference.

A slot figure such as nDCG@10 is a mean over sessions; with per-user sums ``num`` and session counts ``den``
it is ``sum(num) / sum(den)``, and resampling users (not sessions) keeps a user's sessions together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_CELLS = 2_000_000  # resampled indices held at once (memory), split over chunks of resamples


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile bootstrap interval (NaN bounds when there is nothing to resample)."""

    value: float
    lo: float
    hi: float

    def as_dict(self) -> dict[str, float]:
        """{"value", "lo", "hi"}."""
        return {"value": self.value, "lo": self.lo, "hi": self.hi}


def _check(num: np.ndarray, den: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    if num.ndim != 1 or num.shape != den.shape:
        raise ValueError(f"{name}: numerators and denominators must be 1-d arrays of one length")
    if (den < 0).any():
        raise ValueError(f"{name}: denominators must be non-negative")
    return num, den


def _ratio(num: np.ndarray, den: np.ndarray) -> float:
    total = den.sum()
    return float(num.sum() / total) if total > 0 else float("nan")


def _resample(n: int, resamples: int, rng: np.random.Generator,
              stat: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``stat`` of ``resamples`` index draws (rows of an (m, n) array), in chunks that bound memory."""
    out = []
    chunk = max(1, _CELLS // max(n, 1))
    for start in range(0, resamples, chunk):
        idx = rng.integers(0, n, (min(chunk, resamples - start), n))
        out.append(stat(idx))
    return np.concatenate(out)


def _bounds(draws: np.ndarray, level: float) -> tuple[float, float]:
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return float("nan"), float("nan")
    tail = 50 * (1 - level)
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    return float(lo), float(hi)


def ratio_interval(num: np.ndarray, den: np.ndarray, rng: np.random.Generator, *, resamples: int = 1000,
                   level: float = 0.95) -> Interval:
    """``sum(num) / sum(den)`` with a percentile interval from resampling units with replacement."""
    num, den = _check(num, den, "ratio_interval")
    value = _ratio(num, den)
    if len(num) < 2:
        return Interval(value, float("nan"), float("nan"))
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = _resample(len(num), resamples, rng, lambda i: num[i].sum(1) / den[i].sum(1))
    return Interval(value, *_bounds(draws, level))


def paired_difference(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
                      rng: np.random.Generator, *, resamples: int = 1000, level: float = 0.95) -> Interval:
    """Ratio of ``b`` minus ratio of ``a`` over the same units (row i of both is one user): units resampled once."""
    (an, ad), (bn, bd) = _check(*a, "paired_difference a"), _check(*b, "paired_difference b")
    if an.shape != bn.shape:
        raise ValueError("paired_difference: a and b must hold the same units")
    value = _ratio(bn, bd) - _ratio(an, ad)
    if len(an) < 2:
        return Interval(value, float("nan"), float("nan"))
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = _resample(len(an), resamples, rng,
                          lambda i: bn[i].sum(1) / bd[i].sum(1) - an[i].sum(1) / ad[i].sum(1))
    return Interval(value, *_bounds(draws, level))


def independent_difference(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
                           rng: np.random.Generator, *, resamples: int = 1000, level: float = 0.95) -> Interval:
    """Ratio of ``b`` minus ratio of ``a`` over unrelated units: each side resampled on its own."""
    (an, ad), (bn, bd) = _check(*a, "independent_difference a"), _check(*b, "independent_difference b")
    value = _ratio(bn, bd) - _ratio(an, ad)
    if len(an) < 2 or len(bn) < 2:
        return Interval(value, float("nan"), float("nan"))
    with np.errstate(invalid="ignore", divide="ignore"):
        da = _resample(len(an), resamples, rng, lambda i: an[i].sum(1) / ad[i].sum(1))
        db = _resample(len(bn), resamples, rng, lambda i: bn[i].sum(1) / bd[i].sum(1))
    return Interval(value, *_bounds(db - da, level))


def aligned(units_a: np.ndarray, units_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``a`` and in ``b`` of the units both hold (ids unique on each side), in ascending id order."""
    _, ia, ib = np.intersect1d(units_a, units_b, assume_unique=True, return_indices=True)
    return ia, ib
