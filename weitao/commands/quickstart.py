"""`weitao quickstart`: the main job on embedded defaults.

Simulate the world → evaluate the baseline policies against the oracle in closed loop → write the
report → print a table. Later stages (training, MLflow, serving) join this same command.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from experiments.closed_loop import LoopResult, default_factories, run_policies
from experiments.report import summarise, write_report
from experiments.settings import Scale
from weitao.commands.common import console, progress, settings_of, summary_table
from weitao.commands.simulate import run_simulation
from weitao.settings import Settings


def _evaluate(settings: Settings, scale: str, seed: int) -> list[LoopResult]:
    factories = default_factories(seed)
    with progress() as p:
        task = p.add_task("closed-loop evaluation of baselines and oracle", total=len(factories))
        results = run_policies(settings.simulator, scale, seed, settings.evaluation.eval_days, factories,
                               on_policy=lambda name: p.advance(task))
    return results


def _print(summary: dict[str, Any]) -> None:
    rows = []
    for policy, amp in summary["amplification"].items():
        feeds = [summary["feeds"].get(s, {}).get(policy, {}).get("ndcg_at_10") for s in
                 ("follow_feed", "new_arrival", "hotlist")]
        rows.append((policy, *feeds, amp["precision"], amp["median_hours_to_amplify"],
                     amp["farm_posts_amplified"]))
    summary_table("baselines vs oracle (closed loop, evaluation window)",
                  ("policy", "follow-feed nDCG@10", "new-arrival nDCG@10", "hotlist nDCG@10",
                   "amplification precision", "median h to amplify", "farm posts amplified"), rows)


def register(app: typer.Typer) -> None:
    """Add `quickstart` to the root app."""

    @app.command("quickstart")
    def quickstart(
        ctx: typer.Context,
        out: Annotated[Path | None, typer.Option("--out", help="Folder for data and report.")] = None,
        seed: Annotated[int | None, typer.Option("--seed", help="Seed (default: simulator.seed).")] = None,
        scale: Annotated[Scale | None, typer.Option("--scale", help="World size (default: medium).")] = None,
        no_serve: Annotated[bool, typer.Option("--no-serve", help="Do not start the service at the end.")] = False,
    ) -> None:
        """Simulate, evaluate the baselines against the oracle, write the report."""
        t0 = time.perf_counter()
        settings = settings_of(ctx)
        out_ = out or Path(settings.evaluation.out_dir)
        scale_ = scale or settings.simulator.scale
        seed_ = settings.simulator.seed if seed is None else seed
        sim = run_simulation(settings, scale_, seed_, out_ / "data", overwrite=True)
        results = _evaluate(settings, scale_, seed_)
        summary = summarise(results)
        meta = {"scale": scale_, "seed": seed_, "eval_days": settings.evaluation.eval_days,
                "config_hash": settings.config_hash(), "events": sim.events,
                "events_per_second": round(sim.events_per_second),
                "wall_seconds": round(time.perf_counter() - t0, 1)}
        js, md = write_report(out_ / "report", summary, meta)
        _print(summary)
        console.print(f"report: [bold]{md}[/bold] and {js.name}; data: {out_ / 'data'}", soft_wrap=True)
        console.print(f"wall time {meta['wall_seconds']} s")
        if not no_serve:
            console.print("the ranking service is not part of this build yet; nothing to serve")
