"""``GET /accounts/{id}/insights``: what a seller sees of an account and its recent posts, and why.

Numbers come from the same online features the models read (so a seller sees what the ranker sees):
fans now, the account's baselines, and per post the fan and non-fan impressions, clicks and engagement
rates, the post's rate against its account's and its tier's baselines, and whether it is on the
picked-hot-list. For a fans-only post that is not on the hotlist, the criteria of the amplification gate
are spelled out with the post's own numbers, so the seller can tell what is missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from features.contract import ENUMS, code, enum_codes
from ranking.gate.settings import GateSettings
from ranking.scorers.model import feature_rows
from serving.data import ServiceData

ACCOUNT_FIELDS = ("acct_followers", "acct_fan_engagement_rate_30d", "acct_offsite_share_30d",
                  "acct_fan_revisit_rate_30d", "link_lead_visits_30d", "link_interlock_rate_30d",
                  "link_engage_rate_30d", "link_keep_rate_30d")
POST_FIELDS = ("post_fan_impressions", "post_fan_clicks", "post_fan_engagement_rate", "post_nonfan_impressions",
               "post_nonfan_clicks", "post_nonfan_engagement_rate", "post_rate_vs_account", "post_rate_vs_tier")
H1 = code("tier", "H1")


class UnknownAccount(LookupError):
    """No account with this id in the service's catalogue."""


def account_insights(data: ServiceData, gate: GateSettings, account_id: int, now_ms: int,
                     limit: int) -> dict[str, Any]:
    """The insights body for ``account_id`` with its ``limit`` newest posts (raises :class:`UnknownAccount`)."""
    accounts = data.tables["accounts"]
    ids = accounts.column("account_id").to_numpy()
    hit = np.flatnonzero(ids == account_id)
    if not len(hit):
        raise UnknownAccount(f"account_id: unknown account {account_id}")
    row = int(hit[0])
    tier = int(enum_codes(accounts.column("tier"), "tier")[row])
    posts = data.tables["posts"]
    mine = np.flatnonzero(posts.column("account_id").to_numpy() == account_id)
    created = posts.column("created_at").cast("int64").to_numpy()[mine]
    newest = np.argsort(-created, kind="stable")[:limit]
    mine, created = mine[newest], created[newest]
    post_ids = posts.column("post_id").to_numpy()[mine]
    values = _features(data, account_id, post_ids, now_ms)
    account = {"account_id": account_id, "kind": accounts.column("kind")[row].as_py(),
               "tier": ENUMS["tier"][tier], "tier_state": accounts.column("tier_state")[row].as_py(),
               "preferred_shop": bool(accounts.column("preferred_shop")[row].as_py()),
               **{name: _number(values[name][0]) if len(post_ids) else None for name in ACCOUNT_FIELDS}}
    visibility = enum_codes(posts.column("visibility"), "visibility")[mine]
    board = data.board.state
    at = np.searchsorted(board.post_ids, post_ids)
    on_board = (at < len(board.post_ids)) & (board.post_ids[np.minimum(at, len(board.post_ids) - 1)] == post_ids)
    out = []
    for i, post in enumerate(post_ids.tolist()):
        numbers = {name: _number(values[name][i]) for name in POST_FIELDS}
        fans_only = visibility[i] == code("visibility", "private")
        official = bool(on_board[i] and board.official[at[i]])
        status = ("hotlist (official pick)" if official else "hotlist (amplified)" if on_board[i]
                  else "fans only" if fans_only else "public")
        why = _why(numbers, tier, gate) if fans_only and not on_board[i] else []
        out.append({"post_id": post, "created_ms": int(created[i]),
                    "visibility": "fans_only" if fans_only else "public", "status": status, **numbers, "why": why})
    return {"account": account, "posts": out, "as_of_ms": now_ms}


def _features(data: ServiceData, account_id: int, post_ids: np.ndarray, now_ms: int) -> dict[str, np.ndarray]:
    online = data.online["follow_feed"]
    fs = online.feature_set
    n = len(post_ids)
    category = data.catalog.category(np.full(n, account_id, np.int64))
    rows = feature_rows(fs, np.full(n, -1, np.int64), np.full(n, code("target_type", "post"), np.int8), post_ids,
                        np.full(n, account_id, np.int64), category, np.int64(now_ms), None)
    matrix = online.get(rows) if n else np.zeros((0, len(fs.features)))
    names = [f.name for f in fs.features]  # the follow-feed set carries every account and post field used here
    return {name: matrix[:, names.index(name)] for name in (*ACCOUNT_FIELDS, *POST_FIELDS)}


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


def _number(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
