"""Catalogues for the ranking tests: a tiny hand-built one whose answers are known, and a seeded random one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from features.contract import TABLES, code, enum_array, ms
from ranking.catalog import CatalogIndex
from ranking.catalog_tables import NEVER, Accounts, Follows, Posts, Products
from ranking.request import RankRequest, RequestBatch

HOUR = 3_600_000
DAY = 24 * HOUR
NOW = 1_791_590_400_000  # 2026-10-10T00:00Z
FAN, NOBODY, NEWFAN = 100, 200, 300  # the three users of the tiny world

# account_id: (kind, tier, preferred, category)
ACCOUNTS = {
    1: ("shop", "W2", True, 10),  # preferred shop, followed by FAN
    2: ("influencer", "W1", False, 20),  # followed by FAN
    3: ("shop", "H1", False, 10),  # penalty box, followed by FAN
    4: ("shop", "W3", False, 30),  # followed by NEWFAN only, since an hour ago
    5: ("official", "W1", False, 20),  # FAN unfollowed it ten days ago
}
# (user, account, followed_at, unfollowed_at or None)
FOLLOWS = [
    (FAN, 1, NOW - 30 * DAY, None), (FAN, 2, NOW - 30 * DAY, None), (FAN, 3, NOW - 30 * DAY, None),
    (FAN, 5, NOW - 30 * DAY, NOW - 10 * DAY),
    (NEWFAN, 4, NOW - HOUR, None), (NEWFAN, 1, NOW + HOUR, None),
]
# post_id: (account, created_at, visibility)
POSTS = {
    11: (1, NOW - 2 * HOUR, "public"), 12: (1, NOW - 5 * HOUR, "private"),
    13: (1, NOW - 100 * HOUR, "public"),  # older than the 72 h window
    14: (1, NOW + HOUR, "public"),  # not yet published
    21: (2, NOW - 1 * HOUR, "private"), 22: (2, NOW - 3 * HOUR, "public"),
    31: (3, NOW - 1 * HOUR, "public"),  # H1 author
    41: (4, NOW - 1 * HOUR, "private"), 42: (4, NOW - 2 * HOUR, "public"),
    51: (5, NOW - 1 * HOUR, "public"),  # unfollowed author
}
# product_id: (shop, category, launched_at)
PRODUCTS = {
    101: (1, 10, NOW - 1 * DAY), 102: (1, 11, NOW - 8 * DAY), 103: (3, 10, NOW - 1 * DAY),
    104: (4, 30, NOW - 2 * DAY), 105: (2, 20, NOW - 3 * DAY), 106: (1, 12, NOW + DAY),
}
FOLLOW_FEED_OF_FAN = {11, 12, 21, 22, 31}
NEW_ARRIVALS_OF_FAN = {101, 103, 105}


def tiny_tables() -> dict[str, pa.Table]:
    """The tiny world as contract tables (the way data arrives from disk)."""
    a = list(ACCOUNTS.items())
    accounts = pa.table({
        "account_id": pa.array([k for k, _ in a], pa.int64()),
        "kind": enum_array("account_kind", np.array([code("account_kind", v[0]) for _, v in a])),
        "tier": enum_array("tier", np.array([code("tier", v[1]) for _, v in a])),
        "tier_state": enum_array("tier_state", np.full(len(a), -1)),
        "preferred_shop": pa.array([v[2] for _, v in a]),
        "category": pa.array([v[3] for _, v in a], pa.int32()),
        "created_at": ms(np.full(len(a), NOW - 365 * DAY)),
    }, schema=TABLES["accounts"].schema)
    follows = pa.table({
        "user_id": pa.array([f[0] for f in FOLLOWS], pa.int64()),
        "account_id": pa.array([f[1] for f in FOLLOWS], pa.int64()),
        "followed_at": ms(np.array([f[2] for f in FOLLOWS])),
        "unfollowed_at": pa.array([f[3] for f in FOLLOWS], pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
    }, schema=TABLES["follows"].schema)
    p = list(POSTS.items())
    posts = pa.table({
        "post_id": pa.array([k for k, _ in p], pa.int64()),
        "account_id": pa.array([v[0] for _, v in p], pa.int64()),
        "kind": enum_array("post_kind", np.zeros(len(p))),
        "format": enum_array("post_format", np.zeros(len(p))),
        "visibility": enum_array("visibility", np.array([code("visibility", v[2]) for _, v in p])),
        "created_at": ms(np.array([v[1] for _, v in p])),
        "product_ids": pa.array([[] for _ in p], pa.list_(pa.int64())),
    }, schema=TABLES["posts"].schema)
    r = list(PRODUCTS.items())
    products = pa.table({
        "product_id": pa.array([k for k, _ in r], pa.int64()),
        "shop_id": pa.array([v[0] for _, v in r], pa.int64()),
        "category": pa.array([v[1] for _, v in r], pa.int32()),
        "price": pa.array([9.9] * len(r)),
        "launched_at": ms(np.array([v[2] for _, v in r])),
    }, schema=TABLES["products"].schema)
    return {"accounts": accounts, "follows": follows, "posts": posts, "products": products}


def tiny_catalog() -> CatalogIndex:
    return CatalogIndex.from_tables(tiny_tables())


def requests(users: list[int], slot: str = "follow_feed", k: int = 10, now: int = NOW,
             candidates: list[list[int] | None] | None = None) -> RequestBatch:
    cands = candidates or [None] * len(users)
    return RequestBatch.of([RankRequest(u, slot, k, now, c) for u, c in zip(users, cands, strict=True)])


@dataclass(frozen=True)
class RandomWorld:
    catalog: CatalogIndex
    user_id: np.ndarray
    account_id: np.ndarray
    post_id: np.ndarray
    product_id: np.ndarray
    follows: Follows
    start_ms: int


def random_world(rng: np.random.Generator, *, users: int = 300, accounts: int = 60, posts: int = 3000,
                 products: int = 1500, days: int = 10) -> RandomWorld:
    """A seeded random catalogue with sparse, large ids, re-follows, every tier and both visibilities."""
    start = NOW - days * DAY
    account_id = rng.choice(10**12, size=accounts, replace=False).astype(np.int64)
    user_id = rng.choice(10**12, size=users, replace=False).astype(np.int64)
    n_follows = users * 8
    since = start - DAY + rng.integers(0, (days + 1) * DAY, n_follows)
    ends = rng.random(n_follows) < 0.2
    until = np.where(ends, since + rng.integers(HOUR, 3 * DAY, n_follows), NEVER)
    # Few users and accounts, many follow rows: pairs repeat, so re-follows after an unfollow occur.
    follows = Follows(rng.choice(user_id, n_follows), rng.choice(account_id, n_follows), since, until)
    post = Posts(rng.choice(10**12, size=posts, replace=False), rng.choice(account_id, posts),
                 start + rng.integers(0, days * DAY, posts), rng.integers(0, 2, posts))
    product = Products(rng.choice(10**12, size=products, replace=False), rng.choice(account_id, products),
                       rng.integers(0, 20, products), start + rng.integers(0, days * DAY, products))
    catalog = CatalogIndex(
        Accounts(account_id, rng.integers(0, 3, accounts), rng.integers(0, 5, accounts), rng.random(accounts) < 0.3,
                 rng.integers(0, 8, accounts)),
        follows, post, product)
    return RandomWorld(catalog, user_id, account_id, post.post_id, product.product_id, follows, start)
