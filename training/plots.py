"""Diagnostic plots logged with every ranker run: plain matplotlib ``Figure`` objects, drawn by the Agg
canvas when saved; no pyplot, so no display is needed and no figure stays open in pyplot's global list."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from training.ranker import MultiHeadRanker


def feature_importance(model: MultiHeadRanker, head: str = "click", top: int = 20) -> Figure:
    """Total gain of the head's most useful features."""
    fig = Figure(figsize=(7, 6))
    ax = fig.subplots()
    booster = model.boosters_.get(head)
    if booster is not None:
        gain = booster.feature_importance("gain")
        order = np.argsort(gain)[::-1][:top][::-1]
        ax.barh([model.feature_names_[i] for i in order], gain[order])
    ax.set_title(f"feature importance (gain), {head} head")
    fig.tight_layout()
    return fig


def calibration(probs: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray], bins: int = 10) -> Figure:
    """Mean predicted vs observed rate per probability bin (quantile bins), every head."""
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    top = 0.0
    for head, p in probs.items():
        y = labels[head].astype(float)
        if y.sum() == 0:
            continue
        edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
        if len(edges) < 2:  # a constant prediction has no curve to draw
            continue
        which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
        n = np.bincount(which, minlength=len(edges) - 1)
        keep = n > 0
        mp = np.bincount(which, weights=p, minlength=len(n))[keep] / n[keep]
        my = np.bincount(which, weights=y, minlength=len(n))[keep] / n[keep]
        ax.plot(mp, my, marker="o", label=head)
        top = max(top, mp.max(), my.max())
    ax.plot([0, top or 1.0], [0, top or 1.0], "k--", linewidth=1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("observed")
    ax.set_title("calibration on held-out days")
    ax.legend()
    return fig


def gain_by_position(position: np.ndarray, clicked: np.ndarray, predicted: np.ndarray, page: int = 10) -> Figure:
    """Observed and predicted click rate by logged position: how much of the click is the slot, not the item."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    ok = (position >= 0) & (position < page)
    n = np.bincount(position[ok], minlength=page)
    obs = np.bincount(position[ok], weights=clicked[ok].astype(float), minlength=page) / np.maximum(n, 1)
    pred = np.bincount(position[ok], weights=predicted[ok], minlength=page) / np.maximum(n, 1)
    ax.plot(np.arange(page), obs, marker="o", label="observed click rate")
    ax.plot(np.arange(page), pred, marker="x", label="predicted (with position)")
    ax.set_xlabel("position")
    ax.set_ylabel("click rate")
    ax.set_title("gain by position, held-out days")
    ax.legend()
    return fig
