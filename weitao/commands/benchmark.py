"""`weitao benchmark movielens-100k|topk`: our top-k models on a public protocol, beside published numbers.

Both commands build interaction pairs from the contract events (actions weighted once, in
``training.embeddings_interactions``), split them with ``experiments.topk_protocol``, fit every model of
``training.topk.models`` on the training part, recommend ten unseen items per user and score them with
recommenders' metric definitions. Outputs: a summary table, ``--json`` (``{model: metrics}``, the best of
ours also as ``ours``), ``--recs-out`` (the best model's lists, ``user,item,rank``) and the split beside it
(``<recs-out stem>_split.csv``: ``user,item,split``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import pyarrow as pa
import typer

from experiments.topk_protocol import (
    METRICS,
    PUBLISHED,
    check_recs,
    score_topk,
    split_table,
    stratified_split,
    temporal_split,
)
from experiments.topk_report import figures, write_report
from features.adapters import ADAPTERS, AdapterError
from features.fetch import FetchError, fetch_movielens_100k
from features.load import validate_tables
from features.storage import StorageError, read_table, table_names
from features.validate import ContractError
from training.embeddings_interactions import Interactions, interaction_pairs
from training.topk import MODEL_NAMES, SideFeatures, contract_side, make_model, movielens_side, top_k
from weitao.commands.common import console, fail, progress, settings_of, summary_table

app = typer.Typer(no_args_is_help=True, help="Top-k benchmarks of our models beside published tables.")

SPLITS = ("temporal", "stratified")
TARGETS = ("post", "product", "account")
K = 10
#: Short column titles of METRICS, so the table fits an 80-column terminal.
HEADERS = ("MAP", "MAP@k", "nDCG@k", "P@k", "R@k")

JsonOpt = Annotated[Path, typer.Option("--json", help="Write {model: metrics} here.")]
RecsOpt = Annotated[Path, typer.Option("--recs-out", help="Write the best model's top-10 (user,item,rank) here.")]
ModelsOpt = Annotated[str, typer.Option("--models", help=f"Comma-separated subset of: {', '.join(MODEL_NAMES)}.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the models (inner splits, factorisations, trees).")]
ThreadsOpt = Annotated[int, typer.Option("--threads", min=1, help="Threads for ALS/BPR and LightGBM.")]
ReportOpt = Annotated[Path | None, typer.Option("--report", help="Also write report.md with plots here: nDCG with "
                                                "intervals, lift over popularity, by user activity, exposure.")]


def _models(spec: str) -> list[str]:
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown or not names:
        fail(f"--models: unknown model(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(MODEL_NAMES)}")
    return list(dict.fromkeys(["popularity", *names]))  # popularity is always reported


def _read_dir(data: Path) -> dict[str, pa.Table]:
    """The contract tables of a loaded data directory that the benchmark uses."""
    try:
        present = table_names(data)
        if "events" not in present:
            fail(f"--data {data}: no events table (load a data set with `weitao data load` first)")
        return {n: read_table(data, n) for n in ("accounts", "posts", "products", "events") if n in present}
    except StorageError as e:
        fail(f"--data {data}: {e}")
        raise  # unreachable: fail exits


def _movielens_tables(ctx: typer.Context) -> tuple[dict[str, pa.Table], Path]:
    """Fetch MovieLens-100k (cached) and map it through the adapter and validation, in memory."""
    settings = settings_of(ctx)
    try:
        folder = fetch_movielens_100k(settings.data.download_cache.expanduser())
        raw = ADAPTERS["movielens-100k"].read(folder)
        validated = validate_tables(raw, tolerance_ms=int(settings.data.future_tolerance_seconds * 1000))
    except (FetchError, AdapterError, ContractError, OSError) as e:
        fail(f"cannot obtain MovieLens-100k: {e}")
        raise  # unreachable: fail exits
    return {name: result.accepted for name, result in validated.items()}, folder


def _split(pairs: pd.DataFrame, how: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    if how == "stratified":
        return stratified_split(pairs, ratio=0.75, col_user="user", col_item="item", seed=seed)
    return temporal_split(pairs, ratio=0.75, col_user="user", col_time="time")


def _evaluate(names: list[str], train: pd.DataFrame, test: pd.DataFrame, side: SideFeatures, seed: int,
              threads: int) -> tuple[dict[str, dict[str, float]], dict[str, pd.DataFrame], dict[str, float]]:
    """Fit every model on ``train``, recommend ``K`` unseen items per user, score against ``test``."""
    matrix = Interactions.from_pairs(train)
    scores: dict[str, dict[str, float]] = {}
    recs: dict[str, pd.DataFrame] = {}
    seconds: dict[str, float] = {}
    with progress() as p:
        overall = p.add_task(f"{len(names)} models on {matrix.shape[0]:,} users × {matrix.shape[1]:,} items",
                             total=len(names))
        for name in names:
            p.update(overall, description=f"fitting and scoring {name}")
            start = time.perf_counter()
            model = make_model(name, random_state=seed, n_jobs=threads).fit(matrix, side)
            lists = top_k(model, matrix, k=K)[["user", "item", "rank"]]
            check_recs(lists, train, k=K)
            seconds[name] = time.perf_counter() - start
            scores[name], recs[name] = score_topk(test, lists, k=K), lists
            p.advance(overall)
        p.update(overall, description=f"{len(names)} models scored")
    return scores, recs, seconds


def _best(scores: Mapping[str, Mapping[str, float]]) -> str:
    """The best of our models by nDCG@k, then MAP. Popularity is the baseline, not one of ours: it is ``ours``
    only when nothing else was run; when it beats every model of ours, the JSON shows it beside ``ours``."""
    ours = [n for n in scores if n != "popularity"] or list(scores)
    return max(ours, key=lambda n: (scores[n]["ndcg_at_k"], scores[n]["map"]))


def _write(scores: dict[str, dict[str, float]], recs: dict[str, pd.DataFrame], best: str, split: pd.DataFrame,
           json_out: Path, recs_out: Path) -> Path:
    out: dict[str, dict[str, float | str]] = {name: dict(m) for name, m in scores.items()}
    out["ours"] = {**scores[best], "model": best}
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    recs_out.parent.mkdir(parents=True, exist_ok=True)
    recs[best].to_csv(recs_out, index=False)
    split_out = recs_out.with_name(f"{recs_out.stem}_split.csv")
    split.to_csv(split_out, index=False)
    return split_out


def _report(title: str, scores: dict[str, dict[str, float]], seconds: dict[str, float], best: str,
            published: bool) -> None:
    rows: list[list[object]] = []
    for name, m in scores.items():
        tag = "ours (best)" if name == best else "ours"
        rows.append([name, tag, *(m[k] for k in METRICS), f"{seconds[name]:.0f}"])
    if published:
        for name, m in PUBLISHED.items():
            rows.append([name, "published", *(m.get(k, "–") for k in METRICS), "–"])
    summary_table(title, ("model", "source", *HEADERS, "sec"), rows)


def _run(title: str, tables: Mapping[str, pa.Table], side: SideFeatures, *, split_how: str, split_seed: int,
         target: str, models: list[str], seed: int, threads: int, json_out: Path, recs_out: Path,
         published: bool, report: Path | None = None) -> None:
    with progress() as p:
        task = p.add_task(f"interaction pairs of {tables['events'].num_rows:,} events, {split_how} split",
                          total=None)
        try:
            pairs = interaction_pairs(tables["events"], target=target,  # type: ignore[arg-type]
                                      posts=tables.get("posts"), products=tables.get("products"))
        except ValueError as e:
            fail(str(e))
        if pairs.empty:
            fail(f"no weighted events on target {target!r}: nothing to recommend")
        train, test = _split(pairs, split_how, split_seed)
        p.update(task, total=1, completed=1)
    console.print(f"{len(pairs):,} interactions; {split_how} split: {len(train):,} train, {len(test):,} test")
    scores, recs, seconds = _evaluate(models, train, test, side, seed, threads)
    best = _best(scores)
    split_out = _write(scores, recs, best, split_table(train, test), json_out, recs_out)
    _report(title, scores, seconds, best, published)
    console.print(f"metrics: [bold]{json_out}[/bold]; top-{K} of {best}: [bold]{recs_out}[/bold]; "
                  f"split: [bold]{split_out}[/bold]", soft_wrap=True)
    if report is not None:
        figs = figures(train, test, recs, K, np.random.default_rng(seed))
        console.print(f"report: [bold]{write_report(report, title, figs)}[/bold]")


@app.command("movielens-100k")
def movielens_100k(
    ctx: typer.Context, json_out: JsonOpt, recs_out: RecsOpt,
    data: Annotated[Path | None, typer.Option("--data", help="An already loaded contract dir of MovieLens-100k "
                                              "(default: fetch it and load it in memory).")] = None,
    raw: Annotated[Path | None, typer.Option("--raw", help="Raw MovieLens folder for user/item attributes beyond "
                                             "the contract (default: the fetched copy when --data is not given).")
                   ] = None,
    models: ModelsOpt = ",".join(MODEL_NAMES), seed: SeedOpt = 0, threads: ThreadsOpt = 1, report: ReportOpt = None,
) -> None:
    """recommenders' protocol (stratified 75/25 split, seed 42, top-10) beside its published table."""
    names = _models(models)
    if data is not None:
        with progress() as p:
            task = p.add_task(f"reading {data}", total=None)
            tables, folder = _read_dir(data), raw
            p.update(task, total=1, completed=1)
    else:
        with progress() as p:
            task = p.add_task("fetching and loading MovieLens-100k", total=None)
            tables, fetched = _movielens_tables(ctx)
            p.update(task, description=f"MovieLens-100k from {fetched}", total=1, completed=1)
        folder = raw if raw is not None else fetched
    side = contract_side(tables)
    if folder is not None:
        try:
            side = side.merge(movielens_side(folder))
        except (FileNotFoundError, OSError, ValueError) as e:
            fail(f"--raw {folder}: {e}")
    else:
        console.print("no raw MovieLens folder: the re-ranker uses the contract's attributes only")
    _run("weitao benchmark movielens-100k (stratified 75/25, seed 42, top-10)", tables, side,
         split_how="stratified", split_seed=42, target="post", models=names, seed=seed, threads=threads,
         json_out=json_out, recs_out=recs_out, published=True, report=report)


