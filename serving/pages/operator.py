"""The operator's amplification page: the gate's pipeline live, from the ``GET /amplification`` body.

Posts per gate level, each public pool's fill against its capacity, the hotlist board with each post's
reason, and the latest moves. The page reloads itself every :data:`REFRESH_S` seconds (a meta refresh:
no script, so the page keeps to :data:`serving.pages.CSP`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from serving.pages.layout import STYLE, esc, section, table
from serving.pages.svg import PALETTE, WIDTH, el, num, scale, svg, text

REFRESH_S = 10
LEFT = 110


def levels_chart(levels: Sequence[Mapping[str, Any]]) -> str:
    """Live posts per level on a log scale (private posts outnumber the pools by orders of magnitude)."""
    top = max([math.log10(1 + lv["posts"]) for lv in levels] + [1.0])
    x = scale(0, top, 0, WIDTH - LEFT - 90)
    body = []
    for i, lv in enumerate(levels):
        y = 8 + i * 30
        body.append(text(8, y + 15, lv["level"], weight="bold"))
        body.append(el("rect", class_="mark", x=LEFT, y=y, width=max(x(math.log10(1 + lv["posts"])), 2.0), height=20,
                       fill=PALETTE["bar"], data_level=lv["level"], data_value=lv["posts"]))
        body.append(text(WIDTH - 85, y + 15, f"{num(lv['posts'])} posts"))
    return svg("levels", "Live fans-only posts per gate level (log scale)", 16 + 30 * len(levels), body)


def fill_chart(levels: Sequence[Mapping[str, Any]]) -> str:
    """Each public pool's posts against its capacity (1 = full)."""
    pools = [lv for lv in levels if lv["capacity"]]
    x = scale(0, 1, LEFT, WIDTH - 120)
    body = []
    for i, lv in enumerate(pools):
        y = 8 + i * 30
        body.append(text(8, y + 15, lv["level"], weight="bold"))
        body.append(el("rect", x=LEFT, y=y, width=x(1) - LEFT, height=20, fill=PALETTE["grid"]))
        share = min(lv["fill"] or 0.0, 1.0)
        body.append(el("rect", class_="mark", x=LEFT, y=y, width=max(x(share) - LEFT, 2.0), height=20,
                       fill=PALETTE["you"] if share >= 1 else PALETTE["best"], data_fill=lv["fill"]))
        body.append(text(WIDTH - 115, y + 15, f"{lv['posts']} of {lv['capacity']}"))
    return svg("pool-fill", "Public pools: posts held against capacity", 16 + 30 * max(len(pools), 1), body)


def _time(ms: int | None) -> str:
    return "never" if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def operator_page(body: Mapping[str, Any]) -> str:
    """The whole page for one ``/amplification`` body."""
    levels = body["levels"]
    summary = (f"{num(body['live_posts'])} live fans-only posts; {body['hotlist_size']} posts on the hotlist board; "
               f"last gate pass {_time(body['last_pass_ms'])}.")
    hot = [(h["post_id"], h["account_id"] if h["account_id"] is not None else "–", h["level"],
            "yes" if h["official"] else "", f"{h['weight']:.2f}", h["reason"]) for h in body["hotlist"]]
    moves = [(m["post_id"], _time(m["at_ms"]), m["from"], m["to"], m["reason"]) for m in body["transitions"]]
    title = "Amplification pipeline"
    head = (f'<meta charset="utf-8"><meta http-equiv="refresh" content="{REFRESH_S}">'
            f'<meta name="viewport" content="width=device-width"><title>{title}</title>'
            f'<link rel="icon" href="data:,"><style>{STYLE}</style>')
    sections = [
        section("Posts per gate level", summary, levels_chart(levels)),
        section("Pool capacity and fill", "Posts each public pool holds now against its capacity.",
                 fill_chart(levels)),
        section("The hotlist now", "Heaviest first; the reason is what the seller is told.",
                 table(("post", "account", "level", "official", "weight", "why"), hot)),
        section("Latest moves", "Newest first.", table(("post", "at", "from", "to", "why"), moves)),
    ]
    return (f'<!doctype html><html lang="en"><head>{head}</head><body><h1>{title}</h1>'
            f'<p class="muted">as of {esc(_time(body["now_ms"]))}, refreshes every {REFRESH_S} s</p>'
            f'{"".join(sections)}</body></html>')
