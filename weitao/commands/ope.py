"""`weitao ope open-bandit|sim`: off-policy estimates of a policy's value, checked against its on-policy value."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import orjson
import typer

from experiments.ope.estimators import N_BOOTSTRAP
from experiments.ope.obd import BEHAVIORS, CAMPAIGNS, N_SIM, POLICIES, evaluate_open_bandit
from experiments.ope.reward import N_FOLDS, REWARD_MODELS
from experiments.ope.sim import evaluate_in_world
from experiments.policies import BASELINES
from features.fetch import FetchError, fetch_open_bandit
from weitao.commands.common import console, fail, progress, settings_of, summary_table

app = typer.Typer(no_args_is_help=True, help="Off-policy evaluation: a policy's value from logs before it ships.")

DEFAULT_SEED = 12345  # obp's examples seed every step with 12345


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        fail(f"unknown {option} {value!r}; choose one of {', '.join(allowed)}")


def _write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is None:
        return
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    console.print(f"estimates written to [bold]{path.resolve()}[/bold]", soft_wrap=True)


def estimate_rows(payload: dict[str, Any], truth_key: str) -> list[tuple[str, ...]]:
    """Table rows: each estimator's value, interval and ratio to the truth (``payload[truth_key]``), then the truth."""
    truth = float(payload[truth_key])
    rows: list[tuple[str, ...]] = []
    for name in ("ipw", "snipw", "dr"):
        if name in payload:
            e = payload[name]
            covers = "yes" if e["ci_low"] <= truth <= e["ci_high"] else "no"
            rows.append((name, f"{e['value']:.6f}", f"{e['ci_low']:.6f}", f"{e['ci_high']:.6f}",
                         f"{e['value'] / truth:.4f}" if truth else "-", covers))
    rows.append(("truth", f"{truth:.6f}", "", "", "1.0000", ""))
    return rows


@app.command("open-bandit")
def open_bandit(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Option("--campaign", help="all | men | women.")] = "all",
    behavior: Annotated[str, typer.Option("--behavior", help="Log to estimate from: bts | random.")] = "bts",
    policy: Annotated[str, typer.Option("--policy", help="Policy to evaluate: uniform | bts.")] = "uniform",
    reward_model: Annotated[str, typer.Option("--reward-model", help="DR's model: logistic | lightgbm.")] = "logistic",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the estimates to this JSON file.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of folds, models, bootstrap, BTS draws.")] = DEFAULT_SEED,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=1, help="Bootstrap resamples.")] = N_BOOTSTRAP,
    folds: Annotated[int, typer.Option("--folds", min=1, help="Cross-fitting folds of DR's model.")] = N_FOLDS,
    n_sim: Annotated[int, typer.Option("--n-sim", min=1, help="Draws that estimate the bts policy.")] = N_SIM,
) -> None:
    """IPW, SNIPW and DR estimates of a policy from the Open Bandit Dataset sample, against its own log."""
    _choice("--campaign", campaign, CAMPAIGNS)
    _choice("--behavior", behavior, BEHAVIORS)
    _choice("--policy", policy, POLICIES)
    _choice("--reward-model", reward_model, REWARD_MODELS)
    cache = settings_of(ctx).data.download_cache.expanduser()
    with progress() as p:
        task = p.add_task(f"fetching the Open Bandit Dataset into {cache}", total=None)
        try:
            obd = fetch_open_bandit(cache)
        except (FetchError, OSError) as e:
            fail(str(e))
        p.update(task, description=f"estimating {policy} from the {behavior}/{campaign} log")
        try:
            result = evaluate_open_bandit(obd, campaign, behavior, policy, reward_model,  # type: ignore[arg-type]
                                          np.random.default_rng(seed), bootstrap, folds, n_sim)
        except (ValueError, OSError) as e:
            fail(f"cannot evaluate {policy} on {behavior}/{campaign}: {e}")
        p.update(task, description="estimated", total=1, completed=1)
    payload = result.as_json() | {"seed": seed, "n_bootstrap_samples": bootstrap, "n_folds": folds}
    summary_table(f"weitao ope open-bandit: {policy} from {behavior}/{campaign} ({result.n_rounds:,} rows)",
                  ("estimator", "value", "ci_low", "ci_high", "÷ truth", "CI covers truth"),
                  estimate_rows(payload, "on_policy_truth"))
    _write_json(json_out, payload)


@app.command("sim")
def sim(
    ctx: typer.Context,
    policy: Annotated[str, typer.Option("--policy", help=f"New ranker: {', '.join(BASELINES)}.")] = "popularity",
    scale: Annotated[str | None, typer.Option("--scale", help="World scale (default: simulator.scale).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="World seed (default: simulator.seed).")] = None,
    days: Annotated[int | None, typer.Option("--days", min=1, help="Window (default: evaluation.eval_days).")] = None,
    explore: Annotated[float | None, typer.Option(
        "--explore", help="Share of logged pages shuffled (default: simulator.exploration_share).")] = None,
    reward_model: Annotated[str, typer.Option("--reward-model", help="DR's model: logistic | lightgbm.")] = "lightgbm",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the estimates to this JSON file.")] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=1, help="Bootstrap resamples.")] = N_BOOTSTRAP,
    folds: Annotated[int, typer.Option("--folds", min=1, help="Cross-fitting folds of DR's model.")] = N_FOLDS,
) -> None:
    """Estimate a new ranker from the simulated world's explored logs; compare with running it in closed loop."""
    settings = settings_of(ctx)
    _choice("--policy", policy, BASELINES)
    _choice("--reward-model", reward_model, REWARD_MODELS)
    scale_ = scale or settings.simulator.scale
    _choice("--scale", scale_, tuple(settings.simulator.scales))
    seed_ = settings.simulator.seed if seed is None else seed
    days_ = settings.evaluation.eval_days if days is None else days
    explore_ = settings.simulator.exploration_share if explore is None else explore
    with progress() as p:
        task = p.add_task(f"logging and closed loop of {policy} ({scale_}, seed {seed_}, {days_} days)", total=None)
        try:
            result = evaluate_in_world(settings.simulator, scale_, seed_, days_, policy, reward_model,  # type: ignore[arg-type]
                                       explore_, np.random.default_rng(seed_), bootstrap, folds)
        except ValueError as e:
            fail(f"cannot evaluate {policy}: {e}")
        p.update(task, description="estimated", total=1, completed=1)
    payload = result.as_json() | {"n_bootstrap_samples": bootstrap, "n_folds": folds}
    summary_table(f"weitao ope sim: {policy} ({scale_}, seed {seed_}, explore {explore_}, "
                  f"{payload['logged_impressions']:,} logged impressions)",
                  ("estimator", "value", "ci_low", "ci_high", "÷ truth", "CI covers truth"),
                  estimate_rows(payload, "closed_loop_truth"))
    _write_json(json_out, payload)
