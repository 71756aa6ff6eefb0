"""`weitao simulate`: build a world, run the logging policy through it, write contract tables and truth."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from experiments.policies import LoggingPolicy
from experiments.settings import SimulatorSettings
from experiments.world.catalog import build_population
from experiments.world.engine import World, WorldConfig
from experiments.world.params import WorldParams
from experiments.world.tables import contract_tables, truth_tables
from features.load import load_tables


@dataclass(frozen=True)
class SimulationReport:
    """What one simulation produced and how fast."""

    out: Path
    rows: dict[str, int]
    quarantined: dict[str, int]
    events: int
    generate_seconds: float
    write_seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / max(self.generate_seconds, 1e-9)


def start_ms(settings: SimulatorSettings) -> int:
    """Midnight UTC of the first simulated day, in milliseconds since the Unix epoch."""
    day = datetime.strptime(settings.start, "%Y-%m-%d").replace(tzinfo=UTC)
    return int(day.timestamp() * 1000)


def build_world(settings: SimulatorSettings, scale: str, rng: np.random.Generator,
                params: WorldParams | None = None) -> World:
    """A fresh world of ``scale`` at hour 0, drawn from ``rng``."""
    size = settings.scales[scale]  # type: ignore[index]
    params = params or WorldParams()
    pop = build_population(rng, size.users, size.accounts, size.days, start_ms(settings), params)
    config = WorldConfig(page_size=settings.page_size, sessions_per_user_day=size.sessions_per_user_day)
    return World(pop, params, config, rng)


def run_history(world: World, settings: SimulatorSettings, hours: int | None = None,
                on_hour: Callable[[int], None] | None = None) -> None:
    """Run the logging policy (chronological with a randomised share, so pages carry propensities)."""
    world.run(LoggingPolicy(), world.hours_total if hours is None else hours,
              explore=settings.exploration_share, on_hour=on_hour)


def simulate(settings: SimulatorSettings, scale: str, seed: int, out: Path, *, overwrite: bool = False,
             on_hour: Callable[[int], None] | None = None, tolerance_ms: int = 300_000) -> SimulationReport:
    """Simulate the whole world with ``seed`` and publish it to ``out`` (truth under ``out/truth``).

    The tables pass the same validation as any other data (the simulated clock is 'now').
    """
    t = time.perf_counter()
    world = build_world(settings, scale, np.random.default_rng(seed))
    run_history(world, settings, on_hour=on_hour)
    tables = contract_tables(world)
    truth = truth_tables(world)
    generated = time.perf_counter() - t
    load = load_tables(tables, out, now_ms=world.pop.end_ms, tolerance_ms=tolerance_ms, truth=truth,
                       overwrite=overwrite)
    rows = {name: r.accepted for name, r in load.tables.items()}
    quarantined = {name: r.quarantined for name, r in load.tables.items()}
    return SimulationReport(out, rows, quarantined, sum(t.num_rows for t in [tables["events"]]), generated,
                            time.perf_counter() - t - generated)
