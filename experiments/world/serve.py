"""Serving one slot for one hour of sessions: candidates → policy scores → pages → reactions → events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from experiments.world.behaviour import Outcome, Probs, Rows, expected_utility, pair_uniform, probabilities, sample
from experiments.world.candidates import WINDOWS_MS, followed_items, sample_pool, top_pages
from experiments.world.events import ACTION, SLOT, TARGET_ACCOUNT, TARGET_POST, TARGET_PRODUCT, EventBatch, Events
from experiments.world.params import DAY_MS, HOUR_MS
from experiments.world.policy import Batch

if TYPE_CHECKING:
    from experiments.world.engine import World

HOTLIST_PER_SESSION = 40


@dataclass
class SlotMetrics:
    """Per-session figures against the truth, collected while a policy runs."""

    ndcg: list[np.ndarray] = field(default_factory=list)
    utility: list[np.ndarray] = field(default_factory=list)
    realised: list[np.ndarray] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        if not self.ndcg:
            return {"sessions": 0}
        nd, ut, re = (np.concatenate(x) for x in (self.ndcg, self.utility, self.realised))
        return {"sessions": len(nd), "ndcg_at_10": float(nd.mean()), "true_utility": float(ut.mean()),
                "realised_actions": float(re.mean())}


def candidates(world: World, slot: str, users: np.ndarray, t0: int) -> Batch:
    """Candidate rows of ``slot`` for sessions of ``users`` at hour start ``t0``."""
    pop, g = world.pop, world.graph
    lo = t0 - WINDOWS_MS[slot]
    if slot == "follow_feed":
        sess, item = followed_items(g, world.post_index, users, lo, t0)
        author, item_ms = pop.posts.account[item], pop.posts.created_ms[item]
    elif slot == "new_arrival":
        sess, item = followed_items(g, world.product_index, users, lo, t0)
        author, item_ms = pop.products.shop[item], pop.products.launched_ms[item]
    else:
        live = world.posts_between(lo, t0)
        live = live[world.level[live] >= 1]
        weight = world.pool_growth ** (world.level[live] - 1.0)
        sess, item = sample_pool(world.rng, live, weight, len(users), HOTLIST_PER_SESSION)
        author, item_ms = pop.posts.account[item], pop.posts.created_ms[item]
    user = users[sess]
    # Follow-feed and new-arrival items come from followed accounts: every such row is a fan's.
    fan = g.session_fans(users, sess, author) if slot == "hotlist" else np.ones(len(item), bool)
    level = world.level[item] if slot != "new_arrival" else np.zeros(len(item), np.int8)
    return Batch(slot, t0, sess, user, item, author, fan, item_ms, level)


def choose(world: World, batch: Batch, scores: np.ndarray, explore: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shown rows, positions and propensities; a share ``explore`` of pages is shuffled at random."""
    n_sess = int(batch.session.max()) + 1 if len(batch) else 0
    greedy_rows, greedy_pos = top_pages(batch.session, scores, world.page_size)
    if explore <= 0:
        return greedy_rows, greedy_pos, np.ones(len(greedy_rows))
    exploring = world.rng.random(n_sess) < explore
    noise = world.rng.random(len(batch))
    # Only exploring sessions are re-ranked (by noise); the others keep their greedy page.
    sub = np.flatnonzero(exploring[batch.session])
    noisy_rows, noisy_pos = top_pages(batch.session[sub], noise[sub], world.page_size)
    greedy = ~exploring[batch.session[greedy_rows]]
    rows = np.concatenate([greedy_rows[greedy], sub[noisy_rows]])
    pos = np.concatenate([greedy_pos[greedy], noisy_pos])
    order = np.argsort(batch.session[rows] * world.page_size + pos)
    rows, pos = rows[order], pos[order]
    greedy_rank = np.full(len(batch), -1)
    greedy_rank[greedy_rows] = greedy_pos
    n_cand = np.bincount(batch.session, minlength=n_sess)[batch.session[rows]]
    prop = (1 - explore) * (greedy_rank[rows] == pos) + explore / n_cand
    return rows, pos, prop


