"""Held-out metrics of the amplifier: pure functions of predictions and labels."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score


def binned_means(pred: np.ndarray, label: np.ndarray, bins: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Mean prediction and mean label per prediction quantile bin (empty bins dropped)."""
    pred, label = np.asarray(pred, np.float64), np.asarray(label, np.float64)
    if not len(pred):
        return np.zeros(0), np.zeros(0)
    edges = np.unique(np.quantile(pred, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, pred, side="right") - 1, 0, max(len(edges) - 2, 0))
    n = np.bincount(which)
    keep = n > 0
    return (np.bincount(which, weights=pred)[keep] / n[keep], np.bincount(which, weights=label)[keep] / n[keep])


def calibration_error(pred: np.ndarray, label: np.ndarray, bins: int = 5) -> float:
    """Row-weighted mean |mean prediction − mean label| over prediction quantile bins (0 = calibrated)."""
    pred = np.asarray(pred, np.float64)
    if not len(pred):
        return float("nan")
    edges = np.unique(np.quantile(pred, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, pred, side="right") - 1, 0, max(len(edges) - 2, 0))
    n = np.bincount(which)
    keep = n > 0
    gap = np.abs(np.bincount(which, weights=pred)[keep] - np.bincount(which, weights=label)[keep]) / n[keep]
    return float(np.sum(gap * n[keep]) / len(pred))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (NaN with fewer than 3 rows or a constant side)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b)[0])


def regression_metrics(pred: np.ndarray, raw: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """RMSE, Spearman vs the label, AUC of "label > 0" and calibration error before and after calibration."""
    label = np.asarray(label, np.float64)
    positive = label > 0
    auc = float(roc_auc_score(positive, raw)) if 0 < positive.sum() < len(label) else float("nan")
    return {"rows": float(len(label)), "rmse": float(np.sqrt(np.mean((pred - label) ** 2))) if len(label) else np.nan,
            "rmse_raw": float(np.sqrt(np.mean((raw - label) ** 2))) if len(label) else float("nan"),
            "spearman": spearman(raw, label), "auc_positive_lift": auc,
            "calibration_error_raw": calibration_error(raw, label),
            "calibration_error": calibration_error(pred, label)}
