"""Activity that no ranking policy causes: click farms and off-site visits brought in by accounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from experiments.world.events import ACTION, SLOT, TARGET_ACCOUNT, TARGET_POST, TARGET_PRODUCT, EventBatch, Events
from experiments.world.follows import expand
from experiments.world.params import HOUR_MS, HOURLY_CURVE
from experiments.world.serve import basket_amount, schedule_repeats

if TYPE_CHECKING:
    from experiments.world.engine import World

_FARM_ACTIONS = ((ACTION["like"], 0.9), (ACTION["comment"], 0.5), (ACTION["share"], 0.4))


@dataclass(frozen=True)
class Farms:
    """Farm members grouped by farm: ``users[start[k]:start[k] + size[k]]`` are the members of farm ``ids[k]``."""

    ids: np.ndarray
    start: np.ndarray
    size: np.ndarray
    users: np.ndarray

    @classmethod
    def of(cls, user_farm: np.ndarray) -> Farms:
        """The farms of users whose farm id (or -1) is ``user_farm``."""
        members = np.flatnonzero(user_farm >= 0)
        members = members[np.argsort(user_farm[members], kind="stable")]
        ids, start, size = np.unique(user_farm[members], return_index=True, return_counts=True)
        return cls(ids, start, size, members)

    def members(self) -> dict[int, np.ndarray]:
        """Farm id -> its members (views)."""
        return {int(f): self.users[a:a + n] for f, a, n in zip(self.ids, self.start, self.size, strict=True)}


def _lockstep(world: World, posts: np.ndarray, farms: np.ndarray, t_start: np.ndarray) -> Events:
    """Every member of each farm hits the post within minutes, in the same order each time."""
    index = world.farms
    k = np.minimum(np.searchsorted(index.ids, farms), max(len(index.ids) - 1, 0))
    ok = np.flatnonzero(index.ids[k] == farms) if len(index.ids) else np.zeros(0, np.int64)
    posts, k, t_start = posts[ok], k[ok], t_start[ok]
    hit, pos = expand(index.start[k], index.size[k])  # one row per (post, member), members in farm order
    rank = pos - index.start[k][hit]
    rng = world.rng
    base = (t_start + rng.integers(20_000, 120_000, len(posts)))[hit] + rank * rng.integers(1000, 5000, len(posts))[hit]
    n, users, post = len(hit), index.users[pos], posts[hit]
    const = dict(target_type=TARGET_POST, slot=SLOT["follow_feed"])
    log = EventBatch()
    log.add(n, **const, user=users, target=post, action=ACTION["impression"], time=base)
    log.add(n, **const, user=users, target=post, action=ACTION["click"], time=base + 1000)
    log.add(n, **const, user=users, target=post, action=ACTION["dwell"], time=base + 2000,
            dwell=rng.uniform(0.5, 3.0, n))
    for (action, share), draw in zip(_FARM_ACTIONS, rng.random((len(_FARM_ACTIONS), n)), strict=True):
        who = np.flatnonzero(draw < share)
        log.add(len(who), **const, user=users[who], target=post[who], action=action, time=base[who] + 3000)
    return log.build()


def farm_activity(world: World, t0: int, t1: int) -> Events:
    """Farms boost their clients' new posts, and now and then a random public post to blend in."""
    pop = world.pop
    created = pop.posts.created_ms
    lo, hi = np.searchsorted(world.posts_by_time, [t0, t1])
    new = world.posts_by_time_order[lo:hi]
    farm = pop.accounts.farm[pop.posts.account[new]]
    paid = np.flatnonzero(farm >= 0)
    posts, farms, t_start = new[paid], farm[paid], created[new[paid]]
    live = world.posts_between(t0 - 48 * HOUR_MS, t0)
    live = live[world.level[live] >= 2]
    blend = np.flatnonzero(world.rng.random(len(world.farms.ids)) < 0.02)
    if len(live) and len(blend):
        posts = np.concatenate([posts, live[world.rng.integers(0, len(live), len(blend))]])
        farms = np.concatenate([farms, world.farms.ids[blend]])
        t_start = np.concatenate([t_start, t0 + world.rng.integers(0, HOUR_MS // 2, len(blend))])
    return _lockstep(world, posts, farms, t_start)


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
