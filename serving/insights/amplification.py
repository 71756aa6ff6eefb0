"""The amplification history of an account's posts, each with the reason in the gate's own words.

Where the live gate (``serving.gate_live``) has decided a fans-only post, its own last reason is shown.
Otherwise the service knows each post's visibility, whether it is on the hotlist board now (official pick or
amplified), and its fan and non-fan reach and engagement, and each post gets the gate reason that these
figures imply (:class:`~ranking.gate.reasons.Reason`, rendered by :func:`~ranking.gate.explain.explain` with
the gate's thresholds): on the board → promoted or official; a
fans-only post → tested and ended, too old, waiting for fan views, fan signal below the bar, or in a test
with non-fans. A fans-only post that non-fans saw (a test, or the logging policy's random share) is
"seen by non-fans".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ranking.gate.explain import explain
from ranking.gate.reasons import Reason
from ranking.gate.settings import GateSettings
from ranking.gate.signals import PRIVATE, PROBE, wilson_bounds
from ranking.tier_rules import H1

HOUR_MS = 3_600_000
LEVELS = ("fans only", "public", "seen by non-fans", "hotlist (amplified)", "hotlist (official pick)")


def _bounds(eng: float, imp: float, z: float) -> tuple[float, float, float]:
    lo, hi = wilson_bounds(np.array([eng]), np.array([imp]), z)
    return (eng / imp if imp > 0 else 0.0), float(lo[0]), float(hi[0])


def post_reason(p: Mapping[str, Any], tier: int, account_rate: float, gate: GateSettings,
                now_ms: int) -> tuple[int, str]:
    """``(reason code, sentence)`` of one post from its level and figures (see the module docstring)."""
    level, fan_imp, pub_imp = p["level"], p["fan_impressions"], p["nonfan_impressions"]
    fan_rate, fan_lcb, _ = _bounds(p["fan_engagements"], fan_imp, gate.z)
    pub_rate, pub_lcb, pub_ucb = _bounds(p["nonfan_engagements"], pub_imp, gate.z)
    numbers = {"fan_imp": fan_imp, "fan_rate": fan_rate, "fan_lcb": fan_lcb, "probe_imp": pub_imp,
               "pub_rate": pub_rate, "pub_lcb": pub_lcb, "pub_ucb": pub_ucb, "baseline": p["tier_baseline"],
               "need_rate": gate.fan_lift_to_probe * account_rate}
    at = PRIVATE
    if level == "hotlist (official pick)":
        reason = Reason.OFFICIAL
    elif level == "hotlist (amplified)":  # the service has no decision log: say what it sees, not the gate's bound
        return int(Reason.PROMOTED), (f"Amplified to the hotlist: non-fans have seen it {pub_imp:.0f} times and "
                                      f"engaged at {pub_rate:.1%} (public baseline for its tier, kind and format "
                                      f"{p['tier_baseline']:.1%}).")
    elif tier == H1:
        reason = Reason.H1
    elif level == "public":
        return -1, "Published to everyone: non-fans saw it from the start, so the gate does not rank it."
    elif pub_imp >= gate.min_probe_impressions:
        reason = Reason.PROBE_ENDED
    elif (now_ms - p["created_ms"]) > gate.max_age_hours * HOUR_MS:
        reason = Reason.TOO_OLD
    elif fan_imp < gate.min_fan_impressions:
        reason = Reason.NEED_FAN_IMPRESSIONS
    elif fan_lcb < numbers["need_rate"]:
        reason = Reason.FAN_SIGNAL_LOW
    elif pub_imp > 0:
        reason, at = Reason.NEED_PROBE_IMPRESSIONS, PROBE
    else:
        reason = Reason.PROBE_FULL
    return int(reason), explain(reason, at, numbers, gate)


def level_of(on_board: bool, official: bool, fans_only: bool, nonfan_impressions: float) -> str:
    """Where a post got to: one of :data:`LEVELS`."""
    if on_board:
        return LEVELS[4] if official else LEVELS[3]
    if not fans_only:
        return LEVELS[1]
    return LEVELS[2] if nonfan_impressions > 0 else LEVELS[0]


def history(posts: list[dict[str, Any]], tier: int, account_rate: float, gate: GateSettings,
            now_ms: int, decided: Callable[[int], tuple[int, str] | None] | None = None) -> dict[str, Any]:
    """Posts oldest first with level and reason, and how many reached each level.

    ``decided(post_id)`` gives the live gate's own last decision where it made one; its reason is used then,
    and the reason implied by the figures (:func:`post_reason`) otherwise.
    """
    out = []
    for p in sorted(posts, key=lambda q: (q["created_ms"], q["post_id"])):
        own = decided(p["post_id"]) if decided is not None and p["level"] != LEVELS[4] else None
        code, text = own if own is not None else post_reason(p, tier, account_rate, gate, now_ms)
        out.append({"post_id": p["post_id"], "created_ms": p["created_ms"], "level": p["level"],
                    "fan_impressions": p["fan_impressions"], "nonfan_impressions": p["nonfan_impressions"],
                    "reason_code": code, "reason": text})
    counts = {level: sum(q["level"] == level for q in out) for level in LEVELS}
    return {"posts": out, "counts": counts}
