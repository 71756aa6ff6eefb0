"""`weitao evaluate feeds`: our slot rankers against baselines and the oracle, in closed loop, over seeds.

For each seed: simulate history up to the evaluation window, train both rankers on that history (the
last ``holdout_days`` of it held out), then run ours, the oracle and the baselines over the window from
the same state. Ties training (``training``) to the simulated world (``experiments``), so it lives here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from experiments.closed_loop import (
    LoopResult,
    PolicyFactory,
    baseline_factory,
    oracle_factory,
    prepare_world,
    run_one,
)
from experiments.gate_policy import GatePolicy
from experiments.model_policy import ModelPolicy
from experiments.reports.probe import HeadTap
from experiments.world.engine import World
from experiments.world.events import Events
from experiments.world.tables import contract_tables
from ranking.affinity import Affinity
from ranking.heads import HeadModel
from training.slot_job import train_slot_with
from weitao.settings import Settings

FEED_SLOTS = ("follow_feed", "new_arrival")
FEED_BASELINES = ("chronological", "popularity", "follower_count")
DAY_MS = 86_400_000


@dataclass
class TappedHeadModel(HeadModel):
    """A head model that also hands its per-head probabilities to a :class:`HeadTap` (for calibration plots).

    Scores are the blended sum computed exactly as ``HeadModel.predict`` does, from one ``predict_heads`` call.
    """

    tap: HeadTap | None = None

    @classmethod
    def of(cls, model: HeadModel, tap: HeadTap) -> TappedHeadModel:
        """Wrap a loaded model (its boosters are shared, not copied)."""
        return cls(**{f.name: getattr(model, f.name) for f in fields(model)}, tap=tap)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Blended score; the head probabilities go to the tap."""
        heads = self.predict_heads(X)
        if self.tap is not None:
            self.tap.put(heads)
        return self.blended(heads, len(X))


def train_models(settings: Settings, tables: dict[str, Any], split_ms: int,
                 folder: Path) -> tuple[dict[str, HeadModel], dict[str, Affinity | None]]:
    """Fit both feed rankers and load them back the way the service does (from model directories)."""
    models, affinities = {}, {}
    for slot in FEED_SLOTS:
        result = train_slot_with(tables, slot, split_ms, settings.rankers, settings.features)
        saved = result.save(folder / slot, settings.config_hash())
        models[slot], affinities[slot] = HeadModel.load(saved), Affinity.load(saved)
    return models, affinities


def evaluate_seed(settings: Settings, scale: str, seed: int, on_step: Callable[[str], None] | None = None,
                  baselines: tuple[str, ...] = FEED_BASELINES, gate_log: Path | None = None) -> list[LoopResult]:
    """Closed-loop results of ours, the oracle and the baselines for one seed.

    Ours ranks the feeds with the trained rankers and amplifies with the gate; ``gate_log``: a folder where
    its gate's decision log is written as ``seed-<seed>.parquet`` (what ``weitao explain`` reads).
    """
    step = on_step or (lambda _: None)
    prep = prepare_world(settings.simulator, scale, seed, settings.evaluation.eval_days)
    tables = contract_tables(prep.world)
    history = Events.concat(prep.world.parts)
    split_ms = prep.window_start_ms - int(settings.rankers.holdout_days * DAY_MS)
    with tempfile.TemporaryDirectory() as tmp:
        models, affinities = train_models(settings, tables, split_ms, Path(tmp))
    step(f"seed {seed}: trained")
    tap = HeadTap()
    tapped = {slot: TappedHeadModel.of(model, tap) for slot, model in models.items()}
    gates: list[GatePolicy] = []

    def ours(world: World, threshold: float) -> ModelPolicy:
        gate = GatePolicy(len(world.pop.posts.account), settings.gate)
        gate.warm_up(history, world.observation())
        gates.append(gate)
        return ModelPolicy(tapped, tables, history, gate, settings.features, affinities)

    factories: dict[str, PolicyFactory] = {"ours": ours, "oracle": oracle_factory}
    factories.update({name: baseline_factory(name, seed) for name in baselines})
    results = []
    for i, (name, factory) in enumerate(factories.items()):
        results.append(run_one(prep, i, name, factory, tap if name == "ours" else None))
        step(f"seed {seed}: {name}")
    if gate_log is not None and gates:
        gates[-1].log.write(gate_log / f"seed-{seed}.parquet")
    return results


def aggregate(per_seed: list[list[LoopResult]]) -> dict[str, dict[str, dict[str, Any]]]:
    """{slot: {policy: {"ndcg_at_10": mean, "ndcg_at_10_std": std, ..., "per_seed": [...]}}}."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for slot in FEED_SLOTS:
        out[slot] = {}
        for policy in [r.policy for r in per_seed[0]]:
            figures = [next(r for r in seed if r.policy == policy).slots.get(slot, {}) for seed in per_seed]
            entry: dict[str, Any] = {}
            for key in ("ndcg_at_10", "true_utility", "realised_actions"):
                values = np.array([f.get(key, np.nan) for f in figures], dtype=float)
                entry[key] = float(np.nanmean(values))
                entry[f"{key}_std"] = float(np.nanstd(values))
            entry["per_seed"] = [f.get("ndcg_at_10") for f in figures]
            out[slot][policy] = entry
    return out
