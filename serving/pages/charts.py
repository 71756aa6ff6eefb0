"""The insight charts as inline SVG: funnel, posting hours with intervals, tier conditions, history, peers.

Each function takes the matching part of the insights body (``serving.insights``) and returns one ``<svg>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from serving.pages.svg import PALETTE, WIDTH, el, num, pct, scale, svg, text

LEFT = 170  # room for row labels


def funnel(stages: Sequence[Mapping[str, Any]]) -> str:
    """LINK+ stage counts as bars scaled to the largest, with each stage's rate beside it."""
    top = max([s["count"] or 0 for s in stages] + [1])
    x = scale(0, top, 0, WIDTH - LEFT - 150)
    body = []
    for i, s in enumerate(stages):
        y = 10 + i * 34
        body.append(text(8, y + 17, f"{s['stage']}: {s['label']}", weight="bold"))
        if s["count"] is not None:
            body.append(el("rect", class_="mark", x=LEFT, y=y, width=max(x(s["count"]), 2.0), height=24,
                           fill=PALETTE["bar"], data_value=s["count"]))
        else:  # KEEP has a rate only: drawn as a share of a full bar
            body.append(el("rect", x=LEFT, y=y, width=WIDTH - LEFT - 150, height=24, fill=PALETTE["grid"]))
            body.append(el("rect", class_="mark", x=LEFT, y=y, width=max((WIDTH - LEFT - 150) * (s["rate"] or 0), 2.0),
                           height=24, fill=PALETTE["you"], data_value=s["rate"]))
        label = (num(s["count"]) + " ") if s["count"] is not None else ""
        label += f"(rate {pct(s['rate'], 2)})" if s["rate"] is not None else "visits"
        body.append(text(WIDTH - 145, y + 17, label))
    return svg("funnel", "LINK+ funnel, last 30 days", 10 + 34 * len(stages), body)


def hours(h: Mapping[str, Any]) -> str:
    """Fan engagement rate per posting hour: a dot at the rate, whiskers over the 95 % interval, best in green."""
    rows = [r for r in h["hours"] if r["rate"] is not None]
    top = max([r["high"] for r in rows] + [0.01])
    x, y = scale(0, 23, 50, WIDTH - 20), scale(0, top, 200, 20)
    body = [el("line", x1=50, x2=WIDTH - 20, y1=200, y2=200, stroke=PALETTE["grid"])]
    body += [text(x(t), 218, f"{t:02d}", anchor="middle", size=10, fill=PALETTE["muted"]) for t in range(0, 24, 3)]
    body += [text(44, y(v) + 4, pct(v, 1), anchor="end", size=10, fill=PALETTE["muted"]) for v in (0, top / 2, top)]
    for r in rows:
        colour = PALETTE["best"] if r["hour"] == h["best_hour"] else PALETTE["bar"]
        body.append(el("line", class_="mark", x1=x(r["hour"]), x2=x(r["hour"]), y1=y(r["low"]), y2=y(r["high"]),
                       stroke=colour, stroke_width=2))
        body.append(el("circle", class_="mark", cx=x(r["hour"]), cy=y(r["rate"]), r=4.5, fill=colour,
                       data_hour=r["hour"], data_rate=r["rate"]))
    if not rows:
        body.append(text(WIDTH / 2, 110, "no fan impressions yet", anchor="middle", fill=PALETTE["muted"]))
    return svg("posting-hours", "Fan engagement rate by posting hour (UTC+8), 95 % intervals", 230, body)


def tier(conditions: Sequence[Mapping[str, Any]]) -> str:
    """Each condition of the next step: the live figure as a share of what is needed (1 = met), capped at 2."""
    x = scale(0, 2, LEFT, WIDTH - 120)
    body = [el("line", x1=x(1), x2=x(1), y1=0, y2=14 + 30 * len(conditions), stroke=PALETTE["text"],
               stroke_dasharray="4 3")]
    for i, c in enumerate(conditions):
        yy = 8 + i * 30
        body.append(text(8, yy + 15, c["label"], size=11))
        if c["have"] is None or not c["need"]:
            body.append(text(LEFT + 4, yy + 15, "measured at the monthly assessment", size=11, fill=PALETTE["muted"]))
            continue
        share = min(c["have"] / c["need"], 2.0)
        body.append(el("rect", class_="mark", x=LEFT, y=yy, width=max(x(share) - LEFT, 2.0), height=20,
                       fill=PALETTE["best"] if c["met"] else PALETTE["you"], data_share=share))
        body.append(text(WIDTH - 115, yy + 15, f"{share:.0%} of needed", size=11))
    if not conditions:
        body.append(text(8, 20, "no thresholds apply", fill=PALETTE["muted"]))
    return svg("tier", "Live figures as a share of what the next step needs", 20 + 30 * max(len(conditions), 1), body)


LANES = ("fans only", "seen by non-fans", "public", "hotlist (amplified)", "hotlist (official pick)")


def history(posts: Sequence[Mapping[str, Any]]) -> str:
    """Every post on a time line, in the lane of the level it reached."""
    times = [p["created_ms"] for p in posts] or [0]
    x = scale(min(times), max(times), LEFT, WIDTH - 20)
    lane = {name: 20 + 28 * i for i, name in enumerate(LANES)}
    body = [text(8, y + 4, name, size=11) for name, y in lane.items()]
    body += [el("line", x1=LEFT, x2=WIDTH - 20, y1=y, y2=y, stroke=PALETTE["grid"]) for y in lane.values()]
    for p in posts:
        hot = p["level"].startswith("hotlist")
        body.append(el("circle", class_="mark", cx=x(p["created_ms"]), cy=lane.get(p["level"], 20), r=5,
                       fill=PALETTE["best"] if hot else PALETTE["bar"], data_post=p["post_id"]))
    for ms, anchor, at in ((min(times), "start", LEFT), (max(times), "end", WIDTH - 20)):
        day = datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%m-%d %H:%M")
        body.append(text(at, 20 + 28 * len(LANES), day, anchor=anchor, size=10, fill=PALETTE["muted"]))
    return svg("amplification", "Where each post got to, by publication time", 30 + 28 * len(LANES), body)


def peers(figures: Sequence[Mapping[str, Any]], labels: Mapping[str, str]) -> str:
    """Per figure: the tier's and the category's interquartile boxes with medians, and the account's value."""
    body = []
    for i, f in enumerate(figures):
        yy = 10 + i * 44
        values = [f["value"], f["tier"]["q3"], f["category"]["q3"]]
        x = scale(0, max([v for v in values if v is not None] + [1e-9]) * 1.1, LEFT, WIDTH - 20)
        body.append(text(8, yy + 20, labels.get(f["field"], f["field"]), size=11))
        for k, (group, colour) in enumerate((("tier", PALETTE["tier"]), ("category", PALETTE["category"]))):
            g = f[group]
            if g["q1"] is None:
                continue
            top = yy + 4 + k * 16
            body.append(el("rect", class_="mark", x=x(g["q1"]), y=top, width=max(x(g["q3"]) - x(g["q1"]), 2.0),
                           height=12, fill=colour, fill_opacity=0.45, data_group=group))
            body.append(el("line", x1=x(g["median"]), x2=x(g["median"]), y1=top, y2=top + 12, stroke=colour,
                           stroke_width=2))
        if f["value"] is not None:
            body.append(el("circle", class_="mark", cx=x(f["value"]), cy=yy + 18, r=5, fill=PALETTE["you"]))
    return svg("peers", "Your figures (dot) beside your tier's and category's middle half (boxes) and medians",
               20 + 44 * len(figures), body)
