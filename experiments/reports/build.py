"""Assemble a report (JSON-ready figures and intervals) and its per-user arrays from closed-loop results.

Results of several seeds are pooled: a unit is a (seed, user) pair, so users of different seeds' worlds
never pair up. Slot figures are session means (as in ``LoopResult.slots``) with user-level bootstrap intervals.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from experiments.closed_loop import LoopResult
from experiments.reports import figures as fg
from experiments.reports.bootstrap import ratio_interval
from experiments.reports.probe import FUNNEL_STAGES, LoopDetail, ShownSample, SlotUnits

SLOT_METRICS = {"ndcg_at_10": "ndcg", "true_utility": "utility", "realised_actions": "realised"}
UNIT_FIELDS = ("unit", "sessions", "ndcg", "utility", "realised", "activity")
SCALARS = ("precision", "median_hours_to_amplify", "new_creator_ratio", "exposure_gini", "follows_per_1k",
           "farm_posts_amplified", "amplified", "truly_good")
MIN_ROWS = 20  # fewer shown rows than this draw no curve


def unit_ids(seed: int, user: np.ndarray) -> np.ndarray:
    """One id per (seed, user): users of different seeds are different people."""
    return (np.int64(seed) << np.int64(32)) | user.astype(np.int64)


def _details(per_seed: list[list[LoopResult]], policy: str) -> list[LoopDetail]:
    out = []
    for results in per_seed:
        for r in results:
            if r.policy == policy and r.detail is not None:
                out.append(r.detail)
    return out


def pooled_units(details: list[LoopDetail], slot: str) -> dict[str, np.ndarray]:
    """Per-unit arrays of ``slot`` pooled over seeds (keys ``UNIT_FIELDS``)."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in UNIT_FIELDS}
    for d in details:
        u: SlotUnits | None = d.units.get(slot)
        if u is None:
            continue
        parts["unit"].append(unit_ids(d.seed, u.user))
        for k in UNIT_FIELDS[1:]:
            parts[k].append(getattr(u, k))
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}


def pooled_shown(details: list[LoopDetail], slot: str) -> ShownSample | None:
    """Shown-row samples of ``slot`` pooled over seeds."""
    samples = [d.shown[slot] for d in details if slot in d.shown]
    if not samples:
        return None
    return ShownSample(*(np.concatenate([getattr(s, f) for s in samples]) for f in
                         ("score", "p_click", "p_engage", "clicked", "engaged")))


def _slot_figures(units: dict[str, np.ndarray], rng: np.random.Generator, resamples: int) -> dict[str, Any]:
    out: dict[str, Any] = {"sessions": int(units["sessions"].sum()), "users": len(units["unit"])}
    for key, column in SLOT_METRICS.items():
        out[key] = ratio_interval(units[column], units["sessions"], rng, resamples=resamples).as_dict()
    return out


def _curves(shown: ShownSample | None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Gain and lift of clicks by score; calibration of each head the model predicted."""
    if shown is None or len(shown.score) < MIN_ROWS:
        return None, {}
    share, gain = fg.thin(*fg.gain_curve(shown.score, shown.clicked))
    with np.errstate(invalid="ignore", divide="ignore"):
        lift = np.where(share > 0, gain / share, np.nan)
    curves = {"outcome": "click", "share": share, "gain": gain, "lift": lift}
    calibration = {}
    for head, probs, outcome in (("click", shown.p_click, shown.clicked), ("engage", shown.p_engage, shown.engaged)):
        ok = np.isfinite(probs)
        if ok.sum() >= MIN_ROWS:
            c = fg.calibration_curve(np.clip(probs[ok], 0, 1), outcome[ok])
            calibration[head] = {"predicted": c.predicted, "observed": c.observed, "count": c.count, "ece": c.ece}
    return curves, calibration


def _activity(by_policy: dict[str, dict[str, np.ndarray]], rng: np.random.Generator,
              resamples: int) -> dict[str, Any]:
    """nDCG by quartile of past actions; edges from all policies' users so buckets are shared."""
    edges = fg.activity_edges(np.concatenate([u["activity"] for u in by_policy.values()]))
    n = len(edges) + 1
    out: dict[str, Any] = {"edges": edges, "labels": fg.bucket_labels(edges), "by_policy": {}}
    for policy, u in by_policy.items():
        buckets = fg.bucket_of(u["activity"], edges)
        out["by_policy"][policy] = [iv.as_dict() for iv in
                                    fg.by_bucket(u["ndcg"], u["sessions"], buckets, n, rng, resamples)]
    return out


def _nanmean(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(finite)) if finite else None


def build_report(per_seed: list[list[LoopResult]], meta: dict[str, Any], rng: np.random.Generator, *,
                 resamples: int = 1000) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(report, arrays): figures with intervals, and per-unit arrays keyed ``slot.policy.field``."""
    policies = [r.policy for r in per_seed[0]]
    details = {p: _details(per_seed, p) for p in policies}
    slots = sorted({s for ds in details.values() for d in ds for s in d.units})
    report: dict[str, Any] = {"meta": {**meta, "resamples": resamples, "seeds_pooled": len(per_seed)},
                              "policies": policies, "slots": {}, "activity": {}, "gain": {}, "calibration": {}}
    arrays: dict[str, np.ndarray] = {}
    for slot in slots:
        units = {p: pooled_units(details[p], slot) for p in policies}
        units = {p: u for p, u in units.items() if len(u["unit"])}
        report["slots"][slot] = {p: _slot_figures(u, rng, resamples) for p, u in units.items()}
        report["activity"][slot] = _activity(units, rng, resamples)
        report["gain"][slot], report["calibration"][slot] = {}, {}
        for p, u in units.items():
            arrays.update({f"{slot}.{p}.{k}": v for k, v in u.items()})
            curves, calibration = _curves(pooled_shown(details[p], slot))
            if curves is not None:
                report["gain"][slot][p] = curves
            if calibration:
                report["calibration"][slot][p] = calibration
    report["funnel"] = {"stages": list(FUNNEL_STAGES),
                        "by_policy": {p: np.sum([d.funnel for d in details[p]], axis=0) for p in policies}}
    report["lorenz"] = {}
    for p in policies:
        lz = fg.lorenz(np.concatenate([d.exposure for d in details[p]]))
        report["lorenz"][p] = {"population": lz.population, "exposure": lz.exposure, "gini": lz.gini}
    report["coverage"] = {p: _nanmean([d.coverage for d in details[p]]) for p in policies}
    report["new_creator_share"] = {p: _nanmean([d.new_creator_share for d in details[p]]) for p in policies}
    report["amplification"] = {p: {k: _nanmean([r.amplification.get(k, math.nan) for seed in per_seed
                                                for r in seed if r.policy == p]) for k in SCALARS}
                               for p in policies}
    return report, arrays
