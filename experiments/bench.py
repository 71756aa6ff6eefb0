"""How fast the simulator generates and writes worlds: the figures behind `weitao bench simulate`.

For each scale: seconds to build the population (and the world around it), seconds to run the hour
loop under the logging policy, events generated and events per second of generation (population +
loop; its CPU seconds too, since wall time depends on what else the machine runs), seconds to turn
the world into Arrow tables and to write them as Parquet (into a temporary folder, deleted
afterwards), and the process's peak resident memory so far.
"""

from __future__ import annotations

import gc
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from experiments.settings import SimulatorSettings
from experiments.simulate import build_world, run_history
from experiments.world.tables import contract_tables, truth_tables
from features.storage import write_dataset

#: Called with (scale, hours done, hours in all) as the hour loop advances.
Progress = Callable[[str, int, int], None]

RESULT_KEYS = ("scale", "users", "accounts", "days", "events", "population_seconds", "loop_seconds",
               "generate_seconds", "generate_cpu_seconds", "events_per_second", "tables_seconds", "write_seconds",
               "peak_rss_mb")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def bench_scale(settings: SimulatorSettings, scale: str, seed: int, on_hour: Progress | None = None) -> dict[str, Any]:
    """Generate one world of ``scale`` with ``seed``, write it to a temporary folder, and time each stage."""
    size = settings.scales[scale]  # type: ignore[index]
    cpu0 = time.process_time()  # CPU seconds too: wall time alone depends on what else the machine runs
    t0 = time.perf_counter()
    world = build_world(settings, scale, np.random.default_rng(seed))
    t1 = time.perf_counter()
    total = world.hours_total
    run_history(world, settings, on_hour=None if on_hour is None else (lambda h: on_hour(scale, h, total)))
    t2, cpu = time.perf_counter(), time.process_time() - cpu0
    events = sum(len(part) for part in world.parts)
    tables, truth = contract_tables(world), truth_tables(world)
    t3 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="weitao-bench-") as tmp:
        write_dataset(Path(tmp) / "world", tables, truth=truth)
        t4 = time.perf_counter()
    del world, tables, truth
    gc.collect()
    return {
        "scale": scale, "users": size.users, "accounts": size.accounts, "days": size.days, "events": events,
        "population_seconds": t1 - t0, "loop_seconds": t2 - t1, "generate_seconds": t2 - t0,
        "generate_cpu_seconds": cpu,
        "events_per_second": events / max(t2 - t0, 1e-9), "tables_seconds": t3 - t2, "write_seconds": t4 - t3,
        "peak_rss_mb": peak_rss_mb(),
    }


def bench_simulate(settings: SimulatorSettings, scales: list[str], seed: int, *,
                   on_hour: Progress | None = None) -> list[dict[str, Any]]:
    """Benchmark the simulator on each of ``scales`` in turn (one dict per scale, keys ``RESULT_KEYS``).

    Peak memory is the process's peak so far: run scales from small to large for per-scale figures.
    """
    unknown = [s for s in scales if s not in settings.scales]
    if unknown:
        raise ValueError(f"unknown scale(s) {', '.join(unknown)}; known: {', '.join(settings.scales)}")
    return [bench_scale(settings, scale, seed, on_hour) for scale in scales]
