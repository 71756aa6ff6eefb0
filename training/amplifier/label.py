"""The amplifier's label: how a fans-only post did in public, relative to what its kind and format usually do.

For a fans-only post that non-fans saw at least ``min_label_impressions`` times on the hotlist (the probe and
public pools; users who did not follow the author at that moment)::

    label = log((non-fan engagements + a) / (non-fan impressions × cell baseline + a))

where the cell baseline is the non-fan engagement rate of the post's kind × format cell over every labelled
exposure, shrunk to the pooled rate with ``baseline_prior_impressions``, and ``a = label_prior``.

Selection bias: only posts some policy chose to expose to non-fans carry a label, and the logging policy
chose them by their fan engagement. The model therefore learns public lift among posts that looked good to
fans; for posts that never would have been exposed it extrapolates. The truth check (Spearman correlation
with the simulator's hidden appeal over every fans-only post, labelled or not) measures how far that holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.amplifier.log import DWELL, HOTLIST, IMPRESSION, PostLog
from training.amplifier.settings import AmplifierSettings


@dataclass(frozen=True)
class Labels:
    """Labelled posts with their non-fan counts, the baseline rate used and the label."""

    post: np.ndarray
    impressions: np.ndarray
    engagements: np.ndarray
    baseline: np.ndarray
    lift: np.ndarray


def public_lift(log: PostLog, s: AmplifierSettings) -> Labels:
    """Labels of every fans-only post with enough non-fan hotlist impressions in ``log``."""
    cat = log.cat
    n = len(cat.post_account)
    nonfan = (log.slot == HOTLIST) & ~log.fan & ~cat.post_public[log.post]
    imp = np.bincount(log.post[nonfan & (log.action == IMPRESSION)], minlength=n).astype(np.float64)
    eng_mask = nonfan & (log.action == DWELL) & (log.dwell >= s.quality_dwell_s)
    eng = np.bincount(log.post[eng_mask], minlength=n).astype(np.float64)
    cell = cat.post_kind * 4 + cat.post_format
    cell_imp = np.bincount(cell, weights=imp, minlength=16)
    cell_eng = np.bincount(cell, weights=eng, minlength=16)
    pooled = (eng.sum() + 1.0) / (imp.sum() + 10.0)
    k = s.baseline_prior_impressions
    base = ((cell_eng + k * pooled) / (cell_imp + k))[cell]
    keep = np.flatnonzero((imp >= s.min_label_impressions) & ~cat.post_public)
    a = s.label_prior
    lift = np.log((eng[keep] + a) / (imp[keep] * base[keep] + a))
    return Labels(keep, imp[keep], eng[keep], base[keep], lift)


def fans_only_posts(log: PostLog, created_from: int, created_before: int) -> np.ndarray:
    """Fans-only posts published in [created_from, created_before)."""
    cat = log.cat
    t = cat.post_created_ms
    return np.flatnonzero(~cat.post_public & (t >= created_from) & (t < created_before))
