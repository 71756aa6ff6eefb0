"""Re-run the amplification gate over a logged day with other settings, against what was logged.

The gate (:func:`ranking.gate.decide.decide`) re-decides every post hourly from counters of the events
before the pass: fan impressions and quality views (a read of at least 12 s, as the closed-loop gate counts),
non-fan impressions and quality views by the level the replayed gate holds the post at (impressions the log
shows a non-fan while the replay keeps the post private count as probe views: that is what the log's
exposure was), account baselines, one public baseline, and lockstep shares. It starts the day from the
logged levels (the gate log's last level before the day; without a gate log, public if the hotlist showed
the post in the two hours before). The appeal posterior and the amplifier model are not rebuilt: the gate
falls back to its Wilson bounds, so the replay with the logged settings is reported next to the logged
decisions as the measure of how faithful the reconstruction is.

Limitation: a post the logged policy never showed to non-fans has no non-fan views in the log, so no
setting can take it past the probe within the replay; those posts show as probed, not amplified.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from experiments.replay.data import HOUR_MS, PointInTime, ReplayInputError, Tables, to_ms
from features.contract import ENUMS
from ranking.gate.decide import decide
from ranking.gate.explain import explain, level_name
from ranking.gate.lockstep import LockstepDetector
from ranking.gate.reasons import Reason
from ranking.gate.settings import GateSettings
from ranking.gate.signals import POOL1, PROBE, GateState, PostSignals

QUALITY_DWELL_S = 12.0
PRIOR_IMPRESSIONS = 200.0
LOOKBACK_MS = 72 * HOUR_MS  # older posts are past any max_age_hours the settings allow in practice
LOCKSTEP_ACTIONS = ("click", "like", "comment", "share")


@dataclass
class GateDay:
    """The day's candidate posts (index = position in these arrays) and their events up to the day's end."""

    post_id: np.ndarray
    static: dict[str, np.ndarray]  # account, kind, tier, state, preferred, account_created_ms, created_ms
    ev: pd.DataFrame  # idx, time_ms, user_id, fan, imp, eng, lock
    lo: int
    hi: int


def gate_day(tables: Tables, pit: PointInTime, lo: int, hi: int) -> GateDay:
    """Posts published in the 72 hours before the day or during it, with their events before the day's end."""
    po = tables.posts[(tables.posts["created_ms"] >= lo - LOOKBACK_MS) & (tables.posts["created_ms"] < hi)]
    acc = tables.accounts.set_index("account_id").reindex(po["account_id"].to_numpy())
    code = {e: {v: i for i, v in enumerate(ENUMS[e])} for e in ("account_kind", "tier", "tier_state")}
    static = {"account": po["account_id"].to_numpy(np.int64),
              "kind": acc["kind"].map(code["account_kind"]).fillna(-1).to_numpy(np.int64),
              "tier": acc["tier"].map(code["tier"]).fillna(-1).to_numpy(np.int64),
              "state": acc["tier_state"].astype(str).map(code["tier_state"]).fillna(-1).to_numpy(np.int64),
              "preferred": acc["preferred_shop"].fillna(False).to_numpy(bool),
              "account_created_ms": to_ms(acc["created_at"]), "created_ms": po["created_ms"].to_numpy(np.int64)}
    index = pd.Series(np.arange(len(po)), index=po["post_id"].to_numpy())
    ev = tables.events
    ev = ev[(ev["target_type"] == "post") & ev["target_id"].isin(index.index) & (ev["time_ms"] < hi)]
    idx = index.reindex(ev["target_id"].to_numpy()).to_numpy(np.int64)
    t = ev["time_ms"].to_numpy(np.int64)
    fan = pit.is_fan(ev["user_id"].to_numpy(), static["account"][idx], t)
    dwell = ev["dwell_seconds"].astype(float).fillna(0).to_numpy()
    frame = pd.DataFrame({"idx": idx, "time_ms": t, "user_id": ev["user_id"].to_numpy(np.int64), "fan": fan,
                          "imp": (ev["action"] == "impression").to_numpy(),
                          "eng": ((ev["action"] == "dwell").to_numpy() & (dwell >= QUALITY_DWELL_S)),
                          "lock": ev["action"].isin(LOCKSTEP_ACTIONS).to_numpy()})
    return GateDay(po["post_id"].to_numpy(np.int64), static, frame, lo, hi)


