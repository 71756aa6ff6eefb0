"""`weitao quickstart`: the main job on embedded defaults.

Simulate the world → train both feed rankers on it, log them to a local MLflow, register and promote
→ evaluate ours, the baselines and the oracle in closed loop → write the report → print a table.
Everything lands under ``--out`` (data, MLflow store, report).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from experiments.closed_loop import LoopResult
from experiments.policies import BASELINES
from experiments.report import summarise, write_report
from experiments.settings import Scale
from training.registry import promote
from weitao.commands.common import console, progress, settings_of, summary_table
from weitao.commands.serve import start, with_serving
from weitao.commands.simulate import run_simulation
from weitao.commands.train import read_tables, train_and_register
from weitao.feeds_eval import FEED_SLOTS, evaluate_seed
from weitao.settings import Settings


def local_tracking(settings: Settings, out: Path) -> Settings:
    """The same settings with MLflow's store and artifacts under ``out/mlruns``."""
    root = (out / "mlruns").resolve()
    tracking = settings.tracking.model_copy(update={
        "tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_root": root / "artifacts",
        "model_cache": root / "model-cache"})
    return settings.model_copy(update={"tracking": tracking})


def _train(settings: Settings, data: Path) -> list[tuple[str, str, int, str, float | None]]:
    rows = []
    tables = read_tables(data)
    with progress() as p:
        task = p.add_task("training, logging and promoting the feed rankers", total=len(FEED_SLOTS))
        for slot in FEED_SLOTS:
            result, run_id, version = train_and_register(settings, tables, slot)
            t = settings.tracking
            decision = promote(settings, slot, metric=t.promotion_metric,
                               higher_is_better=t.promotion_higher_is_better, min_delta=t.promotion_min_delta)
            rows.append((slot, run_id[:12], version, "champion" if decision.moved else "challenger",
                         result.metrics.get("ndcg_at_10")))
            p.advance(task)
    return rows


def _evaluate(settings: Settings, scale: str, seed: int, gate_log: Path) -> list[LoopResult]:
    with progress() as p:
        task = p.add_task("closed-loop evaluation: ours, baselines, oracle", total=3 + len(BASELINES))
        return evaluate_seed(settings, scale, seed, on_step=lambda _: p.advance(task), baselines=BASELINES,
                             gate_log=gate_log)


def _print(summary: dict[str, Any]) -> None:
    rows = []
    for policy, amp in summary["amplification"].items():
        feeds = [summary["feeds"].get(s, {}).get(policy, {}).get("ndcg_at_10") for s in
                 ("follow_feed", "new_arrival", "hotlist")]
        rows.append((policy, *feeds, amp["precision"], amp["median_hours_to_amplify"],
                     amp["farm_posts_amplified"]))
    summary_table("ours vs baselines vs oracle (closed loop, evaluation window)",
                  ("policy", "follow-feed nDCG", "new-arrival nDCG", "hotlist nDCG",
                   "amplif. precision", "median h to amplify", "farm posts amplified"), rows)


def register(app: typer.Typer) -> None:
    """Add `quickstart` to the root app."""

    @app.command("quickstart")
    def quickstart(
        ctx: typer.Context,
        out: Annotated[Path | None, typer.Option("--out", help="Folder for data, models and report.")] = None,
        seed: Annotated[int | None, typer.Option("--seed", help="Seed (default: simulator.seed).")] = None,
        scale: Annotated[Scale | None, typer.Option("--scale", help="World size (default: medium).")] = None,
        no_serve: Annotated[bool, typer.Option("--no-serve", help="Do not start the service at the end.")] = False,
        host: Annotated[str | None, typer.Option("--host", help="Service interface (default 127.0.0.1).")] = None,
        port: Annotated[int | None, typer.Option("--port", help="Service port (default 8000).")] = None,
    ) -> None:
        """Simulate, train and register the rankers, evaluate everything in closed loop, write the report."""
        t0 = time.perf_counter()
        out_ = out or Path(settings_of(ctx).evaluation.out_dir)
        settings = local_tracking(settings_of(ctx), out_)
        scale_ = scale or settings.simulator.scale
        seed_ = settings.simulator.seed if seed is None else seed
        sim = run_simulation(settings, scale_, seed_, out_ / "data", overwrite=True)
        trained = _train(settings, out_ / "data")
        summary_table("feed rankers in MLflow", ("slot", "run", "version", "alias", "held-out nDCG@10"), trained)
        shutil.rmtree(out_ / "gate-log", ignore_errors=True)  # a log of an earlier world would mix its posts in
        results = _evaluate(settings, scale_, seed_, out_ / "gate-log")
        summary = summarise(results)
        meta = {"scale": scale_, "seed": seed_, "eval_days": settings.evaluation.eval_days,
                "config_hash": settings.config_hash(), "events": sim.events,
                "events_per_second": round(sim.events_per_second), "tracking_uri": settings.tracking.tracking_uri,
                "wall_seconds": round(time.perf_counter() - t0, 1)}
        js, md = write_report(out_ / "report", summary, meta)
        _print(summary)
        console.print(f"report: [bold]{md}[/bold] and {js.name}; data: {out_ / 'data'}; "
                      f"MLflow: {settings.tracking.tracking_uri}", soft_wrap=True)
        console.print(f"why the gate did or did not amplify a post: weitao explain POST --log {out_ / 'gate-log'}",
                      soft_wrap=True)
        console.print(f"wall time {meta['wall_seconds']} s")
        if not no_serve:
            start(with_serving(settings, data_dir=out_ / "data", page_log_dir=out_ / "served", host=host, port=port))
