"""`weitao replay`: a logged day through a new ranking policy and/or new gate settings, offline."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from pydantic import ValidationError

from experiments.ope.estimators import N_BOOTSTRAP
from experiments.ope.reward import N_FOLDS, REWARD_MODELS
from experiments.policies import BASELINES
from experiments.replay import report
from experiments.replay.check import closed_loop_check, compare
from experiments.replay.data import ReplayInputError, Tables
from experiments.replay.rankers import MODEL_POLICIES, POLICIES, Ranker, make_ranker
from experiments.replay.run import ReplayOptions, replay
from features.storage import read_table
from ranking.gate.settings import GateSettings
from weitao.commands.common import console, fail, progress, settings_of, summary_table
from weitao.settings import Settings


def load_gate_config(path: Path, base: GateSettings) -> GateSettings:
    """``base`` with the keys of a TOML file (top level or a ``[gate]`` section); unknown keys are errors."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        fail(f"--gate-config: cannot read {path}: {e}")
        raise
    values = raw.get("gate", raw) if isinstance(raw.get("gate", raw), dict) else raw
    try:
        return GateSettings.model_validate(base.model_dump() | values)
    except ValidationError as e:
        errors = "; ".join(f"gate.{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        fail(f"--gate-config {path}: {errors}")
        raise


def _ranker(name: str, data: Path, settings: Settings, rng: np.random.Generator) -> Ranker:
    if name not in MODEL_POLICIES:
        return make_ranker(name, rng)
    from experiments.replay.models import ModelRanker, load_slot_models
    from ranking.model_store import ModelStoreError

    t = settings.tracking
    try:
        models = load_slot_models(t.tracking_uri, t.registry_prefix, name, t.model_cache.expanduser())
    except ModelStoreError as e:
        fail(f"--policy {name}: cannot load the slot rankers from {t.tracking_uri}: {e}")
        raise
    tables = {n: read_table(data, n) for n in ("events", "accounts", "posts", "products", "follows")}
    return ModelRanker(name, models, tables, settings.features)


def replay_cmd(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option("--data", help="Data directory (contract tables).")],
    day: Annotated[str | None, typer.Option("--day", help="UTC day YYYY-MM-DD (default: last full day).")] = None,
    policy: Annotated[str | None, typer.Option("--policy", help=f"New ranker: {', '.join(POLICIES)}.")] = None,
    gate_config: Annotated[Path | None, typer.Option("--gate-config", help="TOML of new gate settings.")] = None,
    page_log: Annotated[Path | None, typer.Option("--page-log", help="Served-page log folder (Parquet).")] = None,
    gate_log: Annotated[Path | None, typer.Option("--gate-log", help="Gate decision log (logged decisions).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write replay.json and replay.md here.")] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="nDCG cut-off.")] = 10,
    max_extra: Annotated[int, typer.Option("--extra-candidates", min=0, help="Source candidates per page.")] = 20,
    reward_model: Annotated[str, typer.Option("--reward-model", help="logistic | lightgbm.")] = "lightgbm",
    seed: Annotated[int, typer.Option("--seed", help="Seed of folds, models, bootstrap, random policy.")] = 0,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=1, help="Bootstrap resamples.")] = N_BOOTSTRAP,
    folds: Annotated[int, typer.Option("--folds", min=1, help="Cross-fitting folds.")] = N_FOLDS,
    check_seed: Annotated[int | None, typer.Option(
        "--check-seed", help="Simulated data only: its `weitao simulate --seed`, to run the policy in closed loop "
        "that day and report the estimate's error.")] = None,
    check_scale: Annotated[str, typer.Option("--check-scale", help="Its `--scale`.")] = "small",
) -> None:
    """Replay a logged day through a new policy: slot metrics, exposure by account kind and tier, amplification."""
    settings = settings_of(ctx)
    if reward_model not in REWARD_MODELS:
        fail(f"--reward-model: unknown {reward_model!r}; choose one of {', '.join(REWARD_MODELS)}")
    if check_seed is not None and policy not in BASELINES:
        fail(f"--check-seed: the closed-loop check runs the simulator's baselines ({', '.join(BASELINES)}), "
             f"not --policy {policy!r}")
    new_gate = load_gate_config(gate_config, settings.gate) if gate_config is not None else None
    rng = np.random.default_rng(seed)
    options = ReplayOptions(day=day, page_log=page_log, gate_log=gate_log, k=k, max_extra=max_extra,
                            reward_model=reward_model, n_bootstrap=bootstrap, n_folds=folds)  # type: ignore[arg-type]
    with progress() as p:
        task = p.add_task(f"replaying {data}", total=None)
        try:
            tables = Tables.read(data)
            ranker = _ranker(policy, data, settings, rng) if policy is not None else None
            result = replay(tables, options, rng, ranker=ranker, logged_gate=settings.gate, new_gate=new_gate)
            if check_seed is not None:
                p.update(task, description=f"running {policy} in closed loop on the simulated day")
                lo = _day_ms(result["day"])
                truth = closed_loop_check(settings.simulator, check_scale, check_seed, lo, str(policy), rng)
                result["closed_loop_check"] = compare(result["slots"], truth)
        except (ReplayInputError, ValueError) as e:
            fail(str(e))
            return
        p.update(task, description="replayed", total=1, completed=1)
    _print(result)
    if out is not None:
        paths = report.write(result, out.expanduser())
        console.print(f"report written to [bold]{paths[0]}[/bold] and [bold]{paths[1]}[/bold]", soft_wrap=True)


def _day_ms(day: str) -> int:
    from datetime import UTC, datetime

    return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)


def _print(result: dict[str, Any]) -> None:
    if "slots" in result:
        summary_table(f"weitao replay {result['day']}: logged vs {result['policy']}", report.SLOT_COLUMNS,
                      report.slot_rows(result))
        summary_table("exposure (share of impressions)", report.EXPOSURE_COLUMNS, report.exposure_rows(result))
    if "amplification" in result:
        amp = result["amplification"]
        rows = [(r[0], r[2], r[3], r[4], r[6], r[7], r[8]) for r in report.amplification_rows(result, limit=20)]
        summary_table(f"amplification vs the {amp['source']}: logged {amp['logged_amplified']}, logged settings "
                      f"{amp['amplified_with_logged_settings']}, new settings {amp['amplified_with_new_settings']} "
                      "(first 20 changes; all in replay.json / replay.md)",
                      ("post", "kind", "tier", "logged", "new", "settings effect", "why (new settings)"), rows)
    if "closed_loop_check" in result:
        rows = [(slot, f"{c['estimate']:.4f}", f"[{c['ci_low']:.4f}, {c['ci_high']:.4f}]", f"{c['truth']:.4f}",
                 f"{c['truth_se']:.4f}", f"{c['error']:+.4f}", "yes" if c["covers"] else "no")
                for slot, c in result["closed_loop_check"].items()]
        summary_table("closed-loop check: clicks per page, estimate vs the policy run in the simulated world",
                      ("slot", "estimate", "interval", "truth", "truth se", "error", "covers"), rows)
