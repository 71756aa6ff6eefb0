"""Benchmark the simulator (same figures as `weitao bench simulate`) and keep them in results/simulate.json.

    .venv/bin/python benchmarks/bench_simulate.py [--scales small,medium,large] [--seed 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.bench import bench_simulate
from experiments.settings import SimulatorSettings
from weitao.commands.bench import print_simulate, write_json

RESULTS = Path(__file__).resolve().parent / "results" / "simulate.json"


def main() -> None:
    """Run the benchmark, print its table and write ``results/simulate.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="small,medium,large", help="comma-separated scales, in this order")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    results = bench_simulate(SimulatorSettings(), [s.strip() for s in args.scales.split(",") if s.strip()], args.seed)
    print_simulate(results, f"bench_simulate --seed {args.seed} (seconds)")
    write_json(RESULTS, "simulate", results)
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
