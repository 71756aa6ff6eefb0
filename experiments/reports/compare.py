"""Two reports side by side: every slot metric of every policy both ran, B − A with a bootstrap interval.

The difference is paired when the runs share users (same seeds and scale: most unit ids match), computed
over the users present in both; otherwise the two runs' users are resampled independently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from experiments.reports.bootstrap import Interval, aligned, independent_difference, paired_difference
from experiments.reports.build import SCALARS, SLOT_METRICS
from experiments.reports.markdown import compare_markdown, fmt

PAIRED_OVERLAP = 0.5  # share of the smaller run's users that must also be in the other run to pair


@dataclass(frozen=True)
class Difference:
    """One metric of one policy in one slot in both runs, and B − A."""

    slot: str
    policy: str
    metric: str
    a: float | None
    b: float | None
    diff: Interval
    paired_users: int  # 0 when the runs were resampled independently


Loaded = tuple[dict[str, Any], dict[str, np.ndarray]]


def _difference(a: Loaded, b: Loaded, slot: str, policy: str, metric: str, rng: np.random.Generator,
                resamples: int) -> Difference:
    column = SLOT_METRICS[metric]
    (ra, xa), (rb, xb) = a, b
    key = f"{slot}.{policy}."
    ua, ub = xa[key + "unit"], xb[key + "unit"]
    num_a, den_a, num_b, den_b = xa[key + column], xa[key + "sessions"], xb[key + column], xb[key + "sessions"]
    ia, ib = aligned(ua, ub)
    paired = len(ia) >= 2 and len(ia) >= PAIRED_OVERLAP * min(len(ua), len(ub))
    if paired:
        diff = paired_difference((num_a[ia], den_a[ia]), (num_b[ib], den_b[ib]), rng, resamples=resamples)
    else:
        diff = independent_difference((num_a, den_a), (num_b, den_b), rng, resamples=resamples)
    return Difference(slot, policy, metric, ra["slots"][slot][policy][metric]["value"],
                      rb["slots"][slot][policy][metric]["value"], diff, len(ia) if paired else 0)


def compare_reports(a: Loaded, b: Loaded, rng: np.random.Generator, *, resamples: int = 1000) -> list[Difference]:
    """Differences of every slot metric for the slots and policies both reports hold, in A's order."""
    out = []
    ra, rb = a[0], b[0]
    for slot, by_policy in ra["slots"].items():
        for policy in by_policy:
            if policy not in rb["slots"].get(slot, {}) or f"{slot}.{policy}.unit" not in b[1]:
                continue
            for metric in SLOT_METRICS:
                out.append(_difference(a, b, slot, policy, metric, rng, resamples))
    return out


def scalar_rows(ra: dict[str, Any], rb: dict[str, Any]) -> list[list[Any]]:
    """[figure, policy, A, B, B − A] for exposure Gini, coverage, new-creator share and amplification figures."""
    rows = []
    for policy in [p for p in ra["policies"] if p in rb["policies"]]:
        pairs = [("exposure Gini", ra["lorenz"][policy]["gini"], rb["lorenz"][policy]["gini"]),
                 ("coverage", ra["coverage"][policy], rb["coverage"][policy]),
                 ("new-creator share", ra["new_creator_share"][policy], rb["new_creator_share"][policy])]
        pairs += [(k, ra["amplification"][policy][k], rb["amplification"][policy][k]) for k in SCALARS]
        for name, va, vb in pairs:
            rows.append([name, policy, va, vb, vb - va if va is not None and vb is not None else None])
    return rows


def difference_rows(diffs: list[Difference]) -> list[list[Any]]:
    """Table rows: slot, policy, metric, A, B, B − A, interval, pairing."""
    return [[d.slot, d.policy, d.metric, d.a, d.b, d.diff.value, f"[{fmt(d.diff.lo)}, {fmt(d.diff.hi)}]",
             f"paired, {d.paired_users} users" if d.paired_users else "independent"] for d in diffs]


def difference_plot(diffs: list[Difference], metric: str = "ndcg_at_10") -> Figure:
    """B − A of ``metric`` per slot and policy with its interval (a forest plot)."""
    chosen = [d for d in diffs if d.metric == metric]
    fig = Figure(figsize=(7, 1 + 0.35 * max(len(chosen), 1)))
    ax = fig.add_subplot()
    y = np.arange(len(chosen))
    v = np.array([d.diff.value for d in chosen], dtype=float)
    lo = np.array([d.diff.lo for d in chosen], dtype=float)
    hi = np.array([d.diff.hi for d in chosen], dtype=float)
    ax.errorbar(v, y, xerr=np.clip(np.nan_to_num(np.vstack([v - lo, hi - v])), 0, None), fmt="o", capsize=3)
    ax.axvline(0.0, color="k", linestyle="--", linewidth=1)
    ax.set_yticks(y, [f"{d.slot} / {d.policy}" for d in chosen])
    ax.set(xlabel=f"{metric}: B − A (95 % interval)", title="difference between runs")
    fig.tight_layout()
    return fig


def lorenz_overlay(ra: dict[str, Any], rb: dict[str, Any]) -> Figure:
    """Exposure Lorenz curves of both runs (A solid, B dashed) for the policies both ran."""
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    for policy in [p for p in ra["policies"] if p in rb["policies"]]:
        line = ax.plot(ra["lorenz"][policy]["population"], ra["lorenz"][policy]["exposure"], label=f"A {policy}")
        ax.plot(rb["lorenz"][policy]["population"], rb["lorenz"][policy]["exposure"], linestyle="--",
                color=line[0].get_color(), label=f"B {policy}")
    ax.plot([0, 1], [0, 1], "k:", linewidth=1)
    ax.set(xlabel="share of accounts", ylabel="share of impressions", title="exposure Lorenz, A vs B")
    ax.legend(fontsize=6)
    return fig


def write_comparison(folder: Path, labels: tuple[str, str], a: Loaded, b: Loaded,
                     diffs: list[Difference]) -> Path:
    """Write ``compare.md`` and its PNGs into ``folder``; returns the Markdown's path."""
    folder.mkdir(parents=True, exist_ok=True)
    figures = {"differences_ndcg.png": difference_plot(diffs), "lorenz_a_vs_b.png": lorenz_overlay(a[0], b[0])}
    for name, fig in figures.items():
        fig.savefig(folder / name, format="png", dpi=90)
    target = folder / "compare.md"
    target.write_text(compare_markdown(labels, difference_rows(diffs), scalar_rows(a[0], b[0]), list(figures)))
    return target
