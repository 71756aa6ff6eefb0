"""The small simulated world the slot-ranker tests train on (built once per test session)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from experiments.settings import SimulatorSettings
from experiments.simulate import build_world, run_history
from experiments.world.tables import contract_tables


@pytest.fixture(scope="session")
def tables() -> tuple[dict[str, pa.Table], int]:
    """Contract tables of the small world (seed 8) and a split two days before its end."""
    world = build_world(SimulatorSettings(), "small", np.random.default_rng(8))
    run_history(world, SimulatorSettings())
    return contract_tables(world), world.pop.end_ms - 2 * 86_400_000
