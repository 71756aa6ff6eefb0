"""What a closed-loop run keeps beyond its averages, so that reports can bootstrap intervals and draw curves.

A :class:`Probe` wraps the policy inside the twin world. It changes nothing the world sees (same scores,
no draws from the world's generator); it notes which user each measured session belonged to and keeps a
bounded random sample of shown rows with their scores (and the model's head probabilities when a
:class:`HeadTap` is given). After the run, :func:`finish` turns that into a :class:`LoopDetail`: per-user
sums of the session figures, shown rows joined to their observed clicks and engagements, exposure per
account, the amplification funnel, coverage and the new-creator share of exposure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from experiments.world.candidates import top_pages
from experiments.world.events import ACTION, SLOT, TARGET_POST, Events
from experiments.world.params import DAY_MS
from experiments.world.policy import AmplifyBatch, Batch, Observation, Policy

if TYPE_CHECKING:
    from experiments.world.engine import World

MAX_LEVEL = 4  # the world's top pool (experiments.world.engine.MAX_LEVEL)
FUNNEL_STAGES = ("published", "probe", "public (pool 1)", "pool 2", "pool 3")  # the gate's default uses pool 1 only
ENGAGE_ACTIONS = (ACTION["like"], ACTION["comment"], ACTION["share"])
NEW_CREATOR_MS = 30 * DAY_MS


class HeadTap:
    """A hand-off point for the per-head probabilities of the model's latest ``predict`` call."""

    def __init__(self) -> None:
        self._last: dict[str, np.ndarray] | None = None

    def put(self, heads: dict[str, np.ndarray]) -> None:
        """Called by the model right after it scores a batch."""
        self._last = heads

    def take(self) -> dict[str, np.ndarray] | None:
        """The probabilities of the latest call, once (None when the policy scored without the model)."""
        last, self._last = self._last, None
        return last


@dataclass
class SlotUnits:
    """Per-user sums of one slot's session figures (a user's mean is sum / sessions)."""

    user: np.ndarray
    sessions: np.ndarray
    ndcg: np.ndarray
    utility: np.ndarray
    realised: np.ndarray
    activity: np.ndarray  # the user's actions (not impressions) before the evaluation window


@dataclass
class ShownSample:
    """A random sample of shown rows: the policy's score, model probabilities (NaN if none), outcomes."""

    score: np.ndarray
    p_click: np.ndarray
    p_engage: np.ndarray
    clicked: np.ndarray
    engaged: np.ndarray


@dataclass
class LoopDetail:
    """Everything a report needs from one policy's run on one seed."""

    seed: int
    units: dict[str, SlotUnits] = field(default_factory=dict)
    shown: dict[str, ShownSample] = field(default_factory=dict)
    exposure: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # post impressions per account
    funnel: np.ndarray = field(default_factory=lambda: np.zeros(len(FUNNEL_STAGES), np.int64))
    coverage: float = float("nan")
    new_creator_share: float = float("nan")


@dataclass
class _Rows:
    request: list[np.ndarray] = field(default_factory=list)
    item: list[np.ndarray] = field(default_factory=list)
    score: list[np.ndarray] = field(default_factory=list)
    p_click: list[np.ndarray] = field(default_factory=list)
    p_engage: list[np.ndarray] = field(default_factory=list)


