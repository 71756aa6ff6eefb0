"""`weitao evaluate amplification`: our gate against published baselines in closed loop, over seeds.

Every policy runs the evaluation window from the same simulated state, under the same capacity, and is
scored against the hidden truth (SIMULATOR.md: truly good = top decile of public appeal).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from experiments.closed_loop import LoopResult, PolicyFactory, baseline_factory, oracle_factory, prepare_world, run_one
from experiments.gate_policy import GatePolicy
from experiments.world.engine import World
from experiments.world.events import Events
from weitao.amplifier_world import history_scorer
from weitao.settings import Settings

AMP_BASELINES = ("hn_gravity", "reddit_hot", "szabo_huberman", "follower_count", "random")
AMP_KEYS = ("precision", "median_hours_to_amplify", "new_creator_ratio", "exposure_gini", "follows_per_1k",
            "farm_posts_amplified")


def gate_factory(settings: Settings, made: list[GatePolicy] | None = None) -> PolicyFactory:
    """Our gate, warmed up on the logged history before the window (appended to ``made`` when given)."""

    def make(world: World, threshold: float) -> GatePolicy:
        # gate.use_amplifier: a model trained on the history before the window only (no peeking at the window)
        amplifier = history_scorer(world, settings.amplifier) if settings.gate.use_amplifier else None
        policy = GatePolicy(len(world.pop.posts.account), settings.gate, amplifier)
        policy.warm_up(Events.concat(world.inherited), world.observation())
        if made is not None:
            made.append(policy)
        return policy

    return make


def evaluate_seed(settings: Settings, scale: str, seed: int, on_step: Callable[[str], None] | None = None,
                  gate_log: Path | None = None) -> list[LoopResult]:
    """Closed-loop amplification results of ours, the oracle and the baselines for one seed.

    ``gate_log``: a folder where our gate's decision log is written as ``seed-<seed>.parquet``.
    """
    prep = prepare_world(settings.simulator, scale, seed, settings.evaluation.eval_days)
    ours: list[GatePolicy] = []
    factories: dict[str, PolicyFactory] = {"ours": gate_factory(settings, ours), "oracle": oracle_factory}
    factories.update({name: baseline_factory(name, seed) for name in AMP_BASELINES})
    results = []
    for i, (name, factory) in enumerate(factories.items()):
        results.append(run_one(prep, i, name, factory))
        if on_step is not None:
            on_step(name)
    if gate_log is not None and ours:
        ours[-1].log.write(gate_log / f"seed-{seed}.parquet")
    return results


def aggregate(per_seed: list[list[LoopResult]]) -> dict[str, dict[str, Any]]:
    """{policy: {key: mean over seeds, ..., "per_seed": [{key: value}, ...]}}; an infinite median stays inf."""
    out: dict[str, dict[str, Any]] = {}
    for policy in [r.policy for r in per_seed[0]]:
        rows = [next(r for r in seed if r.policy == policy).amplification for seed in per_seed]
        entry: dict[str, Any] = {}
        for key in AMP_KEYS:
            values = np.array([row.get(key, np.nan) for row in rows], dtype=float)
            # A seed whose window had no truly good new creator has no ratio: average over the others.
            entry[key] = float(np.nanmean(values)) if not np.isnan(values).all() else float("nan")
        entry["per_seed"] = [{k: row.get(k) for k in (*AMP_KEYS, "amplified", "truly_good")} for row in rows]
        out[policy] = entry
    return out
