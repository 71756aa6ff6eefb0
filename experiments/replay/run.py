"""One replay: rebuild the day's pages, re-rank them, re-run the gate, and collect the figures as JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.ope.estimators import N_BOOTSTRAP
from experiments.ope.reward import N_FOLDS, RewardModelKind
from experiments.replay.data import PointInTime, ReplayInputError, Tables, day_bounds
from experiments.replay.estimate import counterfactual, slot_metrics
from experiments.replay.exposure import exposure
from experiments.replay.gate import amplification
from experiments.replay.pages import add_candidates, hydrate, pages_from_events, pages_from_log
from experiments.replay.rankers import Ranker, rerank
from ranking.gate.settings import GateSettings


@dataclass(frozen=True, kw_only=True)
class ReplayOptions:
    """What to replay and how: the day, the page source, candidate and estimator settings."""

    day: str | None = None
    page_log: Path | None = None
    gate_log: Path | None = None
    k: int = 10
    max_extra: int = 20
    reward_model: RewardModelKind = "lightgbm"
    n_bootstrap: int = N_BOOTSTRAP
    n_folds: int = N_FOLDS


def day_pages(tables: Tables, pit: PointInTime, lo: int, hi: int, options: ReplayOptions) -> pd.DataFrame:
    """The day's logged pages with their source candidates, hydrated with point-in-time columns."""
    if options.page_log is not None:
        pages = pages_from_log(options.page_log, tables, lo, hi)
    else:
        pages = pages_from_events(tables, lo, hi)
    return hydrate(add_candidates(pages, tables, options.max_extra), tables, pit)


def replay(tables: Tables, options: ReplayOptions, rng: np.random.Generator, *, ranker: Ranker | None = None,
           logged_gate: GateSettings | None = None, new_gate: GateSettings | None = None) -> dict[str, Any]:
    """Replay the day through ``ranker`` (slot metrics, exposure) and/or ``new_gate`` (amplification)."""
    if ranker is None and new_gate is None:
        raise ReplayInputError("--policy / --gate-config: give a new ranking policy, new gate settings or both")
    lo, hi = day_bounds(options.day, tables)
    pit = PointInTime(tables)
    out: dict[str, Any] = {"day": datetime.fromtimestamp(lo / 1000, UTC).strftime("%Y-%m-%d"),
                           "pages_from": "page log" if options.page_log else "impression events"}
    if ranker is not None:
        model_rng, boot_rng = rng.spawn(2)
        cands = day_pages(tables, pit, lo, hi, options)
        new_pos = rerank(cands, ranker.scores(cands))
        cf = counterfactual(cands, new_pos, options.reward_model, model_rng, options.n_folds)
        out["policy"] = ranker.name
        out["k"] = options.k
        out["candidates"] = {"rows": len(cands), "source_candidates_per_page_max": options.max_extra,
                             "source_rows": int((cands["logged_position"] < 0).sum())}
        out["reward_model"] = options.reward_model
        out["slots"] = slot_metrics(cands, new_pos, cf, options.k, boot_rng, options.n_bootstrap)
        out["exposure"] = exposure(cands, new_pos)
    if new_gate is not None:
        logged = logged_gate or GateSettings()
        out["gate_changes"] = _changed_settings(logged, new_gate)
        out["amplification"] = amplification(tables, pit, lo, hi, logged, new_gate, options.gate_log)
    return out


def _changed_settings(old: GateSettings, new: GateSettings) -> dict[str, Any]:
    a, b = old.model_dump(mode="json"), new.model_dump(mode="json")
    return {key: {"logged": a[key], "new": b[key]} for key in a if a[key] != b[key]}