class _Counters:
    """Fan and per-level non-fan counters of the day's posts, filled hour by hour."""

    def __init__(self, n: int) -> None:
        self.fan_imp, self.fan_eng = np.zeros(n), np.zeros(n)
        self.level_imp, self.level_eng = np.zeros((n, 5)), np.zeros((n, 5))

    def add(self, ev: pd.DataFrame, level: np.ndarray) -> None:
        n = len(self.fan_imp)
        idx, fan, imp, eng = (ev[c].to_numpy() for c in ("idx", "fan", "imp", "eng"))
        self.fan_imp += np.bincount(idx[imp & fan], minlength=n)
        self.fan_eng += np.bincount(idx[eng & fan], minlength=n)
        at = np.maximum(level[idx], PROBE)  # non-fans saw it: a probe view at least
        np.add.at(self.level_imp, (idx[imp & ~fan], at[imp & ~fan]), 1)
        np.add.at(self.level_eng, (idx[eng & ~fan], at[eng & ~fan]), 1)


def signals(day: GateDay, c: _Counters, lockstep: np.ndarray) -> PostSignals:
    """The gate's inputs from the counters: account fan baselines and one public baseline, shrunk."""
    s = day.static
    keys, inv = np.unique(s["account"], return_inverse=True)
    acc_imp = np.bincount(inv, weights=c.fan_imp, minlength=len(keys))
    acc_eng = np.bincount(inv, weights=c.fan_eng, minlength=len(keys))
    overall = (c.fan_eng.sum() + 1) / (c.fan_imp.sum() + 10)
    fan_base = (acc_eng[inv] + PRIOR_IMPRESSIONS * overall) / (acc_imp[inv] + PRIOR_IMPRESSIONS)
    pub = (c.level_eng[:, 1:].sum() + 1) / (c.level_imp[:, 1:].sum() + 10)
    n = len(day.post_id)
    return PostSignals(day.post_id, s["account"], s["kind"], s["tier"], s["state"], s["preferred"],
                       s["account_created_ms"], s["created_ms"], c.fan_imp.copy(), c.fan_eng.copy(), fan_base,
                       c.level_imp.copy(), c.level_eng.copy(), np.full(n, pub), lockstep, np.full(n, np.nan))


def lockstep_by_hour(day: GateDay, settings: GateSettings) -> list[np.ndarray]:
    """Lockstep shares before each hourly pass of the day (events before the pass only)."""
    det = LockstepDetector(int(settings.lockstep_window_s * 1000), settings.lockstep_min_posts)
    lock = day.ev[day.ev["lock"]]
    out, start = [], -np.inf
    for t in range(day.lo + HOUR_MS, day.hi + 1, HOUR_MS):
        part = lock[(lock["time_ms"] >= start) & (lock["time_ms"] < t)]
        det.add(part["user_id"].to_numpy(), part["idx"].to_numpy(), part["time_ms"].to_numpy())
        out.append(det.shares(len(day.post_id)))
        start = t
    return out


@dataclass
class GateRun:
    """One replay of the gate: highest level reached during the day, and the last decision's explanation."""

    peak: np.ndarray
    level: np.ndarray
    reason: np.ndarray
    text: list[str]


def run_gate(day: GateDay, settings: GateSettings, start_level: np.ndarray, lockstep: list[np.ndarray]) -> GateRun:
    """Hourly passes over the day from ``start_level``; each pass sees only events before it."""
    n = len(day.post_id)
    state = GateState.empty(n)
    state.level = start_level.astype(np.int8).copy()
    state.peak_level = state.level.copy()
    c = _Counters(n)
    before = day.ev[day.ev["time_ms"] < day.lo]
    state.probed = start_level > 0
    state.probed[np.unique(before["idx"][~before["fan"] & before["imp"]].to_numpy())] = True
    c.add(before, state.level)
    decisions = []
    for i, t in enumerate(range(day.lo + HOUR_MS, day.hi + 1, HOUR_MS)):
        c.add(day.ev[(day.ev["time_ms"] >= t - HOUR_MS) & (day.ev["time_ms"] < t)], state.level)
        decisions.append(decide(state, signals(day, c, lockstep[i]), t, settings))
    levels = np.stack([d.level for d in decisions])
    reasons = np.stack([d.reason for d in decisions])
    peak = levels.max(axis=0)
    # The pass that explains a post: where it first reached its peak if it went public, else its last pass
    # before it aged out of the window (the age rule says nothing about the post's merit).
    reached = np.argmax(levels == peak, axis=0)
    live = np.where(reasons != Reason.TOO_OLD, np.arange(len(decisions))[:, None], 0).max(axis=0)
    at = np.where(peak >= POOL1, reached, live)
    text = [explain(int(reasons[a, j]), int(levels[a, j]),
                    {**{k: v[j] for k, v in decisions[a].numbers.items()}, "lockstep": lockstep[a][j]}, settings)
            for j, a in enumerate(at)]
    return GateRun(peak, levels[-1].copy(), reasons[-1].copy(), text)


