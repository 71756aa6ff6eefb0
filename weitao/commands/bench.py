"""`weitao bench ...`: performance benchmarks (`bench simulate` for now)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from experiments.bench import bench_simulate
from experiments.bench_gate import bench_gate
from experiments.bench_ingest import bench_ingest
from weitao.commands import bench_features as bench_features_cmd
from weitao.commands import bench_serve as bench_serve_cmd
from weitao.commands.common import console, fail, merge_json, parse_ints, progress, settings_of, summary_table

app = typer.Typer(no_args_is_help=True, help="Performance benchmarks.")

# Seconds for population, hour loop, Arrow tables and Parquet writing; peak RSS in MB (narrow: fits 80 columns).
COLUMNS = ("scale", "events", "pop", "loop", "events/s", "tables", "write", "RSS MB")


def print_simulate(results: Sequence[dict[str, Any]], title: str = "weitao bench simulate") -> None:
    """The summary table of ``bench_simulate`` results."""
    rows = [(r["scale"], f'{r["events"]:,}', f'{r["population_seconds"]:.2f}', f'{r["loop_seconds"]:.2f}',
             f'{r["events_per_second"]:,.0f}', f'{r["tables_seconds"]:.2f}', f'{r["write_seconds"]:.2f}',
             f'{r["peak_rss_mb"]:,.0f}') for r in results]
    summary_table(title, COLUMNS, rows)


def write_json(path: Path, name: str, results: Sequence[dict[str, Any]]) -> None:
    """Write ``{name: {scale: result}}`` to ``path``, keeping other benchmarks already in the file."""
    merge_json(path, name, {r["scale"]: r for r in results})


@app.command("simulate")
def simulate(
    ctx: typer.Context,
    scales: Annotated[str, typer.Option("--scales", help="Comma-separated scales, run in this order.")] = (
        "small,medium,large"),
    seed: Annotated[int, typer.Option("--seed", help="Seed of every world.")] = 1,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the figures to this JSON file.")] = None,
) -> None:
    """Time population build, hour loop (events/s) and Parquet writing of simulated worlds, scale by scale."""
    settings = settings_of(ctx).simulator
    names = [s.strip() for s in scales.split(",") if s.strip()]
    unknown = [s for s in names if s not in settings.scales]
    if not names or unknown:
        fail(f"unknown scale(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(settings.scales)}")
    with progress() as p:
        tasks = {s: p.add_task(f"simulating {s} world (seed {seed})", total=settings.scales[s].days * 24)
                 for s in names}  # type: ignore[index]
        results = bench_simulate(settings, names, seed,
                                 on_hour=lambda scale, done, total: p.update(tasks[scale], completed=done))
    print_simulate(results, f"weitao bench simulate --seed {seed} (seconds)")
    if json_path is not None:
        write_json(json_path, "simulate", results)
        console.print(f"figures written to [bold]{json_path.resolve()}[/bold]", soft_wrap=True)


app.command("features")(bench_features_cmd.features)
app.command("serve")(bench_serve_cmd.serve)
app.command("soak")(bench_serve_cmd.soak)
app.command("ann")(bench_serve_cmd.ann)
app.command("rank-path")(bench_serve_cmd.rank_path)
app.command("memory")(bench_serve_cmd.memory)


@app.command("gate")
def gate(
    posts: Annotated[int, typer.Option("--posts", min=1, help="Live posts re-decided per pass.")] = 1_000_000,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timed passes after one warm-up.")] = 5,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures to this JSON file.")] = None,
) -> None:
    """Time one amplification-gate pass over many live posts (target: 1M posts in at most 1 s)."""
    result = bench_gate(posts, repeats)
    summary_table("weitao bench gate", ("posts", "p50 s", "min s", "max s", "moved per pass"),
                  [(result["posts"], result["p50_seconds"], result["min_seconds"], result["max_seconds"],
                    result["moved_per_pass"])])
    if json_out is not None:
        json_out.write_text(json.dumps({"gate": result}, indent=2))
        console.print(f"figures written to {json_out}")


@app.command("ingest")
def ingest(
    ctx: typer.Context,
    data: Annotated[Path | None, typer.Option("--data", help="Data directory (default: data.dir).")] = None,
    batches: Annotated[str, typer.Option("--batches", help="Batch sizes to time, comma-separated.")] = "1000,50000",
    max_events: Annotated[int | None, typer.Option("--max-events", min=1, help="Ingest only the first N.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures to this JSON file.")] = None,
) -> None:
    """Time the event intake (validate, deduplicate, count) over a world's events (target: 50k events/s/core)."""
    data_dir = data or settings_of(ctx).data.dir
    results = []
    for size in parse_ints(batches, "--batches"):
        try:
            results.append(bench_ingest(data_dir, size, max_events))
        except (OSError, ValueError) as e:
            fail(str(e))
    summary_table("weitao bench ingest", ("batch", "events", "wall s", "events/s", "events/CPU-s"),
                  [(r["batch"], f'{r["events"]:,}', f'{r["wall_seconds"]:.2f}', f'{r["events_per_second"]:,.0f}',
                    f'{r["events_per_cpu_second"]:,.0f}') for r in results])
    if json_out is not None:
        merge_json(json_out, "ingest", {str(r["batch"]): r for r in results})
        console.print(f"figures written to {json_out}")
