"""`weitao bench features`: throughput of the feature pipelines (offline in-process and Dask, online update)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from experiments.bench_features import bench_features
from weitao.commands.common import console, merge_json, settings_of, summary_table


def print_features(result: dict[str, Any]) -> None:
    """The summary table of a ``bench_features`` result."""
    off, dask, online = result["offline"], result["dask"], result["online"]
    rows: list[tuple[Any, ...]] = [("offline, in-process", round(off["events_per_s"]), round(off["events_per_cpu_s"]),
                                    off["wall_s"]),
                                   ("offline, in-process, first build", round(off["first_events_per_s"]), "",
                                    off["first_wall_s"])]
    for key, run in dask.items():
        if key != "speedup":
            rows.append((f"offline, Dask {run['workers']} worker(s)", round(run["events_per_s"]), "", run["wall_s"]))
    rows.append(("online update, in-process", round(online["events_per_s"]), round(online["events_per_cpu_s"]),
                 online["update_wall_s"]))
    summary_table(f"weitao bench features ({result['meta']['events']:,} events)",
                  ("path", "events/s", "events/CPU-s", "wall s"), rows)
    if "speedup" in dask:
        console.print(f"Dask speed-up, {max(int(k) for k in dask if k != 'speedup')} workers over 1: "
                      f"{dask['speedup']:.2f}x (machine load makes these figures noisy)")


def features(
    ctx: typer.Context,
    json: Annotated[Path | None, typer.Option("--json", help="Also write the figures to this JSON file.")] = None,
    events: Annotated[int, typer.Option("--events", min=10_000, help="Events of the synthetic world.")] = 20_000_000,
) -> None:
    """Time the offline build (in-process, Dask 1 and 2 workers) and the online update on a synthetic world."""
    settings = settings_of(ctx)
    result = bench_features(events=events, settings=settings.features, on_step=lambda s: console.print(f"… {s}"))
    print_features(result)
    if json is not None:
        merge_json(json, "features", result)
        console.print(f"figures written to [bold]{json}[/bold]")