@app.command("topk")
def topk(
    json_out: JsonOpt, recs_out: RecsOpt,
    data: Annotated[Path, typer.Option("--data", help="A loaded contract data directory.")],
    split: Annotated[str, typer.Option("--split", help="temporal (per user, last 25 % by time) | stratified.")
                     ] = "temporal",
    target: Annotated[str, typer.Option("--target", help="What to recommend: post | product | account.")] = "post",
    models: ModelsOpt = ",".join(MODEL_NAMES), seed: SeedOpt = 0, threads: ThreadsOpt = 1, report: ReportOpt = None,
) -> None:
    """The same benchmark on any contract data directory (temporal split by default)."""
    if split not in SPLITS:
        fail(f"--split: expected one of {', '.join(SPLITS)}, got {split!r}")
    if target not in TARGETS:
        fail(f"--target: expected one of {', '.join(TARGETS)}, got {target!r}")
    names = _models(models)
    with progress() as p:
        task = p.add_task(f"reading {data}", total=None)
        tables = _read_dir(data)
        p.update(task, total=1, completed=1)
    _run(f"weitao benchmark topk {data.name} ({split} 75/25, top-10, target {target})", tables,
         contract_side(tables, target), split_how=split, split_seed=42, target=target, models=names, seed=seed,
         threads=threads, json_out=json_out, recs_out=recs_out, published=False, report=report)
