"""Figures the simulated world must reproduce, computed from its contract tables as any analyst would.

These are the handbook's relationship-user figures (DOMAIN.md) and the traps of SIMULATOR.md; tests
check them statistically and `weitao simulate` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.contract import code, enum_codes
from features.graph import FanIndex

DAY_MS = 86_400_000


@dataclass(frozen=True)
class EventView:
    """Events as numpy columns with each target's account resolved."""

    user: np.ndarray
    action: np.ndarray
    target_type: np.ndarray
    target: np.ndarray
    account: np.ndarray
    time: np.ndarray
    position: np.ndarray
    amount: np.ndarray


def event_view(tables: dict[str, pa.Table]) -> EventView:
    """The events table as numpy columns with each target's account resolved (position -1, amount NaN where null)."""
    ev = tables["events"]
    tt = enum_codes(ev.column("target_type"), "target_type")
    target = ev.column("target_id").to_numpy()
    post_acc = tables["posts"].column("account_id").to_numpy()
    shop = tables["products"].column("shop_id").to_numpy()
    account = np.select(
        [tt == code("target_type", "post"), tt == code("target_type", "product")],
        [post_acc[np.minimum(target, len(post_acc) - 1)], shop[np.minimum(target, len(shop) - 1)]], target)
    return EventView(
        ev.column("user_id").to_numpy(), enum_codes(ev.column("action"), "action"), tt, target, account,
        pc.cast(ev.column("event_time"), pa.int64()).to_numpy(),
        ev.column("position").fill_null(-1).to_numpy(), ev.column("amount").fill_null(np.nan).to_numpy())


def _first_per_pair(user: np.ndarray, account: np.ndarray, time: np.ndarray) -> np.ndarray:
    order = np.lexsort((time, account, user))
    key = user[order] * (int(account.max()) + 1) + account[order]
    first = np.concatenate([[True], key[1:] != key[:-1]])
    return order[first]


def revisit_ratio(tables: dict[str, pa.Table], window_days: float = 30.0) -> tuple[float, float]:
    """30-day revisit rate to an account's page after a first click on its content: (fans, non-fans)."""
    v = event_view(tables)
    fans = FanIndex(tables["follows"])
    clicks = np.flatnonzero((v.action == code("action", "click")) & (v.target_type != code("target_type", "account")))
    first = clicks[_first_per_pair(v.user[clicks], v.account[clicks], v.time[clicks])]
    end = v.time.max()
    first = first[v.time[first] <= end - 0.5 * (end - v.time.min())]  # leave room to come back
    visits = np.flatnonzero((v.action == code("action", "click")) & (v.target_type == code("target_type", "account"))
                            & (enum_codes(tables["events"].column("source"), "source") == 0))
    n_acc = int(v.account.max()) + 1
    vkey = v.user[visits] * n_acc + v.account[visits]
    order = np.lexsort((v.time[visits], vkey))
    vkey, vtime = vkey[order], v.time[visits][order]
    fkey = v.user[first] * n_acc + v.account[first]
    pos = np.searchsorted(vkey, fkey)  # first visit of the pair (times sorted within key)
    t = v.time[first]
    # first visit strictly after the click
    pos = pos + _count_before(vkey, vtime, fkey, t, pos)
    ok = (pos < len(vkey))
    back = ok & (vkey[np.minimum(pos, len(vkey) - 1)] == fkey) & (vtime[np.minimum(pos, len(vkey) - 1)] - t
                                                                    <= window_days * DAY_MS)
    fan = fans.is_fan(v.user[first], v.account[first], t)
    return float(back[fan].mean()), float(back[~fan].mean())


def _count_before(vkey: np.ndarray, vtime: np.ndarray, fkey: np.ndarray, t: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Visits of the same pair at or before the click time (skipped)."""
    key_t = np.searchsorted(vkey, fkey, side="right")
    out = np.zeros(len(fkey), np.int64)
    for i in np.flatnonzero(key_t > pos):
        out[i] = np.searchsorted(vtime[pos[i]:key_t[i]], t[i], side="right")
    return out


def purchase_figures(tables: dict[str, pa.Table]) -> dict[str, float]:
    """Order value and repeat purchase (2+ orders with the shop) for fans and non-fans."""
    v = event_view(tables)
    fans = FanIndex(tables["follows"])
    buys = np.flatnonzero(v.action == code("action", "purchase"))
    fan = fans.is_fan(v.user[buys], v.account[buys], v.time[buys])
    amount = v.amount[buys]
    first = _first_per_pair(v.user[buys], v.account[buys], v.time[buys])
    n_acc = int(v.account.max()) + 1
    key = v.user[buys] * n_acc + v.account[buys]
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    repeat = counts[inverse[first]] >= 2
    return {
        "order_value_fan": float(np.nanmean(amount[fan])), "order_value_nonfan": float(np.nanmean(amount[~fan])),
        "repeat_fan": float(repeat[fan[first]].mean()), "repeat_nonfan": float(repeat[~fan[first]].mean()),
        "purchases": int(len(buys)),
    }


def ctr_by_position(tables: dict[str, pa.Table], page: int = 10) -> np.ndarray:
    """Clicks per impression at each 0-based position of served pages."""
    v = event_view(tables)
    ok = (v.position >= 0) & (v.position < page)
    imp = np.bincount(v.position[ok & (v.action == 0)], minlength=page)
    clk = np.bincount(v.position[ok & (v.action == code("action", "click"))], minlength=page)
    return clk / np.maximum(imp, 1)
