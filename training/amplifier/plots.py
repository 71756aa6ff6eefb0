"""Diagnostic plots of an amplifier run: feature importance and calibration on the held-out posts."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from training.amplifier.metrics import binned_means
from training.amplifier.model import AmplifierModel


def feature_importance(model: AmplifierModel, top: int = 20) -> Figure:
    """Total gain of the most useful features."""
    fig = Figure(figsize=(7, 6))
    ax = fig.subplots()
    gain = model.booster_.feature_importance("gain")
    order = np.argsort(gain)[::-1][:top][::-1]
    ax.barh([model.feature_names_[i] for i in order], gain[order])
    ax.set_title("amplifier feature importance (gain)")
    fig.tight_layout()
    return fig


def calibration(raw: np.ndarray, calibrated: np.ndarray, label: np.ndarray, bins: int = 5) -> Figure:
    """Mean observed lift against mean predicted lift per prediction bin, before and after calibration."""
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    lo, hi = 0.0, 0.0
    for name, pred in (("raw", raw), ("calibrated", calibrated)):
        mp, my = binned_means(pred, label, bins)
        ax.plot(mp, my, marker="o", label=name)
        lo, hi = min(lo, *mp, *my), max(hi, *mp, *my)
    ax.plot([lo, hi], [lo, hi], "k--", linewidth=1)
    ax.set_xlabel("predicted public lift (log)")
    ax.set_ylabel("observed public lift (log)")
    ax.set_title("amplifier calibration, held-out posts")
    ax.legend()
    return fig
