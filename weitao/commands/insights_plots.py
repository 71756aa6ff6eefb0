"""The matplotlib plots of `weitao insights`: one function per insight, each drawing on the axes it is given."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateFormatter, AutoDateLocator, date2num

from serving.pages.insights import FIGURES


def funnel(ax: Axes, body: dict[str, Any]) -> None:
    """LINK+ stage counts (KEEP: its rate, on a second scale)."""
    stages = body["funnel"]
    names = [f"{s['stage']}\n{s['label']}" for s in stages]
    counts = [s["count"] or 0 for s in stages]
    ax.barh(names, counts, color="#4263eb")
    for i, s in enumerate(stages):
        label = f"{s['count']:,.0f}" if s["count"] is not None else f"rate {100 * (s['rate'] or 0):.1f} %"
        if s["rate"] is not None and s["count"] is not None:
            label += f" (rate {100 * s['rate']:.2f} %)"
        ax.text(counts[i], i, " " + label, va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("30-day count")
    ax.set_title("LINK+ funnel")


def posting_hours(ax: Axes, body: dict[str, Any]) -> None:
    """Fan engagement rate per posting hour with 95 % intervals; the best hour in green."""
    h = body["posting_hours"]
    rows = [r for r in h["hours"] if r["rate"] is not None]
    for r in rows:
        colour = "#2b8a3e" if r["hour"] == h["best_hour"] else "#4263eb"
        ax.errorbar(r["hour"], 100 * r["rate"], yerr=[[100 * (r["rate"] - r["low"])], [100 * (r["high"] - r["rate"])]],
                    fmt="o", color=colour, capsize=3)
    ax.set_xlim(-0.5, 23.5)
    ax.set_xticks(range(0, 24, 3))
    ax.set_xlabel("posting hour (UTC+8)")
    ax.set_ylabel("fan engagement rate, %")
    best = h["best_hour"]
    ax.set_title("Posting hour" + (f": best {best:02d}:00, P(best) {h['p_best']:.0%}" if best is not None else ""))


def tier(ax: Axes, body: dict[str, Any]) -> None:
    """Each condition of the next step: the live figure as a share of what is needed."""
    t = body["tier_progress"]
    conds = t["conditions"]
    names = [f"{c['label']}\n({c['for']})" for c in conds]
    shares = [min(c["have"] / c["need"], 2.0) if c["have"] is not None and c["need"] else 0.0 for c in conds]
    colours = ["#2b8a3e" if c["met"] else "#adb5bd" if c["met"] is None else "#d9480f" for c in conds]
    ax.barh(names, shares, color=colours)
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax.invert_yaxis()
    ax.set_xlim(0, 2.05)
    ax.set_xlabel("your figure / needed (grey: measured monthly)")
    ax.set_title(f"{t['tier']} → {t['next_tier'] or 'highest tier'}")


LEVELS = ("fans only", "seen by non-fans", "public", "hotlist (amplified)", "hotlist (official pick)")


def amplification(ax: Axes, body: dict[str, Any]) -> None:
    """Every post by publication time, at the level it reached."""
    posts = body["amplification"]["posts"]
    when = date2num([datetime.fromtimestamp(p["created_ms"] / 1000, tz=UTC) for p in posts])
    lane = [LEVELS.index(p["level"]) if p["level"] in LEVELS else 0 for p in posts]
    colours = ["#2b8a3e" if p["level"].startswith("hotlist") else "#4263eb" for p in posts]
    ax.scatter(when, lane, c=colours)
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(AutoDateFormatter(locator))
    ax.set_yticks(range(len(LEVELS)), LEVELS)
    ax.set_ylim(-0.5, len(LEVELS) - 0.5)
    ax.set_title("Amplification history")
    ax.tick_params(axis="x", labelrotation=30, labelsize=7)


def peers(ax: Axes, body: dict[str, Any]) -> None:
    """Per figure: your value (dot), the tier's and category's quartiles (bars) and medians (ticks), each row
    scaled to its largest value so that counts and rates share one axis."""
    figs = body["peers"]["figures"]
    names = [FIGURES.get(f["field"], f["field"]) for f in figs]
    for i, f in enumerate(figs):
        top = max([v for v in (f["value"], f["tier"]["q3"], f["category"]["q3"]) if v is not None] + [0.0]) or 1.0
        for group, colour, dy in (("tier", "#1c7ed6", -0.15), ("category", "#868e96", 0.15)):
            g = f[group]
            if g["q1"] is not None:
                ax.plot([g["q1"] / top, g["q3"] / top], [i + dy, i + dy], color=colour, linewidth=5, alpha=0.5)
                ax.plot(g["median"] / top, i + dy, "|", color=colour, markersize=10)
        if f["value"] is not None:
            ax.plot(f["value"] / top, i, "o", color="#d9480f")
    ax.set_yticks(np.arange(len(figs)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(-0.05, 1.1)
    ax.set_xlabel("share of the row's largest figure (dot: you; tier blue, category grey: quartiles, median)")
    ax.set_title("You and your peers")


DRAW: dict[str, Callable[[Axes, dict[str, Any]], None]] = {
    "funnel": funnel, "posting_hours": posting_hours, "tier": tier, "amplification": amplification, "peers": peers}
