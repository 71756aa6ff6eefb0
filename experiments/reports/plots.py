"""Draw a report's curves (matplotlib ``Figure`` objects, no pyplot state: rendered by the Agg backend).

Every function takes the JSON-ready report (lists, None for missing) and returns a figure; ``save_all``
writes the report's PNGs and returns their file names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure


def _arr(values: Any) -> np.ndarray:
    """A float array of a JSON list (None becomes NaN)."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _errorbars(ax: Any, x: np.ndarray, ivs: list[dict[str, Any]], label: str) -> None:
    v, lo, hi = (_arr([iv[k] for iv in ivs]) for k in ("value", "lo", "hi"))
    err = np.vstack([np.nan_to_num(v - lo), np.nan_to_num(hi - v)])
    ax.errorbar(x, v, yerr=np.clip(err, 0, None), marker="o", capsize=3, linestyle="none", label=label)


def slot_metrics(report: dict[str, Any], metric: str = "ndcg_at_10") -> Figure:
    """Each slot's ``metric`` per policy with its 95 % bootstrap interval."""
    slots = list(report["slots"])
    fig = Figure(figsize=(4 * max(len(slots), 1), 4))
    for i, slot in enumerate(slots):
        ax = fig.add_subplot(1, max(len(slots), 1), i + 1)
        by = report["slots"][slot]
        policies = list(by)
        _errorbars(ax, np.arange(len(policies)), [by[p][metric] for p in policies], metric)
        ax.set_xticks(np.arange(len(policies)), policies, rotation=45, ha="right")
        ax.set_title(f"{slot}: {metric}")
    fig.tight_layout()
    return fig


def gain_and_lift(report: dict[str, Any], slot: str) -> Figure:
    """Cumulative gain and lift of clicks when shown rows are ranked by each policy's score."""
    fig = Figure(figsize=(10, 4))
    gain_ax, lift_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for policy, c in report["gain"].get(slot, {}).items():
        share = _arr(c["share"])
        gain_ax.plot(share, _arr(c["gain"]), label=policy)
        lift_ax.plot(share[1:], _arr(c["lift"])[1:], label=policy)
    gain_ax.plot([0, 1], [0, 1], "k--", linewidth=1)
    lift_ax.axhline(1.0, color="k", linestyle="--", linewidth=1)
    gain_ax.set(xlabel="share of shown rows (by score)", ylabel="share of clicks", title=f"{slot}: gain")
    lift_ax.set(xlabel="share of shown rows (by score)", ylabel="lift", title=f"{slot}: lift")
    gain_ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def calibration(report: dict[str, Any], slot: str) -> Figure:
    """Predicted probability vs observed rate per bin, for every policy and head with probabilities."""
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    top = 0.0
    for policy, heads in report["calibration"].get(slot, {}).items():
        for head, c in heads.items():
            pred, obs = _arr(c["predicted"]), _arr(c["observed"])
            ax.plot(pred, obs, marker="o", label=f"{policy} {head}")
            top = max(top, float(np.nanmax(pred)), float(np.nanmax(obs)))
    # Click and engage rates are a few per cent: zoom to the data rather than the unit square.
    top = min(1.0, 1.1 * top) or 1.0
    ax.plot([0, top], [0, top], "k--", linewidth=1)
    ax.set(xlabel="predicted", ylabel="observed", title=f"{slot}: calibration", xlim=(0, top), ylim=(0, top))
    ax.legend(fontsize=7)
    return fig


def activity(report: dict[str, Any], slot: str) -> Figure:
    """nDCG@10 per bucket of users' past actions, every policy."""
    a = report["activity"][slot]
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    x = np.arange(len(a["labels"]))
    for i, (policy, ivs) in enumerate(a["by_policy"].items()):
        _errorbars(ax, x + 0.06 * i, ivs, policy)
    ax.set_xticks(x, a["labels"])
    ax.set(xlabel="past actions of the user", ylabel="nDCG@10", title=f"{slot}: nDCG@10 by user activity")
    ax.legend(fontsize=7)
    return fig


def funnel(report: dict[str, Any]) -> Figure:
    """Posts published privately in the window that reached each amplification stage, per policy."""
    f = report["funnel"]
    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    policies = list(f["by_policy"])
    width = 0.8 / max(len(policies), 1)
    x = np.arange(len(f["stages"]))
    for i, policy in enumerate(policies):
        ax.bar(x + i * width, _arr(f["by_policy"][policy]), width, label=policy)
    ax.set_xticks(x + 0.4 - width / 2, f["stages"])
    ax.set(ylabel="posts", yscale="symlog", title="amplification funnel")
    ax.legend(fontsize=7)
    return fig


def lorenz(report: dict[str, Any]) -> Figure:
    """Lorenz curves of exposure per account, Gini in the legend."""
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    for policy, lz in report["lorenz"].items():
        gini = lz["gini"]
        label = f"{policy} (Gini {gini:.2f})" if gini is not None else policy
        ax.plot(_arr(lz["population"]), _arr(lz["exposure"]), label=label)
    ax.plot([0, 1], [0, 1], "k--", linewidth=1)
    ax.set(xlabel="share of accounts (least exposed first)", ylabel="share of impressions", title="exposure Lorenz")
    ax.legend(fontsize=7)
    return fig


def spread(report: dict[str, Any]) -> Figure:
    """Coverage of the window's posts and new-creator share of impressions, per policy."""
    fig = Figure(figsize=(8, 4))
    policies = list(report["coverage"])
    for i, key in enumerate(("coverage", "new_creator_share")):
        ax = fig.add_subplot(1, 2, i + 1)
        ax.bar(np.arange(len(policies)), _arr([report[key][p] for p in policies]))
        ax.set_xticks(np.arange(len(policies)), policies, rotation=45, ha="right")
        ax.set_title(key.replace("_", " "))
    fig.tight_layout()
    return fig


def save_all(report: dict[str, Any], folder: Path) -> list[str]:
    """Write every plot of ``report`` as PNG into ``folder``; returns the file names in report order."""
    figures: dict[str, Figure] = {"slot_metrics": slot_metrics(report)}
    for slot in report["slots"]:
        if report["gain"].get(slot):
            figures[f"gain_lift_{slot}"] = gain_and_lift(report, slot)
        if report["calibration"].get(slot):
            figures[f"calibration_{slot}"] = calibration(report, slot)
        figures[f"activity_{slot}"] = activity(report, slot)
    figures.update(funnel=funnel(report), lorenz=lorenz(report), coverage=spread(report))
    names = []
    for name, fig in figures.items():
        fig.savefig(folder / f"{name}.png", format="png", dpi=90)
        names.append(f"{name}.png")
    return names
