"""`weitao evaluate …`: closed-loop evaluation reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import orjson
import typer

from experiments.closed_loop import LoopResult
from experiments.report import json_safe
from experiments.reports.folder import write_report
from experiments.settings import Scale
from weitao import amplification_eval
from weitao.commands.common import console, parse_ints, progress, settings_of, summary_table
from weitao.commands.compare import log_report_run
from weitao.feeds_eval import FEED_BASELINES, aggregate, evaluate_seed
from weitao.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Evaluate policies in closed loop on the simulated world.")

ReportOpt = Annotated[Path | None, typer.Option("--report", help="Write report.md, PNG plots, report.json and "
                                                "units.npz into this folder and log it to an MLflow run.")]
ResamplesOpt = Annotated[int, typer.Option("--resamples", min=100, help="Bootstrap resamples of the report.")]


def report_and_log(settings: Settings, folder: Path, per_seed: list[list[LoopResult]], kind: str, scale: str,
                   seeds: list[int], resamples: int) -> str:
    """Write the report folder, log it to MLflow and print where both went; returns the run id."""
    meta = {"kind": kind, "scale": scale, "seeds": ",".join(map(str, seeds)),
            "eval_days": settings.evaluation.eval_days, "config_hash": settings.config_hash()}
    # The bootstrap has its own generator, seeded from the evaluation's seeds: same run, same intervals.
    md, report = write_report(folder, per_seed, meta, np.random.default_rng([*seeds, 1000]), resamples=resamples)
    run_id = log_report_run(settings, folder, report, f"evaluate-{kind}")
    console.print(f"report: [bold]{md}[/bold]; MLflow run [bold]{run_id}[/bold] "
                  f"({settings.tracking.tracking_uri})", soft_wrap=True)
    return run_id


@app.command("feeds")
def feeds(
    ctx: typer.Context,
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds.")] = "1,2,3",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON.")] = None,
    scale: Annotated[Scale | None, typer.Option("--scale", help="World size (default: simulator.scale).")] = None,
    report: ReportOpt = None,
    resamples: ResamplesOpt = 1000,
) -> None:
    """nDCG@10 on true utility of our follow-feed and new-arrival rankers against baselines and the oracle."""
    settings = settings_of(ctx)
    seed_list = parse_ints(seeds, "--seeds")
    scale_ = scale or settings.simulator.scale
    per_seed = []
    steps = len(seed_list) * (3 + len(FEED_BASELINES))
    with progress() as p:
        task = p.add_task(f"closed-loop feeds evaluation ({scale_}, seeds {seeds})", total=steps)
        for seed in seed_list:
            per_seed.append(evaluate_seed(settings, scale_, seed, on_step=lambda _: p.advance(task)))
    figures = aggregate(per_seed)
    rows = [(slot, policy, f["ndcg_at_10"], f["ndcg_at_10_std"], f["realised_actions"])
            for slot, by_policy in figures.items() for policy, f in by_policy.items()]
    summary_table(f"nDCG@10 on true utility, mean over seeds {seeds}",
                  ("slot", "policy", "nDCG@10", "std", "actions/session"), rows)
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
        console.print(f"figures written to {json_out}")
    if report is not None:
        report_and_log(settings, report, per_seed, "feeds", scale_, seed_list, resamples)


@app.command("amplification")
def amplification(
    ctx: typer.Context,
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds.")] = "1,2,3,4,5",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON.")] = None,
    scale: Annotated[Scale, typer.Option("--scale", help="World size (busy: enough traffic to test posts).")] = "busy",
    gate_log: Annotated[Path | None, typer.Option("--gate-log", help="Folder for our gate's decision log, one "
                                                  "Parquet file per seed (read by `weitao explain`).")] = None,
    report: ReportOpt = None,
    resamples: ResamplesOpt = 1000,
) -> None:
    """Our amplification gate against HN gravity, Reddit hot, Szabo–Huberman, follower count and random."""
    settings = settings_of(ctx)
    seed_list = parse_ints(seeds, "--seeds")
    per_seed = []
    steps = len(seed_list) * (2 + len(amplification_eval.AMP_BASELINES))
    with progress() as p:
        task = p.add_task(f"closed-loop amplification evaluation ({scale}, seeds {seeds})", total=steps)
        for seed in seed_list:
            per_seed.append(amplification_eval.evaluate_seed(settings, scale, seed, lambda _: p.advance(task),
                                                             gate_log))
    figures = amplification_eval.aggregate(per_seed)
    rows = [(policy, *[f[k] for k in amplification_eval.AMP_KEYS]) for policy, f in figures.items()]
    summary_table(f"amplification, mean over seeds {seeds}", ("policy", *amplification_eval.AMP_KEYS), rows)
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(json_safe(figures), option=orjson.OPT_INDENT_2))
        console.print(f"figures written to {json_out} (an infinite median is written as null)")
    if report is not None:
        report_and_log(settings, report, per_seed, "amplification", scale, seed_list, resamples)
