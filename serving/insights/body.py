"""The insights body of one account: its figures, funnel, revisit, posting hour, tier, history, peers and posts."""

from __future__ import annotations

from typing import Any

import numpy as np

from features.contract import ENUMS, code, enum_codes
from features.featuresets import ENGAGE_PRIOR
from ranking.gate.settings import GateSettings
from ranking.tier_rules import H1
from ranking.tier_settings import TierSettings
from serving.data import ServiceData
from serving.insights.amplification import history, level_of
from serving.insights.features import (
    ACCOUNT_FIELDS,
    EXTRA_POST_FIELDS,
    POST_FIELDS,
    feature_set,
    number,
    read_features,
)
from serving.insights.funnel import fan_revisit, link_funnel
from serving.insights.hours import posting_hours
from serving.insights.peers import PeerCache, peer_figures
from serving.insights.tier import tier_progress


class UnknownAccount(LookupError):
    """No account with this id in the service's catalogue."""


def account_insights(data: ServiceData, gate: GateSettings, account_id: int, now_ms: int, limit: int, *,
                     tiers: TierSettings | None = None, peers: PeerCache | None = None) -> dict[str, Any]:
    """The insights body for ``account_id`` with its ``limit`` newest posts (raises :class:`UnknownAccount`).

    Posting hours and the amplification history cover every post of the account; ``posts`` the newest
    ``limit``. ``peers`` caches the peer figures per time bucket (a fresh computation when None).
    """
    accounts = data.tables["accounts"]
    hit = np.flatnonzero(accounts.column("account_id").to_numpy() == account_id)
    if not len(hit):
        raise UnknownAccount(f"account_id: unknown account {account_id}")
    row, fs = int(hit[0]), feature_set(data)
    tier = int(enum_codes(accounts.column("tier"), "tier")[row])
    state = accounts.column("tier_state")[row].as_py()
    figures = {k: number(v[0]) for k, v in read_features(data, np.array([account_id]), np.array([-1]), now_ms,
                                                         ACCOUNT_FIELDS).items()}
    account = {"account_id": account_id, "kind": accounts.column("kind")[row].as_py(), "tier": ENUMS["tier"][tier],
               "tier_state": state, "preferred_shop": bool(accounts.column("preferred_shop")[row].as_py()),
               "category": int(data.catalog.category(np.array([account_id]))[0]), **figures}
    posts = _posts(data, account_id, now_ms)
    shown = sorted(posts, key=lambda p: (-p["created_ms"], -p["post_id"]))[:limit]
    table = (peers or PeerCache()).get(data, now_ms)
    baseline = figures["acct_fan_engagement_rate_30d"] or ENGAGE_PRIOR[0] / ENGAGE_PRIOR[1]
    return {
        "account": account,
        "posts": [_post_out(p, tier, gate) for p in shown],
        "as_of_ms": now_ms,
        "funnel": link_funnel(figures, fs),
        "fan_revisit": fan_revisit(figures, fs),
        "posting_hours": posting_hours(np.array([p["hour"] for p in posts], np.int64),
                                       np.array([p["fan_engagements"] for p in posts]),
                                       np.array([p["fan_impressions"] for p in posts]),
                                       prior_rate=baseline),
        "tier_progress": tier_progress(tier, state, figures, tiers or TierSettings()),
        "amplification": history(posts, tier, baseline, gate, now_ms, data.gate.decision),
        "peers": peer_figures(table, account_id, figures),
    }


def _posts(data: ServiceData, account_id: int, now_ms: int) -> list[dict[str, Any]]:
    """Every post of the account with its figures, level and posting hour."""
    posts = data.tables["posts"]
    mine = np.flatnonzero(posts.column("account_id").to_numpy() == account_id)
    created = posts.column("created_at").cast("int64").to_numpy()[mine]
    post_ids = posts.column("post_id").to_numpy()[mine]
    v = read_features(data, np.full(len(mine), account_id), post_ids, now_ms, (*POST_FIELDS, *EXTRA_POST_FIELDS))
    fans_only = enum_codes(posts.column("visibility"), "visibility")[mine] == code("visibility", "private")
    on_board, official = _on_board(data, post_ids)
    out = []
    for i, post in enumerate(post_ids.tolist()):
        nonfan = float(v["post_nonfan_impressions"][i])
        out.append({"post_id": post, "created_ms": int(created[i]), "fans_only": bool(fans_only[i]),
                    "on_board": bool(on_board[i]), "official": bool(official[i]),
                    "level": level_of(bool(on_board[i]), bool(official[i]), bool(fans_only[i]), nonfan),
                    "numbers": {name: number(v[name][i]) for name in POST_FIELDS},
                    "hour": int(v["post_posting_hour"][i]), "fan_impressions": float(v["post_fan_impressions"][i]),
                    "fan_engagements": float(v["post_fan_engagements"][i]), "nonfan_impressions": nonfan,
                    "nonfan_engagements": float(v["post_nonfan_engagements"][i]),
                    "tier_baseline": float(v["tkf_engagement_rate_30d"][i])})
    return out


def _on_board(data: ServiceData, post_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(on the hotlist board, as an official pick)`` of each post."""
    board = data.board.state
    if not len(board.post_ids):
        return np.zeros(len(post_ids), bool), np.zeros(len(post_ids), bool)
    at = np.minimum(np.searchsorted(board.post_ids, post_ids), len(board.post_ids) - 1)
    on = board.post_ids[at] == post_ids
    return on, on & board.official[at]


def _post_out(p: dict[str, Any], tier: int, gate: GateSettings) -> dict[str, Any]:
    """One post of the ``posts`` list (the original insights fields)."""
    status = ("hotlist (official pick)" if p["official"] else "hotlist (amplified)" if p["on_board"]
              else "fans only" if p["fans_only"] else "public")
    why = _why(p["numbers"], tier, gate) if p["fans_only"] and not p["on_board"] else []
    return {"post_id": p["post_id"], "created_ms": p["created_ms"],
            "visibility": "fans_only" if p["fans_only"] else "public", "status": status, **p["numbers"], "why": why}


def _why(n: dict[str, float | None], tier: int, gate: GateSettings) -> list[str]:
    """The gate's probe criteria, each with the post's number and whether it is met."""
    if tier == H1:
        return ["H1 accounts are never amplified: their posts stay with their fans."]
    imp, lift = n["post_fan_impressions"] or 0, n["post_rate_vs_account"] or 0
    return [
        f"Fan impressions: {imp:.0f} of the {gate.min_fan_impressions} the gate needs before a wider test"
        + (" (met)." if imp >= gate.min_fan_impressions else "."),
        f"Fan engagement: {lift:.2f}× the account's own 30-day fan rate; the gate probes from about "
        f"{gate.fan_lift_to_probe:.2f}× (with a confidence bound)" + (" (met)." if lift >= gate.fan_lift_to_probe
                                                                      else "."),
        "Probe and pool decisions run every hour; a post older than "
        f"{gate.max_age_hours:.0f} h is not promoted any more.",
    ]
