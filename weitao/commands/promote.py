"""`weitao promote SLOT` and `weitao rollback SLOT`: move the serving alias of a slot's model, with reasons."""

from __future__ import annotations

import typer
from mlflow.exceptions import MlflowException

from training.registry import model_name, promote, rollback
from training.tracking import TrackingError
from weitao.commands.common import console, fail, settings_of, summary_table

SLOT_HELP = "Slot whose registered model to act on (follow_feed, new_arrival, hotlist, amplifier, ...)."
# Models that are not rankers log no nDCG: they are promoted on their own held-out metric (higher is better).
SLOT_METRICS = {"amplifier": ("spearman", True)}


def promote_cmd(ctx: typer.Context, slot: str = typer.Argument(..., help=SLOT_HELP)) -> None:
    """Promote the slot's challenger to champion if it beats the champion on the same held-out split."""
    slot = slot.replace("-", "_")  # the CLI spells slots follow-feed, the registry follow_feed
    cfg = settings_of(ctx).tracking
    try:
        metric, higher = SLOT_METRICS.get(slot, (cfg.promotion_metric, cfg.promotion_higher_is_better))
        d = promote(cfg, slot, metric=metric, higher_is_better=higher, min_delta=cfg.promotion_min_delta)
    except (TrackingError, MlflowException) as e:
        fail(f"cannot promote {model_name(cfg, slot)} at {cfg.tracking_uri}: {e}")
        return
    after = d.challenger if d.moved else d.champion_before
    rows = [
        ("champion before", _v(d.champion_before), _n(d.values.get("champion"))),
        ("challenger", _v(d.challenger), _n(d.values.get("challenger"))),
        ("champion now", _v(after), _n(d.values.get("challenger" if d.moved else "champion"))),
    ]
    summary_table(f"weitao promote {slot} ({model_name(cfg, slot)})", ("role", "version", d.metric), rows)
    verdict = "[green]promoted[/green]" if d.moved else "[yellow]not promoted[/yellow]"
    console.print(f"{verdict}: {d.reason}")


def rollback_cmd(ctx: typer.Context, slot: str = typer.Argument(..., help=SLOT_HELP)) -> None:
    """Return the slot's champion alias to the previous champion."""
    slot = slot.replace("-", "_")
    cfg = settings_of(ctx).tracking
    try:
        d = rollback(cfg, slot)
    except (TrackingError, MlflowException) as e:
        fail(f"cannot roll back {model_name(cfg, slot)} at {cfg.tracking_uri}: {e}")
        return
    rows = [("champion before", _v(d.champion_before)), ("champion now", _v(d.champion_after))]
    summary_table(f"weitao rollback {slot} ({model_name(cfg, slot)})", ("role", "version"), rows)
    verdict = "[green]rolled back[/green]" if d.moved else "[yellow]unchanged[/yellow]"
    console.print(f"{verdict}: {d.reason}")


def _v(version: int | None) -> str:
    return "-" if version is None else f"v{version}"


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