def logged_levels(day: GateDay, tables: Tables, gate_log: Path | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Level at the day's start and whether each post was public during the day, as logged; and the source."""
    n = len(day.post_id)
    if gate_log is not None:
        files = sorted(gate_log.glob("*.parquet")) if gate_log.is_dir() else [gate_log]
        if not files or not all(f.is_file() for f in files):
            raise ReplayInputError(f"--gate-log: no gate log (*.parquet) at {gate_log}")
        log = pd.concat([pq.read_table(f).to_pandas() for f in files]).sort_values("at_ms", kind="stable")
        log = log[log["post_id"].isin(day.post_id)]
        index = pd.Series(np.arange(n), index=day.post_id)
        start = np.zeros(n, np.int8)
        last = log[log["at_ms"] < day.lo].groupby("post_id")["level"].last()
        start[index.reindex(last.index).to_numpy()] = last.to_numpy()
        during = log[(log["at_ms"] >= day.lo) & (log["at_ms"] < day.hi) & (log["level"] >= POOL1)]["post_id"]
        public = (start >= POOL1) | np.isin(day.post_id, during.to_numpy())
        return start, public, "gate log"
    ev = tables.events
    hot = ev[(ev["slot"] == "hotlist") & (ev["action"] == "impression") & (ev["target_type"] == "post")]
    official = day.static["kind"] == 2
    recent = hot[(hot["time_ms"] >= day.lo - 2 * HOUR_MS) & (hot["time_ms"] < day.lo)]["target_id"]
    start = np.where(np.isin(day.post_id, recent.to_numpy()) & ~official, POOL1, 0).astype(np.int8)
    shown = hot[(hot["time_ms"] >= day.lo) & (hot["time_ms"] < day.hi)]["target_id"]
    return start, np.isin(day.post_id, shown.to_numpy()) & ~official, "hotlist impressions"


def amplification(tables: Tables, pit: PointInTime, lo: int, hi: int, logged_settings: GateSettings,
                  new_settings: GateSettings, gate_log: Path | None = None) -> dict[str, object]:
    """Posts the gate with ``new_settings`` would have amplified (or not) against the logged decisions.

    Each listed post says whether the replay with the logged settings agrees with the log (if it does not,
    the difference comes from the reconstruction, not from the new settings) and why the new gate decided so.
    """
    day = gate_day(tables, pit, lo, hi)
    start, logged, source = logged_levels(day, tables, gate_log)
    base = run_gate(day, logged_settings, start, lockstep_by_hour(day, logged_settings))
    new = run_gate(day, new_settings, start, lockstep_by_hour(day, new_settings))
    base_amp, new_amp = base.peak >= POOL1, new.peak >= POOL1
    rows = []
    for j in np.flatnonzero(new_amp != logged):
        rows.append({"post_id": int(day.post_id[j]), "account_id": int(day.static["account"][j]),
                     "account_kind": _name("account_kind", day.static["kind"][j]),
                     "tier": _name("tier", day.static["tier"][j]), "logged": bool(logged[j]),
                     "with_logged_settings": bool(base_amp[j]), "new": bool(new_amp[j]),
                     "new_peak_level": level_name(int(new.peak[j]), new_settings.pools),
                     "settings_effect": bool(new_amp[j] != base_amp[j]),
                     "reason": new.text[j], "reason_with_logged_settings": base.text[j]})
    return {"source": source, "posts": len(day.post_id), "logged_amplified": int(logged.sum()),
            "amplified_with_logged_settings": int(base_amp.sum()), "amplified_with_new_settings": int(new_amp.sum()),
            "agreement_logged_settings_vs_log": float(np.mean(base_amp == logged)) if len(logged) else float("nan"),
            "would_be_amplified": [r for r in rows if r["new"]],
            "would_not_be_amplified": [r for r in rows if not r["new"]]}


def _name(enum: str, code: int) -> str:
    return ENUMS[enum][code] if 0 <= code < len(ENUMS[enum]) else "unknown"
