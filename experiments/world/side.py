"""Activity that no ranking policy causes: click farms and off-site visits brought in by accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from experiments.world.events import ACTION, SLOT, TARGET_ACCOUNT, TARGET_POST, TARGET_PRODUCT, Events
from experiments.world.params import HOUR_MS, HOURLY_CURVE

from experiments.world.serve import basket_amount, schedule_repeats

if TYPE_CHECKING:
    from experiments.world.engine import World

_FARM_ACTIONS = ((ACTION["like"], 0.9), (ACTION["comment"], 0.5), (ACTION["share"], 0.4))


def _lockstep(world: World, posts: np.ndarray, farms: np.ndarray, t_start: np.ndarray) -> Events:
    """Every member of each farm hits the post within minutes, in the same order each time."""
    members = world.farm_members
    parts: list[Events] = []
    for post, farm, t in zip(posts.tolist(), farms.tolist(), t_start.tolist(), strict=True):
        users = members.get(farm)
        if users is None or not len(users):
            continue
        n = len(users)
        base = t + world.rng.integers(20_000, 120_000) + np.arange(n) * world.rng.integers(1000, 5000)
        common = dict(user=users, target=post, target_type=TARGET_POST, slot=SLOT["follow_feed"])
        parts.append(Events.make(n, **common, action=ACTION["impression"], time=base))
        parts.append(Events.make(n, **common, action=ACTION["click"], time=base + 1000))
        parts.append(Events.make(n, **common, action=ACTION["dwell"], time=base + 2000,
                                 dwell=world.rng.uniform(0.5, 3.0, n)))
        for action, share in _FARM_ACTIONS:
            who = world.rng.random(n) < share
            parts.append(Events.make(int(who.sum()), **{**common, "user": users[who]}, action=action,
                                     time=base[who] + 3000))
    return Events.concat(parts)


def farm_activity(world: World, t0: int, t1: int) -> Events:
    """Farms boost their clients' new posts, and now and then a random public post to blend in."""
    pop = world.pop
    created = pop.posts.created_ms
    lo, hi = np.searchsorted(world.posts_by_time, [t0, t1])
    new = world.posts_by_time_order[lo:hi]
    farm = pop.accounts.farm[pop.posts.account[new]]
    paid = new[farm >= 0]
    ev = [_lockstep(world, paid, farm[farm >= 0], created[paid])]
    live = np.flatnonzero((world.level >= 2) & (created >= t0 - 48 * HOUR_MS) & (created < t0))
    blend = np.flatnonzero(world.rng.random(len(world.farm_members)) < 0.02)
    if len(live) and len(blend):
        picks = live[world.rng.integers(0, len(live), len(blend))]
        farms = np.array(sorted(world.farm_members))[blend]
        ev.append(_lockstep(world, picks, farms, t0 + world.rng.integers(0, HOUR_MS // 2, len(blend))))
    return Events.concat(ev)


def offsite_visits(world: World, t0: int, hour_of_day: int) -> Events:
    """Visitors brought in by accounts from off-site sources (LEAD); some of them follow (INTERLOCK)."""
    pop, p = world.pop, world.params
    rate = pop.accounts.offsite_rate * p.offsite_visits_per_account_day / 24.0
    rate = rate * HOURLY_CURVE[(hour_of_day + 8) % 24] / HOURLY_CURVE.mean()
    rate = rate * (pop.accounts.created_ms <= t0)
    n = world.rng.poisson(rate)
    account = np.repeat(np.arange(len(n)), n)
    user = world.normal_users[world.rng.integers(0, len(world.normal_users), len(account))]
    main = pop.accounts.offsite_source[account]
    source = np.where(world.rng.random(len(account)) < 0.7, main, world.rng.integers(2, 6, len(account)))
    t = t0 + world.rng.integers(0, HOUR_MS, len(account))
    visits = Events.make(len(account), user=user, target=account, target_type=TARGET_ACCOUNT, slot=SLOT["other"],
                         action=ACTION["click"], source=source, time=t)
    follow = (world.rng.random(len(account)) < p.offsite_follow_prob) & ~world.graph.is_fan(user, account)
    follows = Events.make(int(follow.sum()), user=user[follow], target=account[follow], target_type=TARGET_ACCOUNT,
                          slot=SLOT["other"], action=ACTION["follow"], source=source[follow], time=t[follow] + 30_000)
    world.graph_additions.append((user[follow], account[follow], t[follow] + 30_000))
    return Events.concat([visits, follows, _visit_purchases(world, user, account, source, t)])


def _visit_purchases(world: World, user: np.ndarray, account: np.ndarray, source: np.ndarray,
                     t: np.ndarray) -> Events:
    """Some visitors buy the shop's latest product on the spot (mostly non-fans: the platform baseline)."""
    product = world.product_index.latest(account, t)
    buy = (product >= 0) & (world.rng.random(len(account)) < world.params.visit_purchase_prob)
    fan = world.graph.is_fan(user[buy], account[buy])
    t_buy = t[buy] + 300_000
    amount = basket_amount(world, product[buy], fan)
    world.pending.add(schedule_repeats(world, user[buy], product[buy], fan, t_buy))
    return Events.make(int(buy.sum()), user=user[buy], target=product[buy], target_type=TARGET_PRODUCT,
                       slot=SLOT["other"], action=ACTION["purchase"], source=source[buy], time=t_buy,
                       amount=amount)
