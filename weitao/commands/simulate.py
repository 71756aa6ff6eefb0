"""`weitao simulate`: write a simulated Weitao world (contract tables + hidden truth)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from experiments.settings import Scale
from experiments.simulate import SimulationReport, simulate
from features.storage import StorageError
from weitao.commands.common import console, fail, progress, settings_of, summary_table
from weitao.settings import Settings


def run_simulation(settings: Settings, scale: str, seed: int, out: Path, overwrite: bool) -> SimulationReport:
    """Simulate with a progress bar over the simulated hours; returns the SimulationReport."""
    size = settings.simulator.scales[scale]
    if out.exists() and any(out.iterdir()) and not overwrite:
        fail(f"--out {out} exists and is not empty (pass --overwrite to replace it)")
    with progress() as p:
        task = p.add_task(f"simulating {scale} world (seed {seed})", total=size.days * 24)
        try:
            report = simulate(settings.simulator, scale, seed, out, overwrite=overwrite,
                              on_hour=lambda h: p.update(task, completed=h),
                              tolerance_ms=int(settings.data.future_tolerance_seconds * 1000))
        except (OSError, ValueError, StorageError) as e:
            fail(str(e))
        p.update(task, description=f"simulated {scale} world (seed {seed})")
    return report


def register(app: typer.Typer) -> None:
    """Add `simulate` to the root app."""

    @app.command("simulate")
    def simulate_cmd(
        ctx: typer.Context,
        out: Annotated[Path, typer.Option("--out", help="Data directory to write.")],
        seed: Annotated[int | None, typer.Option("--seed", help="Seed (default: simulator.seed).")] = None,
        scale: Annotated[Scale | None, typer.Option("--scale", help="small | medium | large.")] = None,
        overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty --out.")] = False,
    ) -> None:
        """Simulate the Weitao world hour by hour under the logging policy and publish its tables."""
        settings = settings_of(ctx)
        scale_ = scale or settings.simulator.scale
        seed_ = settings.simulator.seed if seed is None else seed
        report = run_simulation(settings, scale_, seed_, out, overwrite)
        rows = [(t, n, report.quarantined.get(t, 0)) for t, n in report.rows.items()]
        summary_table(f"weitao simulate --scale {scale_} --seed {seed_}", ("table", "rows", "quarantined"), rows)
        summary_table("speed", ("events", "generate s", "write s", "events/s"),
                      [(report.events, report.generate_seconds, report.write_seconds, report.events_per_second)])
        console.print(f"world written to [bold]{out.resolve()}[/bold] (hidden truth under truth/)", soft_wrap=True)