def rows_of(batch: Batch, idx: np.ndarray) -> Rows:
    """The rows ``idx`` of ``batch`` as :class:`Rows` (item age in hours at ``batch.now_ms``)."""
    age = (batch.now_ms - batch.item_ms[idx]) / HOUR_MS
    return Rows(batch.user[idx], batch.item[idx], batch.author[idx], batch.is_fan[idx], age,
                batch.slot == "new_arrival")


def measure(world: World, batch: Batch, shown: np.ndarray, pos: np.ndarray, out: Outcome, metrics: SlotMetrics) -> None:
    """nDCG@page on true utility (oracle = 1), true utility and realised actions per session."""
    util = expected_utility(probabilities(world.pop, rows_of(batch, np.arange(len(batch))), world.params),
                            world.params)
    disc = 1.0 / np.log2(np.arange(world.page_size) + 2.0)
    n_sess = int(batch.session.max()) + 1
    dcg = np.bincount(batch.session[shown], weights=util[shown] * disc[pos], minlength=n_sess)
    ideal_rows, ideal_pos = top_pages(batch.session, util, world.page_size)
    idcg = np.bincount(batch.session[ideal_rows], weights=util[ideal_rows] * disc[ideal_pos], minlength=n_sess)
    has = idcg > 0
    acts = out.clicked + (out.engage_action >= 0) + out.followed + out.bought
    metrics.ndcg.append(dcg[has] / idcg[has])
    metrics.utility.append(np.bincount(batch.session[shown], weights=util[shown], minlength=n_sess)[has])
    metrics.realised.append(np.bincount(batch.session[shown], weights=acts, minlength=n_sess)[has])


def reactions(world: World, batch: Batch, shown: np.ndarray, pos: np.ndarray, prop: np.ndarray,
              session_ms: np.ndarray, request0: int, log: EventBatch) -> tuple[Outcome, Probs]:
    """Sample what users do with their pages and add it to ``log`` as events."""
    rows = rows_of(batch, shown)
    pr = probabilities(world.pop, rows, world.params)
    out = sample(world.rng, pr, pos, world.params)
    if not rows.is_product:
        world.tally(rows.item, rows.is_fan, out.clicked, out.engage_action >= 0, out.dwell)
    slot = SLOT[batch.slot]
    ttype = TARGET_PRODUCT if rows.is_product else TARGET_POST
    t_imp = session_ms[batch.session[shown]] + pos * 4000
    request = request0 + batch.session[shown]
    base = dict(user=rows.user, target=rows.item, target_type=ttype, slot=slot, request=request)
    log.add(len(shown), **base, action=ACTION["impression"], time=t_imp, position=pos, propensity=prop)
    c = np.flatnonzero(out.clicked)
    t_click = t_imp + world.rng.integers(1000, 20_000, len(shown))
    sub = {k: (v[c] if isinstance(v, np.ndarray) else v) for k, v in base.items()}
    log.add(len(c), **sub, action=ACTION["click"], time=t_click[c], position=pos[c])
    log.add(len(c), **sub, action=ACTION["dwell"], time=t_click[c] + 1000 * out.dwell[c].astype(np.int64),
            dwell=out.dwell[c], position=pos[c])
    e = np.flatnonzero(out.engage_action >= 0)
    log.add(len(e), **{k: (v[e] if isinstance(v, np.ndarray) else v) for k, v in base.items()},
            action=out.engage_action[e], time=t_click[e] + 5000)
    f = np.flatnonzero(out.followed)
    log.add(len(f), user=rows.user[f], target=rows.author[f], target_type=TARGET_ACCOUNT, slot=slot,
            request=request[f], action=ACTION["follow"], time=t_click[f] + 8000)
    _purchases(world, rows, out, t_click, slot, request, log)
    _unfollows(world, rows, pr, t_imp, slot, request, log)
    world.graph_additions.append((rows.user[f], rows.author[f], t_click[f] + 8000))
    world.pending.add(_revisits(world, rows, out, t_click))
    return out, pr


