"""The targets of ``weitao bench serve`` (from the serving issue), checked against a run's figures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Figures = dict[str, Any]


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


#: (name, what the target says, value from the figures, bound, services it needs)
TARGETS: tuple[tuple[str, str, Callable[[Figures], float], float, tuple[str, ...]], ...] = (
    ("p50 / naive p50", "≤ 0.35", lambda r: _ratio(r["ours"]["p50_ms"], r["naive"]["p50_ms"]), 0.35,
     ("naive", "ours")),
    ("p50 / (floor p50 + predict p50)", "≤ 1.5",
     lambda r: _ratio(r["ours"]["p50_ms"], r["floor"]["p50_ms"] + r["ours"]["predict_p50_ms"]), 1.5,
     ("floor", "ours")),
    ("max rps 2w / naive max rps 2w", "≥ 2.8", lambda r: _ratio(r["ours"]["max_rps_2w"], r["naive"]["max_rps_2w"]),
     2.8, ("naive", "ours")),
    ("max rps 2w", "≥ 400", lambda r: r["ours"]["max_rps_2w"], 400.0, ("ours",)),
    ("p99 ms at 300 rps (2w)", "≤ 25", lambda r: r["ours"]["p99_ms_at_300rps"], 25.0, ("ours",)),
    ("non-model p50 ms", "≤ 0.5", lambda r: r["ours"]["non_model_p50_ms"], 0.5, ("ours",)),
    ("RSS MB per worker", "≤ 800", lambda r: r["ours"]["rss_mb"], 800.0, ("ours",)),
)


def checks(result: Figures) -> list[dict[str, Any]]:
    """One entry per target whose services were measured: value, target and whether it is met."""
    out = []
    for name, target, value_of, bound, needs in TARGETS:
        if not all(s in result for s in needs):
            continue
        value = float(value_of(result))
        met = value <= bound if target.startswith("≤") else value >= bound
        out.append({"name": name, "value": value, "target": target, "met": met})
    return out
