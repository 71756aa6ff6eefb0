"""The seller's insights page: the insights body (``serving.insights``) rendered as one HTML document.

Plain string building with every value escaped (``html.escape``); charts are inline SVG (``.charts``); no
script, no font, no request to anywhere (the route sends :data:`serving.pages.CSP` with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from serving.pages import charts
from serving.pages.layout import STYLE, esc, section, table
from serving.pages.svg import num, pct

FIGURES = {"acct_followers": "fans", "acct_fan_engagement_rate_30d": "fan engagement rate, 30 d",
           "acct_offsite_share_30d": "off-site share of visits, 30 d",
           "acct_fan_revisit_rate_30d": "fan revisit rate, 30 d", "link_lead_visits_30d": "LEAD: page visits, 30 d",
           "link_interlock_rate_30d": "INTERLOCK: follows per visit",
           "link_engage_rate_30d": "ENGAGE: revisits per fan", "link_keep_rate_30d": "KEEP: repeat-buyer share"}
COUNTS = {"acct_followers", "link_lead_visits_30d"}



def _fig(field: str, x: float | None) -> str:
    return num(x) if field in COUNTS else pct(x, 2)


def _cond(c: Mapping[str, Any], x: float | None) -> str:
    return num(x) if c["metric"] in ("fans", "fan_purchases") else pct(x, 2)


def _funnel(b: Mapping[str, Any]) -> str:
    r = b["fan_revisit"]
    rows = [(s["stage"], s["label"], num(s["count"]), pct(s["rate"], 2), s["rate_means"]) for s in b["funnel"]]
    return section("LINK+ funnel (30 days)", f"30-day fan revisit rate {pct(r['rate_30d'], 2)}: "
                    f"{num(r['fan_visits_30d'])} fan visits to the page by {num(r['fans'])} fans.",
                    charts.funnel(b["funnel"]), table(("stage", "", "count", "rate", "rate means"), rows))


def _peers(b: Mapping[str, Any]) -> str:
    p = b["peers"]
    rows = [(FIGURES.get(f["field"], f["field"]), _fig(f["field"], f["value"]), _fig(f["field"], f["tier"]["median"]),
             pct(f["tier"]["share_below"], 0), _fig(f["field"], f["category"]["median"]),
             pct(f["category"]["share_below"], 0)) for f in p["figures"]]
    n_tier, n_cat = (p["figures"][0][g]["peers"] if p["figures"] else 0 for g in ("tier", "category"))
    return section("You and your peers", f"Beside the {n_tier} other {p['tier']} accounts and the {n_cat} other "
                    f"accounts of category {p['category']}.", charts.peers(p["figures"], FIGURES),
                    table(("figure", "you", "tier median", "tier below you", "category median",
                            "category below you"), rows))


def _history(b: Mapping[str, Any]) -> str:
    a = b["amplification"]
    counts = ", ".join(f"{n} {level}" for level, n in a["counts"].items() if n)
    rows = [(p["post_id"], _day(p["created_ms"]), p["level"], num(p["fan_impressions"]),
             num(p["nonfan_impressions"]), p["reason"]) for p in reversed(a["posts"])]
    return section("Amplification history", f"{len(a['posts'])} posts: {counts or 'none yet'}.",
                    charts.history(a["posts"]),
                    table(("post", "published", "reached", "fan views", "non-fan views", "why"), rows))


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def insights_page(body: Mapping[str, Any]) -> str:
    """The whole page for one insights body."""
    a, t, h = body["account"], body["tier_progress"], body["posting_hours"]
    conditions = [(c["label"], c["for"], _cond(c, c["have"]), _cond(c, c["need"]),
                   {True: "met", False: "not yet", None: "monthly"}[c["met"]]) for c in t["conditions"]]
    title = f"Account {a['account_id']} insights"
    head = (f'<meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>{esc(title)}</title>'
            f'<link rel="icon" href="data:,"><style>{STYLE}</style>')
    intro = (f"<h1>{esc(title)}</h1><p class=\"muted\">{esc(a['kind'])} · tier {esc(a['tier'])}"
             f"{' (' + esc(a['tier_state']) + ')' if a['tier_state'] else ''}"
             f"{' · preferred shop' if a['preferred_shop'] else ''} · category {esc(a.get('category'))} · as of "
             f"{esc(_day(body['as_of_ms']))}</p>")
    sections = [
        _funnel(body),
        section("Best posting hour", h["summary"], charts.hours(h)),
        section("Tier and what it takes to move up", t["summary"], charts.tier(t["conditions"]),
                 table(("condition", "rule", "you", "needed", ""), conditions)),
        _history(body),
        _peers(body),
    ]
    return f'<!doctype html><html lang="en"><head>{head}</head><body>{intro}{"".join(sections)}</body></html>'