class Probe:
    """A transparent wrapper of ``policy`` in ``world`` that records sessions and samples shown rows.

    ``rng`` only picks the sampled rows; ``max_rows`` bounds rows kept per slot and hour (memory).
    """

    def __init__(self, policy: Policy, world: World, rng: np.random.Generator, *, tap: HeadTap | None = None,
                 max_rows: int = 2000) -> None:
        self.policy, self.world, self.rng, self.tap, self.max_rows = policy, world, rng, tap, max_rows
        self.name = policy.name
        self.session_users: dict[str, list[np.ndarray]] = {}
        self.rows: dict[str, _Rows] = {}

    def score(self, batch: Batch, obs: Observation) -> np.ndarray:
        """The wrapped policy's scores, unchanged."""
        scores = self.policy.score(batch, obs)
        heads = self.tap.take() if self.tap is not None else None
        values = np.asarray(scores, dtype=np.float64)
        if values.shape == (len(batch),) and np.isfinite(values).all() and len(batch):
            self._record(batch, values, heads)  # bad scores are the world's to reject, with its message
        return scores

    def amplify(self, batch: AmplifyBatch, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        """The wrapped policy's amplification, unchanged."""
        return self.policy.amplify(batch, obs)

    def _record(self, batch: Batch, scores: np.ndarray, heads: dict[str, np.ndarray] | None) -> None:
        n_sess = int(batch.session.max()) + 1
        # The world measures sessions that had candidates (their ideal DCG is positive), in session order.
        has = np.bincount(batch.session, minlength=n_sess) > 0
        user_of = np.zeros(n_sess, np.int64)
        user_of[batch.session] = batch.user
        self.session_users.setdefault(batch.slot, []).append(user_of[has])
        shown, _ = top_pages(batch.session, scores, self.world.page_size)
        if len(shown) > self.max_rows:
            shown = np.sort(self.rng.choice(shown, self.max_rows, replace=False))
        rows = self.rows.setdefault(batch.slot, _Rows())
        rows.request.append(self.world.next_request + batch.session[shown])
        rows.item.append(batch.item[shown])
        rows.score.append(scores[shown])
        for name, out in (("click", rows.p_click), ("engage", rows.p_engage)):
            p = heads.get(name) if heads is not None else None
            ok = p is not None and len(p) == len(batch)
            out.append(np.asarray(p, np.float64)[shown] if ok else np.full(len(shown), np.nan))


def past_actions(world: World) -> np.ndarray:
    """Actions (not impressions) of every user in the log inherited before the branch."""
    n = len(world.pop.users.activity)
    total = np.zeros(n, np.int64)
    for part in world.inherited:
        acted = part.action != ACTION["impression"]
        total += np.bincount(part.user[acted], minlength=n)[:n]
    return total


def _units(probe: Probe, world: World, activity: np.ndarray) -> dict[str, SlotUnits]:
    out = {}
    for slot, m in (world.metrics or {}).items():
        if not m.ndcg:
            continue
        users = np.concatenate(probe.session_users.get(slot, [np.zeros(0, np.int64)]))
        nd, ut, re = (np.concatenate(x) for x in (m.ndcg, m.utility, m.realised))
        if len(users) != len(nd):
            raise RuntimeError(f"probe of {probe.name!r} saw {len(users)} {slot} sessions, the world measured "
                               f"{len(nd)}: the world's session measurement changed")
        uniq, inv = np.unique(users, return_inverse=True)
        k = len(uniq)
        out[slot] = SlotUnits(uniq, np.bincount(inv, minlength=k), np.bincount(inv, nd, k),
                              np.bincount(inv, ut, k), np.bincount(inv, re, k), activity[uniq])
    return out


def _shown(probe: Probe, ev: Events) -> dict[str, ShownSample]:
    out = {}
    for slot, rows in probe.rows.items():
        request, item = np.concatenate(rows.request), np.concatenate(rows.item)
        base = int(max(item.max(initial=0), ev.target.max(initial=0))) + 1
        keys = request * base + item
        in_slot = ev.slot == SLOT[slot]
        clicks = in_slot & (ev.action == ACTION["click"])
        engages = in_slot & np.isin(ev.action, ENGAGE_ACTIONS)
        out[slot] = ShownSample(
            np.concatenate(rows.score), np.concatenate(rows.p_click), np.concatenate(rows.p_engage),
            np.isin(keys, ev.request[clicks] * base + ev.target[clicks]),
            np.isin(keys, ev.request[engages] * base + ev.target[engages]))
    return out


def _funnel(world: World, window_start_ms: int) -> np.ndarray:
    """Posts published privately in the window that reached each level (0 private … MAX_LEVEL top pool)."""
    posts = world.pop.posts
    in_window = ~posts.public & (posts.created_ms >= window_start_ms)
    top = world.level.astype(np.int64).copy()
    for post, _, new, _ in world.amplifications:
        np.maximum.at(top, post, new.astype(np.int64))
    reached = top[in_window]
    return np.array([np.sum(reached >= level) for level in range(MAX_LEVEL + 1)], np.int64)


def finish(probe: Probe, world: World, window_start_ms: int, activity: np.ndarray, seed: int) -> LoopDetail:
    """The detail of a finished run of ``probe``'s policy in ``world``."""
    pop = world.pop
    posts = pop.posts
    ev = Events.concat(world.parts)
    imp = (ev.action == ACTION["impression"]) & (ev.target_type == TARGET_POST)
    shown_posts = ev.target[imp]
    author = posts.account[shown_posts]
    is_new = (posts.created_ms[shown_posts] - pop.accounts.created_ms[author]) < NEW_CREATOR_MS
    window_posts = np.flatnonzero(posts.created_ms >= window_start_ms)
    coverage = float(np.isin(window_posts, shown_posts).mean()) if len(window_posts) else float("nan")
    return LoopDetail(
        seed, _units(probe, world, activity), _shown(probe, ev),
        np.bincount(author, minlength=len(pop.accounts.kind)), _funnel(world, window_start_ms), coverage,
        float(is_new.mean()) if len(is_new) else float("nan"))

