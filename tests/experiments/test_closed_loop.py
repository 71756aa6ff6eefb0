"""Policies in closed loop: the oracle is the ceiling, the world enforces capacity, runs are reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.closed_loop import default_factories, run_policies
from experiments.settings import SimulatorSettings
from experiments.simulate import build_world, run_history
from experiments.world.candidates import NEVER
from experiments.world.engine import World
from experiments.world.policy import AmplifyBatch, Batch, Observation


@pytest.fixture(scope="module")
def results(sim_settings: SimulatorSettings) -> dict:
    res = run_policies(sim_settings, "small", 3, 2, default_factories(3))
    return {r.policy: r for r in res}


def test_oracle_is_the_ceiling_on_every_feed_slot(results: dict) -> None:
    for slot, figures in results["oracle"].slots.items():
        assert figures["ndcg_at_10"] == pytest.approx(1.0), slot
        for name, r in results.items():
            assert r.slots[slot]["ndcg_at_10"] <= 1.0 + 1e-9, (name, slot)
    assert results["random"].slots["follow_feed"]["ndcg_at_10"] < 0.9


def test_oracle_amplifies_only_truly_good_posts(results: dict) -> None:
    oracle = results["oracle"].amplification
    assert oracle["amplified"] > 0 and oracle["precision"] == 1.0
    best_baseline = max(r.amplification["precision"] for n, r in results.items() if n != "oracle")
    assert best_baseline < 0.6


def test_every_policy_gets_the_same_history(sim_settings: SimulatorSettings) -> None:
    a = run_policies(sim_settings, "small", 4, 2, default_factories(4, ["chronological"]))
    b = run_policies(sim_settings, "small", 4, 2, default_factories(4, ["chronological"]))
    assert [r.slots for r in a] == [r.slots for r in b]
    assert repr([r.amplification for r in a]) == repr([r.amplification for r in b])  # NaN-safe


class Greedy:
    """Wants every live post in the top pool at once; the world must hold it to capacity."""

    name = "greedy"

    def score(self, batch: Batch, obs: Observation) -> np.ndarray:
        return np.zeros(len(batch))

    def amplify(self, batch: AmplifyBatch, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        return np.full(len(batch.post), 4), np.ones(len(batch.post))


def test_capacity_is_enforced_per_hour(sim_settings: SimulatorSettings) -> None:
    world = build_world(sim_settings, "small", np.random.default_rng(2))
    run_history(world, sim_settings, hours=24)
    twin = world.branch(1)
    twin.run(Greedy(), 24)
    admitted = twin.first_public_ms[(twin.first_public_ms != NEVER) & ~twin.pop.posts.public]
    admitted = admitted[admitted >= world.now_ms]
    per_hour = np.bincount((admitted - world.now_ms) // 3_600_000)
    assert per_hour.max() <= twin.capacity
    assert per_hour.sum() > 0


def test_branch_leaves_the_original_untouched(sim_settings: SimulatorSettings) -> None:
    world: World = build_world(sim_settings, "small", np.random.default_rng(2))
    run_history(world, sim_settings, hours=12)
    before = (world.hour, world.level.copy(), len(world.graph.user), world.counters.imp_fan.sum())
    world.branch(9).run(Greedy(), 12)
    after = (world.hour, world.level, len(world.graph.user), world.counters.imp_fan.sum())
    assert before[0] == after[0] and np.array_equal(before[1], after[1])
    assert before[2:] == after[2:]
