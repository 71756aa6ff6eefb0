"""The closed loop: a world that runs a policy hour by hour and returns the events its choices cause."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from experiments.world.candidates import NEVER, FollowGraph, TimeIndex
from experiments.world.events import ACTION, TARGET_POST, TARGET_PRODUCT, EventBatch, Events, Pending
from experiments.world.params import HOUR_MS, HOURLY_CURVE, SESSION_SLOT_SHARE, SESSION_SLOTS, WorldParams
from experiments.world.policy import AmplifyBatch, Catalog, Counters, Observation, Policy
from experiments.world.population import InverseCdf, Population
from experiments.world.serve import SlotMetrics, candidates, choose, measure, reactions
from experiments.world.side import Farms, farm_activity, offsite_visits

MAX_LEVEL = 4
LIVE_MS = 48 * HOUR_MS
# Counter kind of each action code: 0 impression, 1 click, 2 engagement (like, comment, share), 3 dwell.
_KIND_OF_ACTION = np.full(len(ACTION), -1, np.int64)
_KIND_OF_ACTION[[ACTION["impression"], ACTION["click"], ACTION["dwell"]]] = [0, 1, 3]
_KIND_OF_ACTION[[ACTION["like"], ACTION["comment"], ACTION["share"]]] = 2
# Product counter of each action code: 0 impression, 1 click, 2 purchase.
_PRODUCT_KIND = np.full(len(ACTION), -1, np.int64)
_PRODUCT_KIND[[ACTION["impression"], ACTION["click"], ACTION["purchase"]]] = [0, 1, 2]


def _arrays_of(pop: Population) -> list[np.ndarray]:
    """The population's arrays, which no one mutates while a world runs."""
    parts = (pop, pop.users, pop.accounts, pop.posts, pop.products)
    return [v for part in parts for v in vars(part).values() if isinstance(v, np.ndarray)]


