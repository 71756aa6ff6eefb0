"""The amplification gate, live in the service: it decides which fans-only posts the hotlist shows.

Every accepted event batch is counted per post and audience: fans, and non-fans at the level the post held
when they saw it (probe, then each public pool). On a fixed grid of the service clock
(``serving.gate_interval_s``) :meth:`LiveGate.run` re-decides every live fans-only post with
:func:`ranking.gate.decide.decide` — the same gate the closed-loop evaluation scores against the hidden
truth — and the hotlist board is rebuilt from its levels: official picks, the posts that were on the
hotlist when the data ends, and every post the gate holds at the probe or above (board weight = its level).

Signals here are the gate's Wilson-bound path: fan and non-fan engagement (clicks, likes, comments, shares
per impression) against the account's own fan rate and the public rate of the post's kind × format ×
category, and the lockstep share of its engagers. Each change of level or reason is kept in a
:class:`ranking.gate.log.GateLog` (with its figures, for ``weitao explain``) and the last
:data:`RECENT` transitions for the operator view.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.columns import EventArrays
from features.contract import code, enum_codes
from features.ids import IdIndex
from ranking.gate.decide import decide
from ranking.gate.explain import LOGGED_NUMBERS, explain, level_name
from ranking.gate.lockstep import LockstepDetector
from ranking.gate.log import GateLog
from ranking.gate.settings import GateSettings
from ranking.gate.signals import HOUR_MS, NEVER, POOL1, PROBE, GateState, PostSignals
from ranking.hotlist import BoardState

RECENT = 500
PRIOR_IMPRESSIONS = 200.0
ENGAGE = np.array([code("action", a) for a in ("click", "like", "comment", "share")], np.int8)
IMPRESSION = code("action", "impression")


class FanCheck(Protocol):
    """``is_fan(users, accounts, at_ms)``: True where ``users[i]`` followed ``accounts[i]`` at ``at_ms[i]``."""

    def __call__(self, users: np.ndarray, accounts: np.ndarray, at_ms: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class PostFacts:
    """What does not change about each post (index = row of the posts table)."""

    post_id: np.ndarray
    account_id: np.ndarray
    account: np.ndarray  # dense account index
    kind: np.ndarray
    tier: np.ndarray
    tier_state: np.ndarray
    preferred: np.ndarray
    account_created_ms: np.ndarray
    created_ms: np.ndarray
    private: np.ndarray
    cell: np.ndarray  # kind × format × category: the public baseline's cell
    reward: np.ndarray | None = None  # the author's traffic-reward multiplier (last monthly assessment)
    offsite: np.ndarray | None = None  # the author's off-site share of page visits (same assessment)

    @classmethod
    def from_tables(cls, posts: pa.Table, accounts: pa.Table) -> PostFacts:
        acct_ids = accounts.column("account_id").to_numpy()
        owner = posts.column("account_id").to_numpy()
        found = rows_of(acct_ids, owner)
        known = found >= 0  # an author the accounts table lacks has unknown tier: fails closed
        row = np.maximum(found, 0)

        def per_post(values: np.ndarray, missing: Any) -> np.ndarray:
            return np.where(known, values[row], missing)

        ms = pc.cast(accounts.column("created_at"), pa.int64()).to_numpy()
        category = np.minimum(accounts.column("category").to_numpy(), 63)
        kind = enum_codes(posts.column("kind"), "post_kind").astype(np.int64)
        fmt = enum_codes(posts.column("format"), "post_format").astype(np.int64)
        return cls(posts.column("post_id").to_numpy(), owner, np.where(known, row, len(acct_ids)),
                   per_post(enum_codes(accounts.column("kind"), "account_kind"), -1),
                   per_post(enum_codes(accounts.column("tier"), "tier"), -1),
                   per_post(enum_codes(accounts.column("tier_state"), "tier_state"), -1),
                   per_post(accounts.column("preferred_shop").to_numpy(zero_copy_only=False), False),
                   per_post(ms, 0), pc.cast(posts.column("created_at"), pa.int64()).to_numpy(),
                   enum_codes(posts.column("visibility"), "visibility") == code("visibility", "private"),
                   (np.maximum(kind, 0) * 4 + np.maximum(fmt, 0)) * 64 + per_post(category, 0))

    def with_budget(self, assessment: pa.Table | None) -> PostFacts:
        """These facts with each author's reward multiplier and off-site share from a tier assessment (the
        gate's budget inputs); authors it does not list get NaN (no effect)."""
        if assessment is None:
            return self
        found = rows_of(assessment.column("account_id").to_numpy(), self.account_id)
        known, row = found >= 0, np.maximum(found, 0)

        def column(name: str) -> np.ndarray:
            values = np.asarray(assessment.column(name).to_numpy(zero_copy_only=False), np.float64)
            return np.where(known, values[row], np.nan)

        return replace(self, reward=column("reward_multiplier"), offsite=column("offsite_share"))

    def rows(self, post_ids: np.ndarray) -> np.ndarray:
        """Row of each post id, -1 where unknown."""
        return self._ids.rows(post_ids)

    @cached_property
    def _ids(self) -> IdIndex:
        return IdIndex(self.post_id)


