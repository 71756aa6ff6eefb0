"""`weitao compare RUN_A RUN_B`: two evaluation reports side by side, differences with bootstrap intervals.

Reports are MLflow runs logged by `weitao evaluate … --report DIR` (their ``report/`` artifact folder), or,
as a convenience, report folders on disk. This module also logs those runs (the CLI is the only layer that
may use both ``training.tracking`` and ``experiments``).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.utils.time import get_current_time_millis

from experiments.reports.artifacts import ReportError, read_folder
from experiments.reports.compare import compare_reports, difference_rows, scalar_rows, write_comparison
from ranking.model_store import silenced
from training.tracking import experiment_id, tracking_client
from weitao.commands.common import console, fail, settings_of, summary_table
from weitao.settings import Settings

REPORT_ARTIFACT = "report"
RUN_KIND_TAG = "weitao.run_kind"


def _slot_metrics(report: dict[str, Any]) -> dict[str, float]:
    """``slot.policy.metric`` → value for every finite slot figure (for MLflow's metric view)."""
    out = {}
    for slot, by in report["slots"].items():
        for policy, figures in by.items():
            for metric, iv in figures.items():
                value = iv["value"] if isinstance(iv, dict) else iv
                if isinstance(value, (int, float)) and math.isfinite(value):
                    out[f"{slot}.{policy}.{metric}"] = float(value)
    return out


def log_report_run(settings: Settings, folder: Path, report: dict[str, Any], run_name: str) -> str:
    """Log a report folder as an MLflow run (artifacts under ``report/``, slot figures as metrics); its id."""
    client = tracking_client(settings)
    run = client.create_run(experiment_id(client, settings), run_name=run_name,
                            tags={RUN_KIND_TAG: "evaluation-report"})
    run_id = run.info.run_id
    try:
        now = get_current_time_millis()
        client.log_batch(run_id, params=[Param(k, str(v)[:500]) for k, v in report["meta"].items()])
        metrics = [Metric(k, v, now, 0) for k, v in _slot_metrics(report).items()]
        for start in range(0, len(metrics), 1000):  # MLflow's limit per batch
            client.log_batch(run_id, metrics=metrics[start:start + 1000])
        with silenced():
            client.log_artifacts(run_id, str(folder), REPORT_ARTIFACT)
    except BaseException:
        with silenced():
            client.set_terminated(run_id, status="FAILED")
        raise
    with silenced():
        client.set_terminated(run_id, status="FINISHED")
    return str(run_id)


def load_report(settings: Settings, ref: str, scratch: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The report of ``ref``: a report folder on disk, else an MLflow run id (its artifacts downloaded)."""
    path = Path(ref)
    if path.is_dir():
        return read_folder(path)
    client = tracking_client(settings)
    try:
        with silenced():  # tqdm download bars
            local = client.download_artifacts(ref, REPORT_ARTIFACT, str(scratch / ref))
    except MlflowException as e:
        raise ReportError(f"{ref}: neither a report folder nor an MLflow run with a report ({e.message})") from None
    return read_folder(Path(local))


SHORT = {"ndcg_at_10": "nDCG@10", "true_utility": "utility", "realised_actions": "actions"}


def _print(rows: list[list[Any]], scalars: list[list[Any]], labels: tuple[str, str]) -> None:
    short = [[r[0], r[1], SHORT.get(r[2], r[2]), *r[3:7], r[7].replace(" users", "")] for r in rows]
    summary_table(f"B − A with 95 % bootstrap intervals (A = {labels[0]}, B = {labels[1]})",
                  ("slot", "policy", "metric", "A", "B", "B − A", "interval", "pairing"), short)
    summary_table("other figures (no interval)", ("figure", "policy", "A", "B", "B − A"),
                  [r for r in scalars if r[0] in ("exposure Gini", "coverage", "new-creator share", "precision")])


def compare_cmd(
    ctx: typer.Context,
    run_a: Annotated[str, typer.Argument(help="Run id of A (or a report folder).")],
    run_b: Annotated[str, typer.Argument(help="Run id of B (or a report folder).")],
    out: Annotated[Path | None, typer.Option("--out", help="Folder for compare.md and its plots.")] = None,
    resamples: Annotated[int, typer.Option("--resamples", min=100, help="Bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap resamples.")] = 0,
) -> None:
    """Compare two evaluation reports: every slot metric side by side, B − A and its interval."""
    settings = settings_of(ctx)
    with tempfile.TemporaryDirectory(prefix="weitao-compare-") as tmp:
        try:
            a, b = load_report(settings, run_a, Path(tmp)), load_report(settings, run_b, Path(tmp))
        except ReportError as e:
            fail(str(e))
            return
    labels = (run_a, run_b)
    diffs = compare_reports(a, b, np.random.default_rng(seed), resamples=resamples)
    if not diffs:
        fail("the two reports share no slot and policy to compare")
    rows = difference_rows(diffs)
    _print(rows, scalar_rows(a[0], b[0]), labels)
    folder = out or Path("runs") / f"compare-{Path(run_a).name[:8]}-{Path(run_b).name[:8]}"
    md = write_comparison(folder, labels, a, b, diffs)
    console.print(f"comparison written to {md}")
