"""A hand-built data directory where every insight has a known answer (shared by the insights tests).

Account A (1, shop, W2 fair, category 7) has 10 fans (users 100–109) and four posts:

* p10, published 09:00 local (UTC+8) on day 0: 100 fan impressions, 2 likes; fans only, > 48 h old;
* p11, 09:00 local on day 3: 100 fan impressions, 2 likes; fans only, 20 h old;
* p20, 20:00 local on day 2: 100 fan impressions, 10 likes, then 5 hotlist impressions by non-fans: amplified;
* p12, 03:00 local on day 3: 5 fan impressions, no likes; fans only, 2 h old.

So hour 09 has 4 engagements in 200 fan impressions (2 %), hour 20 has 10 in 100 (10 %), hour 03 0 in 5.
Account-page visits: six non-fans (150–155) visit once and two of them (150, 151) then follow; fan 100 visits
three times and fan 101 once. LEAD 10 visits, INTERLOCK 2 follows, ENGAGE 2 fan revisits (100's second and
third), fans now 12. Purchases of A's product: user 100 twice, user 101 once (one repeat purchase of three).
Peers: B (2, W2, category 7, 4 fans), D (4, W2, category 8, 20 fans), C (3, W3, category 8, 30 fans).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from features.contract import TABLES, TableSpec, code, enum_array
from features.storage import write_table

HOUR, DAY = 3_600_000, 86_400_000
T0 = 1_773_100_800_000  # 2026-03-10T00:00Z
NOW = T0 + 3 * DAY + 21 * HOUR
A, B, C, D = 1, 2, 3, 4
FANS = list(range(100, 110))
P10, P11, P20, P12 = 10, 11, 20, 12
PRODUCT = 500
POSTED = {P10: T0 + 1 * HOUR, P11: T0 + 3 * DAY + 1 * HOUR, P20: T0 + 2 * DAY + 12 * HOUR,
          P12: T0 + 3 * DAY + 19 * HOUR}


class _Events:
    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []

    def add(self, user: int, ttype: str, target: int, action: str, t: int, slot: str = "follow_feed") -> None:
        self.rows.append({"event_id": len(self.rows) + 1, "user_id": user, "target_type": ttype, "target_id": target,
                          "action": action, "slot": slot, "source": "in_app", "event_time": t})


def _post_events(ev: _Events, post: int, impressions: int, likes: int) -> None:
    t = POSTED[post] + 10 * 60_000
    for i in range(impressions):
        ev.add(FANS[i % len(FANS)], "post", post, "impression", t + i)
    for i in range(likes):
        ev.add(FANS[i], "post", post, "like", t + 1000 + i)


def _events() -> list[dict[str, object]]:
    ev = _Events()
    _post_events(ev, P10, 100, 2)
    _post_events(ev, P11, 100, 2)
    _post_events(ev, P20, 100, 10)
    _post_events(ev, P12, 5, 0)
    for i in range(5):  # the hotlist shows p20 to non-fans near the end of the data: it is on the board
        ev.add(160 + i, "post", P20, "impression", T0 + 3 * DAY + 19 * HOUR + 20 * 60_000 + i, slot="hotlist")
    day1 = T0 + DAY
    for i, user in enumerate(range(150, 156)):
        ev.add(user, "account", A, "click", day1 + i * 60_000)
    for user in (150, 151):
        ev.add(user, "account", A, "follow", day1 + 30 * 60_000)
    for k in range(3):
        ev.add(100, "account", A, "click", day1 + (2 + k) * HOUR)
    ev.add(101, "account", A, "click", day1 + 2 * HOUR)
    for user, t in ((100, day1 + 5 * HOUR), (100, day1 + 6 * HOUR), (101, day1 + 5 * HOUR)):
        ev.add(user, "product", PRODUCT, "purchase", t)
    return ev.rows


def _follows() -> list[dict[str, object]]:
    long_ago = T0 - 60 * DAY
    rows = [{"user_id": u, "account_id": A, "followed_at": long_ago} for u in FANS]
    rows += [{"user_id": u, "account_id": A, "followed_at": T0 + DAY + 30 * 60_000} for u in (150, 151)]
    for account, n, first in ((B, 4, 200), (D, 20, 300), (C, 30, 400)):
        rows += [{"user_id": first + i, "account_id": account, "followed_at": long_ago} for i in range(n)]
    return [r | {"unfollowed_at": None} for r in rows]


def write_world(data: Path) -> Path:
    """Write the world's contract tables into ``data`` and return it."""
    created = T0 - 100 * DAY
    accounts = [{"account_id": a, "kind": "shop", "tier": tier, "tier_state": state, "preferred_shop": False,
                 "category": cat, "created_at": created}
                for a, tier, state, cat in ((A, "W2", "fair", 7), (B, "W2", "fair", 7), (C, "W3", "excellent", 8),
                                            (D, "W2", "poor", 8))]
    users = [{"user_id": u, "created_at": created} for u in range(100, 500)]
    products = [{"product_id": PRODUCT, "shop_id": A, "category": 7, "price": 99.0, "launched_at": created}]
    posts = [{"post_id": p, "account_id": A, "kind": "product", "format": "nine_grid", "visibility": "private",
              "created_at": t, "product_ids": []} for p, t in POSTED.items()]
    rows = {"accounts": accounts, "users": users, "products": products, "posts": posts, "follows": _follows(),
            "events": _events()}
    for name, spec in TABLES.items():
        write_table(data / name, spec, _table(spec, rows[name]))
    return data


def _table(spec: TableSpec, rows: list[dict[str, object]]) -> pa.Table:
    """Rows with enum values as strings and times as ms, on the contract schema."""
    columns = {}
    for c in spec.columns:
        values = [r.get(c.name) for r in rows]
        if c.enum is not None:
            columns[c.name] = enum_array(c.enum, np.array([-1 if v is None else code(c.enum, v) for v in values]))
        elif pa.types.is_timestamp(c.type):
            columns[c.name] = pa.array(values, pa.int64()).cast(c.type)
        else:
            columns[c.name] = pa.array(values, c.type)
    return pa.table(columns, schema=spec.schema)