def _compact(ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``ids`` (ascending, all below ``n``) and each id's index among them."""
    touched = np.flatnonzero(np.bincount(ids, minlength=n))
    index = np.empty(n, np.int64)
    index[touched] = np.arange(len(touched))
    return touched, index[ids]


@dataclass(frozen=True)
class WorldConfig:
    """Platform rules the world enforces the same way for every policy."""

    page_size: int = 10
    sessions_per_user_day: float = 0.25
    pool_growth: float = 10.0
    capacity_share: float = 0.15  # new public admissions per hour, as a share of posts per hour
    probe_share: float = 1.0  # probe admissions per hour, as a share of posts per hour (the gate budgets its own)


class World:
    """Mutable state of one simulated world; ``branch`` copies it to run another policy from here."""

    def __init__(self, pop: Population, params: WorldParams, config: WorldConfig, rng: np.random.Generator):
        self.pop, self.params, self.config, self.rng = pop, params, config, rng
        self.page_size, self.pool_growth = config.page_size, config.pool_growth
        posts = pop.posts
        self.graph = FollowGraph(pop)
        n_accounts = len(pop.accounts.kind)
        self.post_index = TimeIndex(posts.account, posts.created_ms, n_accounts)
        self.product_index = TimeIndex(pop.products.shop, pop.products.launched_ms, n_accounts)
        self.posts_by_time_order = np.argsort(posts.created_ms, kind="stable")
        self.posts_by_time = posts.created_ms[self.posts_by_time_order]
        self.level = np.where(posts.public, 2, 0).astype(np.int8)
        self.first_public_ms = np.where(posts.public, posts.created_ms, NEVER)
        self.counters = Counters(len(posts.account), len(pop.products.shop))
        self.pending = Pending(pop.start_ms, HOUR_MS)
        farm = pop.users.farm
        self.farms = Farms.of(farm)
        self.farm_members = self.farms.members()
        self.normal_users = np.flatnonzero(farm < 0)
        self.session_cum = np.cumsum(pop.users.activity[self.normal_users])
        self._session_user = InverseCdf(self.session_cum, per_item=1)
        days = (pop.end_ms - pop.start_ms) / (24 * HOUR_MS)
        per_hour = np.sum(posts.created_ms >= pop.start_ms) / max(days * 24, 1)
        self.capacity = max(1, int(round(config.capacity_share * per_hour)))
        self.probe_capacity = max(1, int(round(config.probe_share * per_hour)))
        self.catalog = Catalog.of(pop)
        self.hour, self.next_request = 0, 0
        self.parts: list[Events] = []
        self.inherited: list[Events] = []
        self.graph_additions: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.graph_removals: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.last_events = Events()
        self.metrics: dict[str, SlotMetrics] | None = None
        self.amplifications: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._window: tuple[int, int, np.ndarray] | None = None
        self._tallies: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    @property
    def now_ms(self) -> int:
        return self.pop.start_ms + self.hour * HOUR_MS

    @property
    def hours_total(self) -> int:
        return int((self.pop.end_ms - self.pop.start_ms) // HOUR_MS)

    def posts_between(self, lo_ms: int, hi_ms: int) -> np.ndarray:
        """Ids (ascending) of posts created in [lo_ms, hi_ms): a slice of the posts by time, not a full scan."""
        if self._window is None or self._window[:2] != (lo_ms, hi_ms):
            lo, hi = np.searchsorted(self.posts_by_time, [lo_ms, hi_ms])
            self._window = (lo_ms, hi_ms, np.sort(self.posts_by_time_order[lo:hi]))
        return self._window[2]

    def observation(self) -> Observation:
        return Observation(self.now_ms, self.catalog, self.graph.followers, self.counters, self.level,
                           self.last_events, self.graph.is_fan)

    def branch(self, seed: int) -> World:
        """An independent copy of the current state with a new rng; the population and the events
        logged so far are shared, not copied (the twin starts with an empty log)."""
        pop, parts, amps = self.pop, self.parts, self.amplifications
        self.pop, self.parts, self.amplifications = None, [], []  # type: ignore[assignment]
        try:  # arrays of the population (the graph reads the initial follows in place) are shared too
            twin = copy.deepcopy(self, {id(a): a for a in _arrays_of(pop)})
        finally:
            self.pop, self.parts, self.amplifications = pop, parts, amps
        twin.pop, twin.rng = pop, np.random.default_rng(seed)
        twin.inherited = [*self.inherited, *parts]  # the log before the branch, shared read-only
        return twin

    def run(self, policy: Policy, hours: int, *, explore: float = 0.0,
            on_hour: Callable[[int], None] | None = None) -> None:
        """Run ``policy`` for ``hours`` hours (or until the world ends)."""
        for _ in range(min(hours, self.hours_total - self.hour)):
            self.step(policy, explore)
            if on_hour is not None:
                on_hour(self.hour)

    def step(self, policy: Policy, explore: float = 0.0) -> Events:
        """Advance one hour: serve sessions, let farms and off-site visitors act, then amplify."""
        t0 = self.now_ms
        if self.hour % 24 == 0:
            self._apply_follow_changes(t0)
        log = EventBatch()
        self._serve_sessions(policy, t0, explore, log)
        unserved = [farm_activity(self, t0, t0 + HOUR_MS), offsite_visits(self, t0, self.hour % 24),
                    self.pending.release(self.hour)]
        for part in unserved:
            log.extend(part)
        ev = log.build()
        self.parts.append(ev)
        self.last_events = ev
        self._count(ev, Events.concat(unserved))
        self.hour += 1
        self._amplify(policy)
        return ev

    def _serve_sessions(self, policy: Policy, t0: int, explore: float, log: EventBatch) -> None:
        cfg = self.config
        curve = HOURLY_CURVE[(self.hour % 24 + 8) % 24] / HOURLY_CURVE.mean()
        expected = len(self.normal_users) * cfg.sessions_per_user_day / 24 * curve
        n = self.rng.poisson(expected)
        users = self.normal_users[self._session_user(self.rng.random(n) * self.session_cum[-1])]
        times = t0 + self.rng.integers(0, HOUR_MS - 60_000, n)
        slot_of = self.rng.choice(len(SESSION_SLOTS), n, p=SESSION_SLOT_SHARE)
        obs = self.observation()
        for s, slot in enumerate(SESSION_SLOTS):
            idx = np.flatnonzero(slot_of == s)
            batch = candidates(self, slot, users[idx], t0)
            if not len(batch):
                continue
            scores = np.asarray(policy.score(batch, obs), dtype=np.float64)
            if scores.shape != (len(batch),) or not np.isfinite(scores).all():
                raise ValueError(f"policy {policy.name!r} returned bad scores for slot {slot}")
            shown, pos, prop = choose(self, batch, scores, explore)
            out, _ = reactions(self, batch, shown, pos, prop, times[idx], self.next_request, log)
            self.next_request += len(idx)
            if self.metrics is not None:
                measure(self, batch, shown, pos, out, self.metrics.setdefault(slot, SlotMetrics()))

    def _apply_follow_changes(self, now_ms: int) -> None:
        for pending, apply in ((self.graph_additions, self.graph.add), (self.graph_removals, self.graph.end)):
            if pending:
                apply(*(np.concatenate(cols) for cols in zip(*pending, strict=True)))
        self.graph_additions, self.graph_removals = [], []
        self.graph.rebuild(now_ms)

    def tally(self, post: np.ndarray, fan: np.ndarray, clicked: np.ndarray, engaged: np.ndarray,
              dwell: np.ndarray) -> None:
        """Keep the post events of served pages with their fan flag (known when served) for the counters."""
        c, e = np.flatnonzero(clicked), np.flatnonzero(engaged)
        sizes = [len(post), len(c), len(e), len(c)]
        self._tallies.append((np.concatenate([post, post[c], post[e], post[c]]),
                              np.concatenate([fan, fan[c], fan[e], fan[c]]), np.repeat(np.arange(4), sizes),
                              np.concatenate([np.zeros(sum(sizes[:3]), np.float32), dwell[c].astype(np.float32)])))

    def _post_tallies(self, unserved: Events) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(post, fan, kind, dwell) of this hour's post events; kind 0..3 is impression, click, engage, dwell."""
        posts = np.flatnonzero((unserved.target_type == TARGET_POST) & (_KIND_OF_ACTION[unserved.action] >= 0))
        post, action = unserved.target[posts], unserved.action[posts]
        fan = self.graph.is_fan(unserved.user[posts], self.pop.posts.account[post])
        kind = _KIND_OF_ACTION[action]
        tallies = [*self._tallies, (post, fan, kind, unserved.dwell[posts])]
        self._tallies = []
        return tuple(np.concatenate(cols) for cols in zip(*tallies, strict=True))  # type: ignore[return-value]

    def _count(self, ev: Events, unserved: Events) -> None:
        """Update the observable counters from this hour's events (``unserved``: those not from served pages).

        Events are counted per post touched this hour (thousands) and added to those posts only, rather
        than counting into arrays as long as the catalogue for every counter.
        """
        c = self.counters
        post, fan, kind, dwell = self._post_tallies(unserved)
        touched, slot = _compact(post, len(self.pop.posts.account))
        t = len(touched)
        cell = (2 * kind + ~fan) * t + slot  # FIELDS order: (impression, click, engage, dwell) x (fan, non-fan)
        counted = kind < 3
        counts = np.bincount(cell[counted], minlength=6 * t).reshape(6, t)
        dwelt = np.bincount(cell[~counted] - 6 * t, weights=dwell[~counted], minlength=2 * t).reshape(2, t)
        for name, values in zip(Counters.FIELDS, [*counts, *dwelt], strict=True):
            getattr(c, name)[touched] += values
        prod = np.flatnonzero((ev.target_type == TARGET_PRODUCT) & (_PRODUCT_KIND[ev.action] >= 0))
        kind = _PRODUCT_KIND[ev.action[prod]]
        touched, slot = _compact(ev.target[prod], len(c.product_imp))
        counts = np.bincount(kind * len(touched) + slot, minlength=3 * len(touched)).reshape(3, -1)
        for arr, values in zip((c.product_imp, c.product_click, c.product_buy), counts, strict=True):
            arr[touched] += values

    def _amplify(self, policy: Policy) -> None:
        """Ask the policy where live posts belong; the world enforces capacities."""
        now = self.now_ms
        created = self.pop.posts.created_ms
        live = self.posts_between(now - LIVE_MS, now)
        live = live[~self.pop.posts.public[live]]
        if not len(live):
            return
        cur = self.level[live].astype(np.int64)
        batch = AmplifyBatch(now, live, self.pop.posts.account[live], created[live], cur.copy())
        target, priority = policy.amplify(batch, self.observation())
        target = np.clip(np.asarray(target, dtype=np.int64), 0, MAX_LEVEL)
        new = np.where(target < cur, target, cur)
        new = np.where((cur >= 2) & (target > cur), target, new)
        limits = (((target >= 2) & (cur < 2), self.capacity), ((target == 1) & (cur == 0), self.probe_capacity))
        for want, cap in limits:
            idx = np.flatnonzero(want)
            idx = idx[np.argsort(-np.asarray(priority)[idx], kind="stable")[:cap]]
            new[idx] = target[idx]
        changed = np.flatnonzero(new != cur)
        self.level[live] = new
        became_public = live[(new >= 2) & (self.first_public_ms[live] == NEVER)]
        self.first_public_ms[became_public] = now
        if len(changed):
            self.amplifications.append((live[changed], cur[changed], new[changed], np.full(len(changed), now)))
