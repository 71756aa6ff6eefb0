"""The static part of a simulated world: users, accounts, initial follows, posts and products.

Ids equal array indices (0-based) so that every lookup is an array index. Everything is drawn from
the one ``numpy.random.Generator`` passed in, in a fixed order, so a seed fixes the world.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from experiments.world.params import DAY_MS, WorldParams


@dataclass
class Users:
    """Per user (index = user id): creation time (ms), and hidden taste vector, activity and click farm."""

    created_ms: np.ndarray
    taste: np.ndarray  # (n, dim) float32, unit norm: hidden
    activity: np.ndarray  # mean sessions multiplier: hidden
    farm: np.ndarray  # farm id or -1: hidden


@dataclass
class Accounts:
    """Per account (index = account id): catalogue attributes (enums as contract codes), habits, hidden traits."""

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
    """Per post (index = post id): author, kind, format, creation time, hidden quality, appeal and vector; the
    products of post i are ``product_ids[product_offsets[i]:product_offsets[i + 1]]``."""

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
    """Per product (index = product id): shop account, category, price, launch time (ms), hidden quality and vector."""

    shop: np.ndarray
    category: np.ndarray
    price: np.ndarray
    launched_ms: np.ndarray
    quality: np.ndarray  # hidden
    vec: np.ndarray  # hidden


@dataclass
class Population:
    """A whole static world over ``[start_ms, end_ms)``: category centres in taste space, users, accounts, follows
    (user, account, start time; sorted by user, account), posts and products."""

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
    # Same sum as (centres[cats] * weights[..., None]).sum(1), without the (n, 3, dim) temporary.
    taste = np.take(centres, cats[:, 0], axis=0) * weights[:, :1]
    for j in (1, 2):
        taste += np.take(centres, cats[:, j], axis=0) * weights[:, j:j + 1]
    taste /= k[:, None]
    noise = rng.standard_normal((n, p.dim))
    noise *= p.taste_spread
    taste += noise
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
    span: tuple[int, int], chunk: int = 1 << 20,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    start = span[0]
    # Heavy-tailed attractiveness, weakly tied to quality; new creators start small.
    attract = rng.pareto(1.2, len(acc.kind)) + 0.05
    attract *= np.exp(0.25 * acc.quality) * np.where(acc.created_ms > start - 30 * DAY_MS, 0.15, 1.0)
    n_follow = 1 + rng.poisson(p.follows_per_user * np.sqrt(users.activity))
    n_follow[users.farm >= 0] = 0
    draw = _FollowDraw(users, acc, attract, np.argmax(users.taste @ centres.T, axis=1), span)
    # Users in blocks of about ``chunk`` follows: each user's follows are drawn, deduplicated and sorted
    # within its block, and the temporaries stay small (and in cache) instead of spanning every follow.
    cuts = np.searchsorted(np.cumsum(n_follow), np.arange(chunk, int(n_follow.sum()), chunk))
    bounds = np.unique(np.concatenate([[0], cuts, [len(n_follow)]]))
    parts = [draw.block(rng, lo, n_follow[lo:hi]) for lo, hi in pairwise(bounds)]
    user, account, t = (np.concatenate(cols) for cols in zip(*parts, strict=True))
    return user, account, t


class _FollowDraw:
    """Draws the initial follows of a block of users (see ``_follows``)."""

    def __init__(self, users: Users, acc: Accounts, attract: np.ndarray, main_category: np.ndarray,
                 span: tuple[int, int]) -> None:
        self.users, self.acc, self.main_category, self.span = users, acc, main_category, span
        self.n_acc = len(attract)
        self.cum = np.cumsum(attract)
        self.popular = InverseCdf(self.cum)
        levels = np.arange(int(main_category.max(initial=0)) + 1)
        score = np.log(attract)[None, :] + 3.0 * (acc.category[None, :] == levels[:, None])
        self.by_score = np.argsort(score, axis=1, kind="stable").ravel()  # per category: worst to best account

    def block(self, rng: np.random.Generator, first: int, n_follow: np.ndarray) -> tuple[np.ndarray, ...]:
        """(user, account, time) of the follows of users first, first + 1, ... (sorted, distinct)."""
        start, end = self.span
        owner = np.repeat(np.arange(first, first + len(n_follow)), n_follow)
        picks = self.popular(rng.random(len(owner)) * self.cum[-1])
        # Half of the draws come from accounts close to the user's taste (category centre affinity).
        taste = np.flatnonzero(rng.random(len(owner)) < 0.5)
        picks[taste] = self._best_of(rng, self.main_category[owner[taste]])
        user, account = np.divmod(sorted_unique(owner * self.n_acc + picks), self.n_acc)
        since = np.maximum(self.acc.created_ms[account], self.users.created_ms[user])
        # Follows made before the window started are spread back to when both existed; later ones follow soon.
        t = rng.random(len(since)) * (start - since)
        late = np.flatnonzero(since >= start)
        t[late] = rng.exponential(2 * DAY_MS, len(late))
        t = (since + t).astype(np.int64)
        keep = t < end
        return user[keep], account[keep], t[keep]

    def _best_of(self, rng: np.random.Generator, main: np.ndarray, draws: int = 8) -> np.ndarray:
        """For each user category in ``main``: the best of ``draws`` uniformly drawn accounts by
        log attract + 3 [same category].

        The best of k uniform draws (with replacement) is the one of highest rank by that score, and
        P(highest rank < r) = (r / n)^k; so the rank is drawn directly as floor(n U^(1/k)), U uniform,
        instead of drawing and scoring k candidates per follow (same distribution, a k-th of the work).
        """
        n = self.n_acc
        rank = (n * rng.random(len(main)) ** (1.0 / draws)).astype(np.int64)
        return self.by_score[main * n + np.minimum(rank, n - 1)]


class InverseCdf:
    """``np.searchsorted(cum, values)`` for many values: a guide table leaves each a step or two.

    ``cum`` is ascending and values lie in [0, cum[-1]]; ``per_item`` guide buckets per entry of ``cum``.
    """

    def __init__(self, cum: np.ndarray, per_item: int = 4) -> None:
        self.cum, self.k = cum, per_item * len(cum)
        self.scale = self.k / cum[-1]
        # bucket b starts at the first i with cum[i] >= b / scale
        self.guide = np.searchsorted(cum, np.arange(self.k) / self.scale)

    def __call__(self, values: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
        """``np.searchsorted(cum, values)``, in chunks that keep the temporaries in cache."""
        cum, out = self.cum, np.empty(len(values), np.int64)
        for lo in range(0, len(values), chunk):
            v = values[lo:lo + chunk]
            # one bucket early keeps rounding on the safe side
            idx = self.guide[np.clip((v * self.scale).astype(np.int64) - 1, 0, self.k - 1)]
            todo = np.flatnonzero(cum[idx] < v)
            while len(todo):
                idx[todo] += 1
                todo = todo[cum[idx[todo]] < v[todo]]
            out[lo:lo + len(v)] = idx
        return out
