"""Pure grading rules of the account tiers (W1–W4, H1): thresholds as arrays, states, entry conditions.

Shared by the monthly assessment (``training/tiers.py``, which measures the metrics) and the service's
seller insights (which show an account what its next tier needs); thresholds come from
:class:`~ranking.tier_settings.TierSettings`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ranking.tier_settings import TierSettings

W1, W2, W3, W4, H1 = range(5)
POOR, FAIR, EXCELLENT = range(3)
#: Metrics behind the W2–W4 states.
STATE_METRICS = ("fan_activity", "fan_interaction_rate", "fan_revisit_rate", "fan_purchases")


def rule_table(settings: TierSettings) -> dict[str, np.ndarray]:
    """Thresholds as arrays indexed by tier code (NaN for W1 and H1, which have no rule)."""
    out: dict[str, np.ndarray] = {}
    for code, tier in ((W2, "W2"), (W3, "W3"), (W4, "W4")):
        rule = settings.rule(tier)
        values = {"min_fans": rule.min_fans, "min_fan_interaction_rate": rule.min_fan_interaction_rate}
        for m in STATE_METRICS:
            grade = getattr(rule, m)
            values |= {f"{m}.fair": grade.fair, f"{m}.excellent": grade.excellent, f"{m}.weight": grade.weight}
        for key, value in values.items():
            out.setdefault(key, np.full(5, np.nan))[code] = value
    return out


def grade_states(metrics: Mapping[str, np.ndarray], tier: np.ndarray,
                 settings: TierSettings) -> tuple[np.ndarray, np.ndarray]:
    """``(state, composite)`` of each account measured with the thresholds of ``tier`` (-1 / NaN outside W2–W4)."""
    rules, tier = rule_table(settings), np.asarray(tier, np.int64)
    has = (tier >= W2) & (tier <= W4)
    t = np.where(has, tier, W2)
    points, weights = np.zeros(len(tier)), np.zeros(len(tier))
    for m in STATE_METRICS:
        v = np.asarray(metrics[m], float)
        grade = (v >= rules[f"{m}.fair"][t]).astype(float) + (v >= rules[f"{m}.excellent"][t])
        points += rules[f"{m}.weight"][t] * grade
        weights += rules[f"{m}.weight"][t]
    composite = np.where(has, points / weights, np.nan)
    state = np.select([composite >= settings.excellent_min_score, composite >= settings.fair_min_score],
                      [EXCELLENT, FAIR], POOR)
    return np.where(has, state, -1), composite


def entry_met(metrics: Mapping[str, np.ndarray], target: np.ndarray,
              settings: TierSettings) -> tuple[np.ndarray, np.ndarray]:
    """``(fans_ok, interaction_ok)``: whether each account meets the entry conditions of tier ``target``."""
    rules, t = rule_table(settings), np.clip(np.asarray(target, np.int64), W2, W4)
    return (np.asarray(metrics["fans"]) >= rules["min_fans"][t],
            np.asarray(metrics["fan_interaction_rate"]) >= rules["min_fan_interaction_rate"][t])
