"""Closed-loop evaluation: run each policy from the same world state and score it against the truth.

The world is simulated up to the start of the evaluation window with the logging policy; then every
policy gets an identical copy of that state and runs the window hour by hour. Feed figures are nDCG@10
on true utility (oracle = 1) per session; amplification figures follow SIMULATOR.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from experiments.metrics import (
    amplification_precision,
    exposure_gini,
    median_hours_to_amplify,
    new_creator_ratio,
)
from experiments.policies import BASELINES, Oracle, make_baseline
from experiments.reports.probe import HeadTap, LoopDetail, Probe, finish, past_actions
from experiments.settings import SimulatorSettings
from experiments.simulate import build_world, run_history
from experiments.world.candidates import NEVER
from experiments.world.engine import World
from experiments.world.events import ACTION, SLOT, Events
from experiments.world.params import DAY_MS, HOUR_MS
from experiments.world.policy import Policy
from experiments.world.tables import truly_good_threshold

PolicyFactory = Callable[[World, float], Policy]


@dataclass
class LoopResult:
    """Figures of one policy on one seed; ``detail`` keeps per-user values and samples for reports."""

    policy: str
    slots: dict[str, dict[str, float]] = field(default_factory=dict)
    amplification: dict[str, float] = field(default_factory=dict)
    detail: LoopDetail | None = None


def amplification_figures(world: World, window_start_ms: int, threshold: float) -> dict[str, float]:
    """Precision, speed, fairness, reach and abuse of what a policy amplified in the window."""
    pop = world.pop
    posts = pop.posts
    in_window = np.flatnonzero(~posts.public & (posts.created_ms >= window_start_ms))
    public_ms = world.first_public_ms[in_window]
    amplified = in_window[public_ms != NEVER]
    good = in_window[posts.appeal[in_window] >= threshold]
    created_h = posts.created_ms[good] / HOUR_MS
    public_h = np.where(world.first_public_ms[good] == NEVER, np.nan, world.first_public_ms[good] / HOUR_MS)
    author_created = pop.accounts.created_ms[posts.account]
    is_new = (posts.created_ms - author_created) < 30 * DAY_MS
    ev = Events.concat(world.parts)
    hot = ev.slot == SLOT["hotlist"]
    imp = hot & (ev.action == ACTION["impression"])
    follows = hot & (ev.action == ACTION["follow"])
    exposure = np.bincount(posts.account[ev.target[imp]], minlength=len(pop.accounts.kind))
    return {
        "amplified": float(len(amplified)),
        "truly_good": float(len(good)),
        "precision": amplification_precision(amplified, good) if len(amplified) else 0.0,
        "median_hours_to_amplify": median_hours_to_amplify(created_h, public_h),
        "new_creator_ratio": new_creator_ratio(is_new[amplified], is_new[good]),
        "exposure_gini": exposure_gini(exposure),
        "follows_per_1k": float(1000 * follows.sum() / max(imp.sum(), 1)),
        "farm_posts_amplified": float(np.sum(pop.accounts.farm[posts.account[amplified]] >= 0)),
    }


def oracle_factory(world: World, threshold: float) -> Policy:
    """The oracle policy: ranks and amplifies from the world's hidden truth (the reference of nDCG = 1)."""
    return Oracle(world, threshold)


def baseline_factory(name: str, seed: int) -> PolicyFactory:
    """A factory of baseline ``name``: each policy it makes gets a fresh generator seeded with ``seed``."""
    return lambda world, threshold: make_baseline(name, np.random.default_rng(seed))


@dataclass
class Prepared:
    """A world simulated up to the start of the evaluation window, shared by every policy."""

    world: World
    threshold: float
    window_start_ms: int
    eval_days: int
    seed: int
    activity: np.ndarray | None = None  # past actions per user, computed once on first use


def prepare_world(settings: SimulatorSettings, scale: str, seed: int, eval_days: int) -> Prepared:
    """Simulate history under the logging policy up to the evaluation window."""
    world = build_world(settings, scale, np.random.default_rng(seed))
    history_hours = world.hours_total - eval_days * 24
    if history_hours <= 0:
        raise ValueError(f"eval_days: {eval_days} leaves no history in a {world.hours_total // 24}-day world")
    run_history(world, settings, hours=history_hours)
    return Prepared(world, truly_good_threshold(world), world.now_ms, eval_days, seed)


def run_one(prep: Prepared, index: int, name: str, factory: PolicyFactory, tap: HeadTap | None = None) -> LoopResult:
    """Run one policy over the window from an identical copy of the prepared state.

    The policy runs inside a :class:`Probe` (which changes nothing the world sees) so the result also
    carries a :class:`LoopDetail`; ``tap`` hands the model's head probabilities to the probe.
    """
    twin = prep.world.branch(prep.seed * 7919 + index)
    twin.metrics = {}
    # The probe's own generator only picks which shown rows to keep; the world's draws are untouched.
    probe = Probe(factory(twin, prep.threshold), twin, np.random.default_rng([prep.seed, index, 1]), tap=tap)
    twin.run(probe, prep.eval_days * 24)
    if prep.activity is None:
        prep.activity = past_actions(twin)
    return LoopResult(name, {s: m.summary() for s, m in twin.metrics.items()},
                      amplification_figures(twin, prep.window_start_ms, prep.threshold),
                      finish(probe, twin, prep.window_start_ms, prep.activity, prep.seed))


def run_policies(settings: SimulatorSettings, scale: str, seed: int, eval_days: int,
                 factories: dict[str, PolicyFactory],
                 on_policy: Callable[[str], None] | None = None) -> list[LoopResult]:
    """Simulate history up to the window, then run every policy over the window from the same state."""
    prep = prepare_world(settings, scale, seed, eval_days)
    results = []
    for i, (name, factory) in enumerate(factories.items()):
        results.append(run_one(prep, i, name, factory))
        if on_policy is not None:
            on_policy(name)
    return results


def default_factories(seed: int, names: Sequence[str] = BASELINES) -> dict[str, PolicyFactory]:
    """The oracle plus the named baselines."""
    out: dict[str, PolicyFactory] = {"oracle": oracle_factory}
    for name in names:
        out[name] = baseline_factory(name, seed)
    return out