def _product_of(world: World, rows: Rows) -> np.ndarray:
    if rows.is_product:
        return rows.item
    off = world.pop.posts.product_offsets
    first = off[rows.item]
    has = off[rows.item + 1] > first
    return np.where(has, world.pop.posts.product_ids[np.minimum(first, len(world.pop.posts.product_ids) - 1)], -1)


def basket_amount(world: World, product: np.ndarray, fan: np.ndarray) -> np.ndarray:
    """Order value: fans buy bigger baskets (handbook: order value ≈ 2.7× non-fans)."""
    extra = world.rng.poisson(world.params.fan_basket_mean - 1.0, len(product))
    return world.pop.products.price[product] * (1 + np.where(fan, extra, 0))


def _purchases(world: World, rows: Rows, out: Outcome, t_click: np.ndarray, slot: int, request: np.ndarray,
               log: EventBatch) -> None:
    product = _product_of(world, rows)
    c = np.flatnonzero(out.carted & (product >= 0))
    b = np.flatnonzero(out.bought & (product >= 0))
    log.add(len(c), user=rows.user[c], target=product[c], target_type=TARGET_PRODUCT, slot=slot,
            request=request[c], action=ACTION["cart"], time=t_click[c] + 20_000)
    amount = basket_amount(world, product[b], rows.is_fan[b])
    log.add(len(b), user=rows.user[b], target=product[b], target_type=TARGET_PRODUCT, slot=slot,
            request=request[b], action=ACTION["purchase"], time=t_click[b] + 120_000, amount=amount)
    world.pending.add(schedule_repeats(world, rows.user[b], product[b], rows.is_fan[b], t_click[b] + 120_000))


def _revisits(world: World, rows: Rows, out: Outcome, t_click: np.ndarray) -> Events:
    """Users who clicked come back to the account later; fans 2.5× as often (handbook, 30-day revisit)."""
    p = world.params
    rate = np.where(rows.is_fan, p.revisit_fan, p.revisit_fan / p.revisit_ratio)
    back = out.clicked & (pair_uniform(rows.user, rows.author, 23) < rate)
    delay = world.rng.exponential(p.revisit_mean_days * DAY_MS, int(back.sum())).astype(np.int64)
    return Events.make(int(back.sum()), user=rows.user[back], target=rows.author[back], target_type=TARGET_ACCOUNT,
                       slot=SLOT["other"], action=ACTION["click"], time=t_click[back] + delay)


def schedule_repeats(world: World, user: np.ndarray, product: np.ndarray, fan: np.ndarray, t: np.ndarray) -> Events:
    """Buyers who buy again from the same shop; fans +37 % (handbook, 2+ orders)."""
    p = world.params
    shop = world.pop.products.shop[product]
    rate = np.where(fan, p.repeat_fan, p.repeat_fan / p.repeat_lift)
    again = pair_uniform(user, shop, 37) < rate
    delay = world.rng.exponential(p.repeat_mean_days * DAY_MS, int(again.sum())).astype(np.int64)
    amount = basket_amount(world, product[again], fan[again])
    return Events.make(int(again.sum()), user=user[again], target=product[again], target_type=TARGET_PRODUCT,
                       slot=SLOT["other"], action=ACTION["purchase"], time=t[again] + delay, amount=amount)


def _unfollows(world: World, rows: Rows, pr: Probs, t_imp: np.ndarray, slot: int, request: np.ndarray,
               log: EventBatch) -> None:
    """Fans shown poor posts sometimes unfollow the account."""
    p = world.params
    prob = 1.0 / (1.0 + np.exp(-(p.unfollow_base - 0.8 * pr.term)))
    gone = np.flatnonzero(rows.is_fan & (world.rng.random(len(prob)) < prob))
    t = t_imp[gone] + 3000
    world.graph_removals.append((rows.user[gone], rows.author[gone], t))
    log.add(len(gone), user=rows.user[gone], target=rows.author[gone], target_type=TARGET_ACCOUNT, slot=slot,
            request=request[gone], action=ACTION["unfollow"], time=t)
