"""Posts and products of a simulated world, and the assembly of the whole population."""

from __future__ import annotations

import numpy as np

from experiments.world.params import (
    DAY_MS,
    FORMAT_APPEAL,
    FORMAT_SHARE,
    HOUR_MS,
    KIND_APPEAL,
    POST_KIND_SHARE,
    WorldParams,
)
from experiments.world.population import (
    Accounts,
    Population,
    Posts,
    Products,
    _accounts,
    _assign_farms,
    _follows,
    _unit,
    _users,
)


def _event_times(
    rng: np.random.Generator, rate: np.ndarray, first: np.ndarray, end: int, hour: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson arrivals per owner between ``first`` and ``end``; clustered around ``hour`` if given."""
    days = np.maximum(0, (end - first) / DAY_MS)
    n = rng.poisson(rate * days)
    owner = np.repeat(np.arange(len(rate)), n)
    day = np.floor(rng.random(len(owner)) * days[owner])
    base = first[owner] - first[owner] % DAY_MS + day * DAY_MS
    if hour is None:
        offset = rng.random(len(owner)) * DAY_MS
    else:  # local hour (UTC+8) near the account's habit
        local = (hour[owner] + 2.0 * rng.standard_normal(len(owner))) % 24
        offset = ((local - 8) % 24) * HOUR_MS + rng.random(len(owner)) * 60_000
    t = (base + offset).astype(np.int64)
    keep = (t >= first[owner]) & (t < end)
    order = np.lexsort((t[keep], owner[keep]))
    return owner[keep][order], t[keep][order]


def _products(rng: np.random.Generator, acc: Accounts, centres: np.ndarray, p: WorldParams,
              start: int, end: int) -> Products:
    rate = np.where(acc.kind == 0, p.product_rate_per_day, 0.0)
    first = np.maximum(acc.created_ms, start - 14 * DAY_MS)
    shop, launched = _event_times(rng, rate, first, end, None)
    n = len(shop)
    category = acc.category[shop]
    cat_price = rng.normal(4.2, 0.6, p.n_categories)
    price = np.round(np.exp(cat_price[category] + 0.6 * rng.standard_normal(n)), 2)
    quality = 0.5 * acc.quality[shop] + 0.85 * rng.standard_normal(n)
    vec = _unit(centres[category] + p.item_spread * rng.standard_normal((n, p.dim)))
    return Products(shop, category.astype(np.int32), price, launched, quality, vec)


def _post_products(rng: np.random.Generator, account: np.ndarray, created: np.ndarray, kind: np.ndarray,
                   prod: Products) -> tuple[np.ndarray, np.ndarray]:
    """Product posts point at 1–3 of the shop's latest products launched before the post."""
    key = prod.shop.astype(np.int64) * (1 << 42) + prod.launched_ms
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    hi = np.searchsorted(sorted_key, account.astype(np.int64) * (1 << 42) + created, side="right")
    lo = np.searchsorted(sorted_key, account.astype(np.int64) * (1 << 42))
    want = np.where(kind == 0, rng.integers(1, 4, len(account)), 0)
    n = np.minimum(want, hi - lo)
    offsets = np.concatenate([[0], np.cumsum(n)])
    row = np.repeat(np.arange(len(account)), n)
    pos = hi[row] - 1 - (np.arange(offsets[-1]) - offsets[row])
    return offsets.astype(np.int64), order[pos].astype(np.int64)


def _posts(rng: np.random.Generator, acc: Accounts, centres: np.ndarray, prod: Products, p: WorldParams,
           start: int, end: int) -> Posts:
    first = np.maximum(acc.created_ms, start - p.prehistory_days * DAY_MS)
    account, created = _event_times(rng, acc.post_rate, first, end, acc.habit_hour)
    n = len(account)
    akind = acc.kind[account]
    kind = np.empty(n, dtype=np.int64)
    for k, share in POST_KIND_SHARE.items():
        rows = np.flatnonzero(akind == k)
        kind[rows] = rng.choice(4, len(rows), p=share)
    fmt = rng.choice(4, n, p=FORMAT_SHARE)
    quality = 0.5 * acc.quality[account] + 0.85 * rng.standard_normal(n)
    appeal = 0.6 * quality + FORMAT_APPEAL[fmt] + KIND_APPEAL[kind] + 0.7 * rng.standard_normal(n)
    vec = _unit(centres[acc.category[account]] + p.item_spread * rng.standard_normal((n, p.dim)))
    offsets, product_ids = _post_products(rng, account, created, kind, prod)
    return Posts(account, kind, fmt, created, quality, appeal, vec, akind == 2, offsets, product_ids)


def _tiers(rng: np.random.Generator, acc: Accounts, fans: np.ndarray, p: WorldParams) -> None:
    """Initial tiers from fan counts; states from hidden quality; some farm clients are caught (H1)."""
    rank = np.argsort(np.argsort(fans + rng.random(len(fans)))) / max(1, len(fans) - 1)
    tier = np.digitize(rank, [0.4, 0.7, 0.9])  # W1..W4
    tier[acc.kind == 2] = 3
    caught = ((acc.farm >= 0) & (rng.random(len(fans)) < 0.3)) | (rng.random(len(fans)) < p.h1_share)
    tier[caught & (acc.kind != 2)] = 4
    signal = acc.quality + 0.7 * rng.standard_normal(len(fans))
    state = np.digitize(signal, [-0.7, 0.7])
    state[(tier == 0) | (tier == 4)] = -1
    acc.tier, acc.tier_state = tier, state


def build_population(rng: np.random.Generator, n_users: int, n_accounts: int, days: int, start_ms: int,
                     p: WorldParams) -> Population:
    """Draw a whole static world: users, accounts, initial follows, posts and products."""
    end = start_ms + days * DAY_MS
    centres = _unit(rng.standard_normal((p.n_categories, p.dim)))
    users = _users(rng, n_users, centres, p, start_ms)
    acc = _accounts(rng, n_accounts, p, start_ms, end)
    _assign_farms(rng, acc, int(users.farm.max()) + 1, p)
    fu, fa, ft = _follows(rng, users, acc, centres, p, (start_ms, end))
    fans = np.bincount(fa[ft < start_ms], minlength=n_accounts)
    _tiers(rng, acc, fans, p)
    # Bigger accounts post more, mostly mediocre content: followers say little about a post.
    acc.post_rate = p.post_rate_per_day * (0.5 + np.log1p(fans) / 4) * rng.lognormal(0, 0.3, n_accounts)
    farm_users = np.flatnonzero(users.farm >= 0)
    clients = np.flatnonzero(acc.farm >= 0)
    pair_u, pair_a = _farm_follows(users.farm, acc.farm, farm_users, clients)
    fu, fa, ft = _merge_follows((fu, fa, ft), (pair_u, pair_a, np.maximum(acc.created_ms[pair_a], start_ms - DAY_MS)),
                                n_accounts)
    prod = _products(rng, acc, centres, p, start_ms, end)
    posts = _posts(rng, acc, centres, prod, p, start_ms, end)
    return Population(start_ms, end, centres, users, acc, fu, fa, ft, posts, prod)


def _merge_follows(rows: tuple[np.ndarray, ...], extra: tuple[np.ndarray, ...],
                   n_accounts: int) -> tuple[np.ndarray, ...]:
    """Follow columns (user, account, time) of both, stably sorted by (user, account).

    ``rows`` come sorted from ``_follows`` and farm members follow nobody else, so the farm follows are
    inserted at their users' places instead of sorting millions of keys again.
    """
    fu = rows[0]
    key = extra[0].astype(np.int64) * n_accounts + extra[1]
    at = np.searchsorted(fu, extra[0])
    if np.all(np.diff(key) > 0) and np.array_equal(at, np.searchsorted(fu, extra[0], side="right")):
        return tuple(np.insert(col, at, x) for col, x in zip(rows, extra, strict=True))
    cols = tuple(np.concatenate([col, x]) for col, x in zip(rows, extra, strict=True))
    order = np.argsort(cols[0].astype(np.int64) * n_accounts + cols[1], kind="stable")
    return tuple(col[order] for col in cols)


def _farm_follows(user_farm: np.ndarray, acc_farm: np.ndarray, farm_users: np.ndarray,
                  clients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Farm members follow every client of their farm (they engage as 'fans')."""
    uf = user_farm[farm_users]
    cf = acc_farm[clients]
    match = uf[:, None] == cf[None, :]
    i, j = np.nonzero(match)
    return farm_users[i], clients[j]
