"""The static part of a simulated world: users, accounts, initial follows, posts and products.

Ids equal array indices (0-based) so that every lookup is an array index. Everything is drawn from
the one ``numpy.random.Generator`` passed in, in a fixed order, so a seed fixes the world.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.world.params import DAY_MS, WorldParams


@dataclass
class Users:
    created_ms: np.ndarray
    taste: np.ndarray  # (n, dim) float32, unit norm: hidden
    activity: np.ndarray  # mean sessions multiplier: hidden
    farm: np.ndarray  # farm id or -1: hidden


@dataclass
class Accounts:
    kind: np.ndarray
    category: np.ndarray
    quality: np.ndarray  # hidden
    created_ms: np.ndarray
    farm: np.ndarray  # farm paid by this account, or -1: hidden
    tier: np.ndarray
    tier_state: np.ndarray  # -1 for W1 and H1
    preferred: np.ndarray
    post_rate: np.ndarray
    habit_hour: np.ndarray
    offsite_rate: np.ndarray  # hidden
    offsite_source: np.ndarray  # main off-site source code: hidden


@dataclass
class Posts:
    account: np.ndarray
    kind: np.ndarray
    format: np.ndarray
    created_ms: np.ndarray
    quality: np.ndarray  # hidden
    appeal: np.ndarray  # hidden public appeal
    vec: np.ndarray  # (n, dim) float32: hidden
    public: np.ndarray  # published public (official picks)
    product_offsets: np.ndarray  # CSR offsets into product_ids
    product_ids: np.ndarray


@dataclass
class Products:
    shop: np.ndarray
    category: np.ndarray
    price: np.ndarray
    launched_ms: np.ndarray
    quality: np.ndarray  # hidden
    vec: np.ndarray  # hidden


@dataclass
class Population:
    start_ms: int
    end_ms: int
    centres: np.ndarray
    users: Users
    accounts: Accounts
    follow_user: np.ndarray
    follow_account: np.ndarray
    follow_ms: np.ndarray
    posts: Posts
    products: Products


def sorted_unique(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values (much faster than ``np.unique`` on large int64 arrays)."""
    x = np.sort(x)
    return x[np.concatenate([[True], x[1:] != x[:-1]])] if len(x) else x


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _users(rng: np.random.Generator, n: int, centres: np.ndarray, p: WorldParams, start: int) -> Users:
    k = rng.integers(1, 4, n)
    cats = rng.integers(0, p.n_categories, (n, 3))
    weights = (np.arange(3)[None, :] < k[:, None]).astype(np.float32)
    taste = (centres[cats] * weights[..., None]).sum(1) / k[:, None] + p.taste_spread * rng.standard_normal((n, p.dim))
    activity = rng.lognormal(0.0, 0.8, n)
    activity /= activity.mean()
    created = start - rng.integers(DAY_MS, 3 * 365 * DAY_MS, n)
    farm = np.full(n, -1, dtype=np.int64)
    n_farm_users = int(round(p.farm_user_share * n))
    farm_users = rng.choice(n, n_farm_users, replace=False)
    sizes = []
    while sum(sizes) < n_farm_users:
        sizes.append(int(rng.integers(*p.farm_size)))
    farm[np.sort(farm_users)] = np.repeat(np.arange(len(sizes)), sizes)[:n_farm_users]
    return Users(created, _unit(taste), activity, farm)


def _accounts(rng: np.random.Generator, n: int, p: WorldParams, start: int, end: int) -> Accounts:
    kind = rng.choice(3, n, p=np.array(p.kind_share))
    category = np.minimum(rng.zipf(1.3, n) - 1, p.n_categories - 1) % p.n_categories
    category = rng.permutation(p.n_categories)[category]
    quality = rng.standard_normal(n)
    new = rng.random(n) < p.new_creator_share
    created = np.where(
        new,
        start + rng.uniform(-p.new_creator_days, (end - start) / DAY_MS * 0.7, n) * DAY_MS,
        start - rng.uniform(p.new_creator_days + 1, 900, n) * DAY_MS,
    ).astype(np.int64)
    created[kind == 2] = start - 1000 * DAY_MS
    preferred = (kind == 0) & (rng.random(n) < p.preferred_share * 2 / (1 + np.exp(-quality)))
    habit = (20 + 3.5 * rng.standard_normal(n)) % 24
    offsite_rate = rng.lognormal(-1.0, 1.2, n) * (kind != 2)
    offsite_source = rng.integers(2, 6, n)
    empty = np.zeros(n, dtype=np.int64)
    return Accounts(kind, category, quality, created, empty - 1, empty.copy(), empty - 1, preferred,
                    np.zeros(n), habit, offsite_rate, offsite_source)


def _assign_farms(rng: np.random.Generator, acc: Accounts, n_farms: int, p: WorldParams) -> None:
    if n_farms == 0:
        return
    eligible = np.flatnonzero((acc.kind != 2) & (acc.quality < 0))
    n_clients = min(len(eligible), max(n_farms, int(round(p.farm_client_share * len(acc.kind)))))
    clients = rng.choice(eligible, n_clients, replace=False)
    acc.farm[clients] = rng.integers(0, n_farms, n_clients)


def _follows(
    rng: np.random.Generator, users: Users, acc: Accounts, centres: np.ndarray, p: WorldParams,
    span: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    start, end = span
    n_users, n_acc = len(users.activity), len(acc.kind)
    # Heavy-tailed attractiveness, weakly tied to quality; new creators start small.
    attract = rng.pareto(1.2, n_acc) + 0.05
    attract *= np.exp(0.25 * acc.quality) * np.where(acc.created_ms > start - 30 * DAY_MS, 0.15, 1.0)
    n_follow = 1 + rng.poisson(p.follows_per_user * np.sqrt(users.activity))
    n_follow[users.farm >= 0] = 0
    owner = np.repeat(np.arange(n_users), n_follow)
    cum = np.cumsum(attract)
    picks = np.searchsorted(cum, rng.random(len(owner)) * cum[-1])
    # Half of the draws come from accounts close to the user's taste (category centre affinity).
    by_taste = rng.random(len(owner)) < 0.5
    taste_rows = np.flatnonzero(by_taste)
    cand = rng.integers(0, n_acc, (len(taste_rows), 8))
    main_category = np.argmax(users.taste @ centres.T, axis=1)
    score = np.log(attract[cand]) + 3.0 * (acc.category[cand] == main_category[owner[taste_rows], None])
    picks[taste_rows] = cand[np.arange(len(taste_rows)), np.argmax(score, axis=1)]
    key = sorted_unique(owner.astype(np.int64) * n_acc + picks)
    user, account = key // n_acc, key % n_acc
    since = np.maximum(acc.created_ms[account], users.created_ms[user])
    late = since >= start
    t = np.where(
        late,
        since + rng.exponential(2 * DAY_MS, len(key)),
        since + rng.random(len(key)) * (start - since),
    ).astype(np.int64)
    keep = t < end
    return user[keep], account[keep], t[keep]
