"""Shared simulated worlds for the experiments tests (built once per session: they are seeded)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from experiments.settings import SimulatorSettings
from experiments.simulate import build_world, run_history
from experiments.world.engine import World
from experiments.world.tables import contract_tables


@pytest.fixture(scope="session")
def sim_settings() -> SimulatorSettings:
    return SimulatorSettings()


@pytest.fixture(scope="session")
def medium_world(sim_settings: SimulatorSettings) -> tuple[World, dict[str, pa.Table]]:
    """A medium world run to the end under the logging policy (a few seconds)."""
    world = build_world(sim_settings, "medium", np.random.default_rng(11))
    run_history(world, sim_settings)
    return world, contract_tables(world)


@pytest.fixture(scope="session")
def small_world(sim_settings: SimulatorSettings) -> tuple[World, dict[str, pa.Table]]:
    world = build_world(sim_settings, "small", np.random.default_rng(5))
    run_history(world, sim_settings)
    return world, contract_tables(world)
