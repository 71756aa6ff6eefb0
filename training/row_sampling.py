"""Bounded training and held-out rows for worlds too large to featurise whole.

A large world logs tens of millions of impressions per slot; their point-in-time frame does not fit in memory
(about 1 KB per row while it is built). Two samplers keep the rows a ranker sees within settings, before any
feature is computed:

- :func:`downsample_negatives` keeps every impression with an action and a uniform share of those without,
  each kept negative weighing 1/share. Weighted, the sample has the population's positive rate exactly, so
  the heads' log-loss and their isotonic calibration see the same target as on every row (the usual
  negative down-sampling with weights, as in He et al., *Practical lessons from predicting clicks on ads at
  Facebook*, 2014). The conditional heads learn among clicks, which are all kept.
- :func:`sample_pages` keeps whole served pages, so per-page figures (nDCG of a re-ordered page) stay
  meaningful on the held-out days.

Both take a ``numpy.random.Generator`` and are deterministic given it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RowSample:
    """Kept rows (ascending indices into the input), the weight of each, and the share of each kind kept."""

    index: np.ndarray
    weight: np.ndarray
    negative_rate: float  # share of rows without any action that were kept (1.0: all)
    positive_rate: float = 1.0  # share of rows with an action that were kept

    @property
    def sampled(self) -> bool:
        """Whether any row was left out."""
        return self.negative_rate < 1.0 or self.positive_rate < 1.0


def downsample_negatives(labels: Mapping[str, np.ndarray], max_rows: int,
                         rng: np.random.Generator) -> RowSample:
    """About ``max_rows`` rows: every row with a positive label, and negatives at the rate that fills the rest.

    When the rows with an action are more than half of ``max_rows``, keeping them all would leave too few
    negatives to learn from; the sample is then uniform over all rows (weights 1: rates unchanged).
    """
    if max_rows < 1:
        raise ValueError(f"max_rows: {max_rows} must be at least 1")
    columns = [np.asarray(v) for v in labels.values()]
    if not columns:
        raise ValueError("labels: no head to sample by")
    n = len(columns[0])
    if any(len(c) != n for c in columns):
        raise ValueError("labels: heads have different numbers of rows")
    if n <= max_rows:
        return RowSample(np.arange(n), np.ones(n), 1.0)
    positive = np.zeros(n, bool)
    for c in columns:
        positive |= c > 0
    positives = int(positive.sum())
    negatives = n - positives
    if 2 * positives > max_rows:
        index = np.flatnonzero(rng.random(n) < max_rows / n)
        return RowSample(index, np.ones(len(index)), max_rows / n, max_rows / n)
    keep = positive | (rng.random(n) < (max_rows - positives) / negatives)
    index = np.flatnonzero(keep)
    # The realised share, not the planned one: the kept negatives then weigh exactly as many as there were.
    realised = (len(index) - positives) / negatives
    weight = np.where(positive[index], 1.0, 1.0 / realised if realised else 1.0)
    return RowSample(index, weight, realised)


def sample_pages(request_id: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Mask of the rows of a uniform sample of pages (``request_id``) holding about ``max_rows`` rows."""
    if max_rows < 1:
        raise ValueError(f"max_rows: {max_rows} must be at least 1")
    request_id = np.asarray(request_id)
    if len(request_id) <= max_rows:
        return np.ones(len(request_id), bool)
    pages, inverse = np.unique(request_id, return_inverse=True)
    chosen = rng.random(len(pages)) < max_rows / len(request_id)
    return chosen[inverse]
