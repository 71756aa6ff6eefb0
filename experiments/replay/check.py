"""On the simulated world: the replay's estimate against the new policy really run in closed loop that day.

The world of ``weitao simulate --seed S --scale X`` is rebuilt and run under the logging policy up to the
replayed day (the same draws, so the same state the logged day started from); a twin then serves the new
ranker for that day (amplification stays the logging policy's, as in :mod:`experiments.ope.sim`). Its clicks
per page per slot are the truth. The twin draws its own users' sessions, so the truth carries its own
sampling noise (its standard error is reported) and the feedback of the ranker on the world, which logs
cannot show.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments.ope.sim import RankWith
from experiments.policies import BASELINES, LoggingPolicy, make_baseline
from experiments.replay.data import HOUR_MS, ReplayInputError
from experiments.settings import SimulatorSettings
from experiments.simulate import build_world, run_history
from experiments.world.events import ACTION, SLOT, Events


def slot_truth(ev: Events) -> dict[str, dict[str, float]]:
    """Clicks per page, its standard error over pages, and pages per slot of a run's served pages."""
    out = {}
    for slot in ("follow_feed", "new_arrival", "hotlist"):
        on = (ev.request >= 0) & (ev.slot == SLOT[slot])
        requests = np.unique(ev.request[on & (ev.action == ACTION["impression"])])
        if not len(requests):
            continue
        clicks = ev.request[on & (ev.action == ACTION["click"])]
        per_page = np.bincount(np.searchsorted(requests, clicks[np.isin(clicks, requests)]), minlength=len(requests))
        out[slot] = {"clicks_per_page": float(per_page.mean()), "pages": len(requests),
                     "se": float(per_page.std(ddof=1) / np.sqrt(len(requests))) if len(requests) > 1 else 0.0}
    return out


def closed_loop_check(settings: SimulatorSettings, scale: str, seed: int, day_start_ms: int, policy: str,
                      rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """Truth per slot: the new ranker served for the day from the logged day's starting state."""
    if policy not in BASELINES:
        raise ReplayInputError(f"--policy: the closed-loop check runs the simulator's baselines only "
                               f"({', '.join(BASELINES)}), not {policy!r}")
    world = build_world(settings, scale, np.random.default_rng(seed))
    hours = (day_start_ms - world.pop.start_ms) // HOUR_MS
    if hours < 0 or hours + 24 > world.hours_total:
        raise ReplayInputError(f"--check-seed/--check-scale: the {scale} world of seed {seed} does not contain the "
                               "replayed day (is the data from `weitao simulate` with these values?)")
    run_history(world, settings, hours=int(hours))
    twin = world.branch(seed * 7919 + 2)
    twin.run(RankWith(make_baseline(policy, rng), LoggingPolicy()), 24)
    return slot_truth(Events.concat(twin.parts))


def compare(slots: dict[str, Any], truth: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Estimate − truth per slot (clicks per page), and whether the estimate's interval covers the truth."""
    out: dict[str, Any] = {}
    for slot, t in truth.items():
        if slot not in slots:
            continue
        e = slots[slot]["new"]["clicks_per_page"]
        out[slot] = {"estimate": e["value"], "ci_low": e["ci_low"], "ci_high": e["ci_high"],
                     "estimator": slots[slot]["new"]["estimator"], "truth": t["clicks_per_page"],
                     "truth_se": t["se"], "truth_pages": t["pages"], "error": e["value"] - t["clicks_per_page"],
                     "relative_error": (e["value"] - t["clicks_per_page"]) / t["clicks_per_page"]
                     if t["clicks_per_page"] else float("nan"),
                     "covers": bool(e["ci_low"] <= t["clicks_per_page"] <= e["ci_high"]),
                     "error_by_estimator": _errors(slots[slot]["new"], t["clicks_per_page"])}
    return out


def _errors(new: dict[str, Any], truth: float) -> dict[str, float]:
    """Every estimator's clicks per page minus the truth (the CTR estimates scaled by the page length)."""
    scale = new["clicks_per_page"]["value"] / new["estimates_ctr"][new["estimator"]]["value"] \
        if new["estimates_ctr"][new["estimator"]]["value"] else float("nan")
    return {name: e["value"] * scale - truth for name, e in new["estimates_ctr"].items()}