def rows_of(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Row of each ``wanted`` id in the unsorted ``ids``, -1 where it is absent."""
    return IdIndex(ids).rows(wanted)


class LiveGate:
    """Counters, gate state and decision log of every post; thread-safe (one lock)."""

    def __init__(self, facts: PostFacts, is_fan: FanCheck, settings: GateSettings) -> None:
        """``is_fan(users, accounts, at_ms)`` answers from the live follow state."""
        self.facts, self.is_fan, self.settings = facts, is_fan, settings
        n = len(facts.post_id)
        # Counts of every post, held as int32 (exact, half of float64's memory at catalogue scale); the signals
        # of a pass are float64 copies of the live rows only.
        self.fan_imp, self.fan_eng = np.zeros(n, np.int32), np.zeros(n, np.int32)
        self.level_imp, self.level_eng = np.zeros((n, 5), np.int32), np.zeros((n, 5), np.int32)
        self.state = GateState.empty(n)
        self.reason = np.full(n, -1, np.int16)
        # The figures of each fans-only post's last decision (public posts are never decided): a row per
        # fans-only post, half the memory of a row per post on a catalogue of both.
        self._number_row = np.full(n, -1, np.int32)
        private = np.flatnonzero(facts.private)
        self._number_row[private] = np.arange(len(private), dtype=np.int32)
        self.numbers: dict[str, np.ndarray] = {k: np.full(len(private), np.nan) for k in LOGGED_NUMBERS}
        self.lockstep = LockstepDetector(int(settings.lockstep_window_s * 1000), settings.lockstep_min_posts)
        self.lockstep_peak = np.zeros(n)
        self._engaged: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # engagements since the last pass
        self.log = GateLog()
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.last_pass_ms: int | None = None
        self._lock = threading.Lock()

    def seed(self, history: EventArrays, public_now: np.ndarray, weight: np.ndarray) -> None:
        """Start from the data: fans-only posts on the hotlist at its end are public, then count the history.

        The heaviest (``weight``: their reach on the board) take the top level up to its capacity; the rest
        start in the probe, to earn their place again with what non-fans do next.
        """
        rows = self.facts.rows(np.asarray(public_now, np.int64))
        keep = (rows >= 0) & self.facts.private[np.maximum(rows, 0)]
        rows, weight = rows[keep], np.asarray(weight, np.float64)[keep]
        top = POOL1 + self.settings.pools - 1
        order = rows[np.argsort(-weight, kind="stable")]
        capacity = int(self.settings.pool_capacity[top - POOL1])
        for level, chosen in ((top, order[:capacity]), (PROBE, order[capacity:])):
            self.state.level[chosen] = level
            self.state.peak_level[chosen] = level
        self.state.probed[order] = True
        self.state.first_public_ms[order] = self.facts.created_ms[order]  # all were public when the data ends
        self.add(history)

    def add(self, ev: EventArrays) -> None:
        """Count a batch of accepted events (non-fan views at the level each post holds now)."""
        m = ev.ttype == code("target_type", "post")
        rows = self.facts.rows(ev.target[m])
        ok = rows >= 0
        rows, user, action, t = rows[ok], ev.user[m][ok], ev.action[m][ok], ev.time[m][ok]
        if not len(rows):
            return
        with self._lock:
            fan = self.is_fan(user, self.facts.account_id[rows], t)
            imp, eng = action == IMPRESSION, np.isin(action, ENGAGE)
            n = len(self.fan_imp)
            self.fan_imp += np.bincount(rows[imp & fan], minlength=n)
            self.fan_eng += np.bincount(rows[eng & fan], minlength=n)
            level = np.clip(self.state.level[rows], PROBE, 4)  # a non-fan only sees a post the gate exposed
            np.add.at(self.level_imp, (rows[imp & ~fan], level[imp & ~fan]), 1)
            np.add.at(self.level_eng, (rows[eng & ~fan], level[eng & ~fan]), 1)
            self._engaged.append((user[eng], rows[eng], t[eng]))  # the detector runs once per pass

    def due(self, now_ms: int, interval_ms: int) -> int | None:
        """The grid time of a pass due at ``now_ms``, else None. Passes fall on one grid of the service clock in
        every worker, so workers that saw the same events make the same decisions."""
        grid = now_ms - now_ms % max(interval_ms, 1)
        return grid if self.last_pass_ms is None or grid > self.last_pass_ms else None

    def run(self, now_ms: int) -> int:
        """Re-decide every live fans-only post at ``now_ms``; returns how many changed level."""
        f, s = self.facts, self.settings
        with self._lock:
            live = np.flatnonzero(f.private & (f.created_ms <= now_ms)
                                  & ((now_ms - f.created_ms <= s.max_age_hours * HOUR_MS) | (self.state.level > 0)))
            sub = GateState(*(getattr(self.state, name)[live] for name in
                              ("level", "entered_ms", "probed", "first_public_ms", "peak_level")))
            self._lockstep()
            sig = self._signals(live)
            decision = decide(sub, sig, now_ms, s)
            for name in ("level", "entered_ms", "probed", "first_public_ms", "peak_level"):
                getattr(self.state, name)[live] = getattr(sub, name)
            self.reason[live] = decision.reason
            numbers = {**decision.numbers, "lockstep": sig.lockstep, "amplifier": sig.amplifier}
            for name in LOGGED_NUMBERS:
                if name in numbers:
                    self.numbers[name][self._number_row[live]] = numbers[name]
            self.log.add(now_ms, _before(decision), decision, sig)
            self._remember(live, decision, now_ms)
            self.last_pass_ms = now_ms
            return len(decision.moved)

    def _lockstep(self) -> None:
        """Feed the engagements since the last pass to the lockstep detector in one batch (bursts stay whole)."""
        if not self._engaged:
            return
        user, rows, t = (np.concatenate(parts) for parts in zip(*self._engaged, strict=True))
        self._engaged = []
        self.lockstep.add(user, rows, t)
        self.lockstep_peak = np.maximum(self.lockstep_peak, self.lockstep.shares(len(self.lockstep_peak)))

    def _remember(self, live: np.ndarray, decision: Any, now_ms: int) -> None:
        for i, before in zip(decision.moved.tolist(), decision.before.tolist(), strict=True):
            row = int(live[i])
            self.recent.appendleft({"post_id": int(self.facts.post_id[row]), "at_ms": now_ms,
                                    "from": level_name(before, self.settings.pools),
                                    "to": level_name(int(decision.level[i]), self.settings.pools),
                                    "reason": self.why(row)})

    def _signals(self, rows: np.ndarray) -> PostSignals:
        f = self.facts
        n_acc = int(f.account.max(initial=0)) + 1
        acc_imp = np.bincount(f.account, weights=self.fan_imp, minlength=n_acc)
        acc_eng = np.bincount(f.account, weights=self.fan_eng, minlength=n_acc)
        overall = (float(self.fan_eng.sum()) + 1) / (float(self.fan_imp.sum()) + 10)
        acct = f.account[rows]
        fan_base = (acc_eng[acct] + PRIOR_IMPRESSIONS * overall) / (acc_imp[acct] + PRIOR_IMPRESSIONS)
        imp, eng = self.level_imp[:, 1:].sum(1, dtype=np.float64), self.level_eng[:, 1:].sum(1, dtype=np.float64)
        cells = 16 * 64
        cell_imp = np.bincount(f.cell, weights=imp, minlength=cells)
        cell_eng = np.bincount(f.cell, weights=eng, minlength=cells)
        pub_overall = (eng.sum() + 1) / (imp.sum() + 10)
        public = (cell_eng + PRIOR_IMPRESSIONS * pub_overall) / (cell_imp + PRIOR_IMPRESSIONS)
        return PostSignals(f.post_id[rows], acct, f.kind[rows], f.tier[rows], f.tier_state[rows], f.preferred[rows],
                           f.account_created_ms[rows], f.created_ms[rows], self.fan_imp[rows].astype(np.float64),
                           self.fan_eng[rows].astype(np.float64), fan_base, self.level_imp[rows].astype(np.float64),
                           self.level_eng[rows].astype(np.float64), public[f.cell[rows]],
                           self.lockstep_peak[rows], np.full(len(rows), np.nan),
                           reward=None if f.reward is None else f.reward[rows],
                           offsite_share=None if f.offsite is None else f.offsite[rows])

    def why(self, row: int) -> str:
        """The sentence of the post's last decision."""
        reason = int(self.reason[row])
        if reason < 0:
            return "not decided yet"
        return explain(reason, int(self.state.level[row]), self.logged(row), self.settings)

    def logged(self, row: int) -> dict[str, float]:
        """The figures the last decision about the post at ``row`` was made with (NaN where none was made)."""
        j = int(self._number_row[row])
        return {k: float(v[j]) if j >= 0 else float("nan") for k, v in self.numbers.items()}

    def decision(self, post_id: int) -> tuple[int, str] | None:
        """``(reason code, sentence)`` of the gate's last decision about a fans-only post, None if it has not
        decided it (a public post, or one it has not seen live)."""
        row = int(self.facts.rows(np.array([post_id], np.int64))[0])
        if row < 0 or self.reason[row] < 0:
            return None
        return int(self.reason[row]), self.why(row)

    def on_board(self) -> tuple[np.ndarray, np.ndarray]:
        """(post ids, level) of the posts the gate holds at the probe or above."""
        with self._lock:
            rows = np.flatnonzero(self.state.level >= PROBE)
            return self.facts.post_id[rows], self.state.level[rows].astype(np.float64)

    def first_public_ms(self, post_ids: np.ndarray) -> np.ndarray:
        """When each post first reached a public pool (``NEVER`` if it has not, or is unknown)."""
        rows = self.facts.rows(np.asarray(post_ids, np.int64))
        return np.where(rows >= 0, self.state.first_public_ms[np.maximum(rows, 0)], NEVER)


def _before(decision: Any) -> np.ndarray:
    """Every post's level before the pass (the decision lists only the posts that moved)."""
    before = decision.level.copy()
    before[decision.moved] = decision.before
    return before


def latest_assessment(data_dir: Path) -> pa.Table | None:
    """The newest monthly tier assessment under ``data_dir/assessments`` (``weitao tiers assess``), or None."""
    months = sorted((data_dir / "assessments").glob("month=*/*.parquet"))
    return pq.read_table(months[-1], columns=["account_id", "reward_multiplier", "offsite_share"]) if months else None


def start_gate(tables: dict[str, pa.Table], is_fan: FanCheck, history: EventArrays, base: BoardState,
               settings: GateSettings, now_ms: int, assessment: pa.Table | None = None) -> LiveGate:
    """The live gate warmed on the data's events, with its first pass at ``now_ms`` (the data's end); the
    assessment's rewards and off-site shares weigh in the probe budget."""
    facts = PostFacts.from_tables(tables["posts"], tables["accounts"]).with_budget(assessment)
    gate = LiveGate(facts, is_fan, settings)
    gate.seed(history, base.post_ids[~base.official], base.weight[~base.official])
    gate.run(now_ms)
    return gate


def gate_board(base: BoardState, gate: LiveGate) -> BoardState:
    """The hotlist board: ``base``'s official picks and public posts, and the gate's posts at the probe or
    above, weighted by reach (log impressions) times their level's share of the top level."""
    keep = base.official | ~np.isin(base.post_ids, gate.facts.post_id[gate.facts.private])
    ids, level = gate.on_board()
    rows = gate.facts.rows(ids)
    reach = np.log1p(gate.fan_imp[rows] + gate.level_imp[rows].sum(1))
    weight = np.maximum(reach * level / (POOL1 + gate.settings.pools - 1), 1e-3)
    fresh = ~np.isin(ids, base.post_ids[keep])
    return BoardState(np.concatenate([base.post_ids[keep], ids[fresh]]),
                      np.concatenate([base.weight[keep], weight[fresh]]),
                      np.concatenate([base.official[keep], np.zeros(int(fresh.sum()), bool)]))
