"""`weitao interleave sensitivity`: users an A/B test and team-draft interleaving need to detect a better ranker."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from experiments.sensitivity import SensitivityConfig, run_sensitivity, smallest_n
from experiments.settings import Scale
from weitao.commands.common import console, fail, parse_ints, progress, settings_of, summary_table

app = typer.Typer(no_args_is_help=True, help="Team-draft interleaving (experiments.interleaving).")


def _grid(text: str) -> tuple[int, ...]:
    users = tuple(sorted(set(parse_ints(text, "--users"))))
    if min(users) < 4:
        fail("--users: every n must be at least 4 (both A/B arms need two users)")
    return users


@app.command("sensitivity")
def sensitivity(
    ctx: typer.Context,
    scale: Annotated[Scale, typer.Option("--scale", help="World scale.")] = "small",
    reps: Annotated[int, typer.Option("--reps", min=2, help="Repetitions per n and method.")] = 20,
    users: Annotated[str, typer.Option("--users", help="Comma-separated numbers of users.")] =
    "50,100,200,400,800,1600,3200,6400",
    noise: Annotated[float, typer.Option("--noise", min=0, help="Noise sd on the better ranker's log-utility.")] = 2.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of world, pool, coins and clicks.")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON.")] = None,
) -> None:
    """Power (one-sided, alpha 0.05) of A/B vs interleaving for chronological vs a noisy oracle, per n."""
    settings = settings_of(ctx)
    cfg = SensitivityConfig(scale=scale, seed=seed, reps=reps, users=_grid(users), noise=noise)
    with progress() as p:
        task = p.add_task("simulating", total=2 * len(cfg.users))
        try:
            res = run_sensitivity(settings.simulator, cfg, on_step=lambda m, n: p.update(task, advance=1,
                                                                                        description=f"{m} n={n}"))
        except ValueError as e:
            fail(str(e))
            return
    rows = [(n, res.ab[n], res.interleaving[n]) for n in cfg.users]
    rows.append(("n for 80 %", str(smallest_n(res.ab)), str(smallest_n(res.interleaving))))
    rows.append((f"A vs A at {max(cfg.users)}", res.control["ab"], res.control["interleaving"]))
    summary_table(f"detection rate, {reps} reps, one-sided alpha {cfg.alpha} (B = noisy oracle > A = chronological)",
                  ("users", "A/B", "interleaving"), rows)
    t = res.truth
    console.print(f"truth per session: expected clicks A {t['expected_clicks_a']:.3f}, B {t['expected_clicks_b']:.3f};"
                  f" true utility A {t['true_utility_a']:.3f}, B {t['true_utility_b']:.3f}")
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(res.to_json(cfg), option=orjson.OPT_INDENT_2))
        console.print(f"figures written to {json_out}")
