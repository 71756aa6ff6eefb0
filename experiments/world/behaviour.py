"""How a user reacts to one shown item: hidden probabilities, true utility and sampled actions.

Fans react to a post's quality and their loyalty to the account; non-fans react to its public appeal.
Examination falls with position, so logged clicks under-state what lower positions would have earned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.world.params import (
    FORMAT_CLICK,
    FORMAT_ENGAGE,
    KIND_CLICK,
    KIND_ENGAGE,
    WorldParams,
)
from experiments.world.population import Population

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def pair_uniform(a: np.ndarray, b: np.ndarray, salt: int) -> np.ndarray:
    """A fixed uniform [0, 1) value per (a, b) pair (splitmix64), the same every time it is asked."""
    with np.errstate(over="ignore"):
        x = (a.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (b.astype(np.uint64) + np.uint64(salt))
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Rows:
    """Items in front of users: candidates or shown rows (all arrays of one length)."""

    user: np.ndarray
    item: np.ndarray
    author: np.ndarray
    is_fan: np.ndarray
    age_h: np.ndarray
    is_product: bool  # True when items are products (new-arrival), else posts


@dataclass
class Probs:
    """Hidden action probabilities of rows, without position bias (see :func:`probabilities`)."""

    click: np.ndarray
    engage: np.ndarray  # given click
    follow: np.ndarray  # given click (non-fans only)
    cart: np.ndarray  # given click
    purchase: np.ndarray  # given cart
    term: np.ndarray  # what the user reacts to: quality (fans) or public appeal (non-fans)


def probabilities(pop: Population, rows: Rows, p: WorldParams) -> Probs:
    """Hidden action probabilities of every row, without position bias."""
    if rows.is_product:
        prod = pop.products
        vec, quality = np.take(prod.vec, rows.item, axis=0), prod.quality[rows.item]
        appeal, kind, fmt = quality, np.zeros(len(rows.item), np.int64), np.zeros(len(rows.item), np.int64)
        sells = np.ones(len(rows.item), bool)
    else:
        posts = pop.posts
        # np.take copies whole rows; fancy indexing of a 2-D array is several times slower.
        vec, quality, appeal = np.take(posts.vec, rows.item, axis=0), posts.quality[rows.item], posts.appeal[rows.item]
        kind, fmt = posts.kind[rows.item], posts.format[rows.item]
        sells = posts.product_offsets[rows.item + 1] > posts.product_offsets[rows.item]
    taste = np.einsum("ij,ij->i", np.take(pop.users.taste, rows.user, axis=0), vec)
    loyalty = 1.5 * (pair_uniform(rows.user, rows.author, 11) - 0.5)
    fan = rows.is_fan
    term = np.where(fan, quality, appeal)
    logit = (
        p.click_base + p.click_taste * taste + KIND_CLICK[kind] + FORMAT_CLICK[fmt]
        + np.where(fan, p.click_quality * quality + p.click_loyalty * loyalty,
                   p.click_appeal_nonfan * appeal + p.click_nonfan_offset)
        - p.freshness_per_hour * rows.age_h
    )
    click = _sigmoid(logit)
    engage = _sigmoid(p.engage_base + p.engage_quality * term + KIND_ENGAGE[kind] + FORMAT_ENGAGE[fmt])
    follow = np.where(fan, 0.0, _sigmoid(p.follow_base + p.follow_appeal * appeal + 0.5 * taste))
    cart = np.where(sells, _sigmoid(p.cart_base + 0.5 * term + 0.6 * fan), 0.0)
    purchase = _sigmoid(p.purchase_base + 0.3 * term + 0.4 * fan)
    return Probs(click, engage, follow, cart, purchase, term)


def expected_utility(pr: Probs, p: WorldParams) -> np.ndarray:
    """The true utility of an item for a user: expected weighted actions with position bias removed."""
    wc, we, wf, wb = p.utility_weights
    return pr.click * (wc + we * pr.engage + wf * pr.follow + wb * pr.cart * pr.purchase)


def examine(position: np.ndarray, p: WorldParams) -> np.ndarray:
    """P(examine | 0-based position)."""
    return (1.0 + position) ** -p.position_power


@dataclass
class Outcome:
    """Sampled reactions of shown rows."""

    clicked: np.ndarray
    engage_action: np.ndarray  # action code of like/comment/share, or -1
    followed: np.ndarray
    carted: np.ndarray
    bought: np.ndarray
    dwell: np.ndarray  # seconds for clicked rows, NaN otherwise


def sample(rng: np.random.Generator, pr: Probs, position: np.ndarray, p: WorldParams) -> Outcome:
    """Draw what each shown row's user does.

    Everything but the click is conditional on it, so those draws are made for clicked rows only
    (a few percent of impressions).
    """
    n = len(position)
    clicked = rng.random(n) < examine(position, p) * pr.click
    c = np.flatnonzero(clicked)
    u = rng.random((5, len(c)))
    engaged = u[0] < pr.engage[c]
    kind = np.searchsorted([0.6, 0.85], u[1])  # like, comment, share
    engage_action = np.full(n, -1, np.int64)
    engage_action[c[engaged]] = 3 + kind[engaged]
    followed, carted, bought = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
    followed[c] = u[2] < pr.follow[c]
    carted[c] = u[3] < pr.cart[c]
    bought[c] = carted[c] & (u[4] < pr.purchase[c])
    dwell = np.full(n, np.nan)
    dwell[c] = rng.lognormal(2.5 + 0.3 * pr.term[c], 0.6)
    return Outcome(clicked, engage_action, followed, carted, bought, dwell)
