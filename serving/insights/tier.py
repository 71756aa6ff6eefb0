"""Tier and state, and what it takes to move up: the next tier's conditions beside the account's figures.

The monthly assessment (``training/tiers.py``) promotes a W2–W3 account whose state is excellent and who meets
the next tier's entry conditions, graduates W1 on W2's entry conditions alone, and releases H1 after its
penalty months. The thresholds come from :class:`~ranking.tier_settings.TierSettings`; the account's figures
are the service's live ones (fans now, 30-day fan engagement and revisit rates). Fan activity and fan
purchases are measured only by the monthly job, so those conditions show the level needed and no figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from features.contract import ENUMS
from ranking.tier_rules import H1, STATE_METRICS, W1, W4
from ranking.tier_settings import TierSettings

LABEL = {"fan_activity": "fan activity", "fan_interaction_rate": "fan interaction rate",
         "fan_revisit_rate": "fan revisit rate", "fan_purchases": "fan purchases"}
#: The live figure standing in for each monthly metric (None: not measured live).
LIVE = {"fans": "acct_followers", "fan_interaction_rate": "acct_fan_engagement_rate_30d",
        "fan_revisit_rate": "acct_fan_revisit_rate_30d", "fan_activity": None, "fan_purchases": None}


def _condition(metric: str, need: float, figures: Mapping[str, float | None], what: str) -> dict[str, Any]:
    live = LIVE[metric]
    have = figures.get(live) if live else None
    return {"metric": metric, "label": LABEL.get(metric, metric), "need": float(need), "have": have,
            "met": None if have is None else bool(have >= need), "for": what}


def _entry(tier: str, settings: TierSettings, figures: Mapping[str, float | None]) -> list[dict[str, Any]]:
    rule = settings.rule(tier)
    return [_condition("fans", rule.min_fans, figures, f"{tier} entry"),
            _condition("fan_interaction_rate", rule.min_fan_interaction_rate, figures, f"{tier} entry")]


def _state_levels(tier: str, level: str, settings: TierSettings,
                  figures: Mapping[str, float | None]) -> list[dict[str, Any]]:
    rule = settings.rule(tier)
    return [_condition(m, getattr(getattr(rule, m), level), figures, f"{tier} state {level}")
            for m in STATE_METRICS if getattr(rule, m).weight > 0]


def tier_progress(tier: int, state: str | None, figures: Mapping[str, float | None],
                  settings: TierSettings) -> dict[str, Any]:
    """``{tier, state, next_tier, conditions, summary}``: what the account needs at the next assessment."""
    name = ENUMS["tier"][tier]
    if tier == H1:
        return {"tier": name, "state": None, "next_tier": "W1", "conditions": [],
                "summary": f"H1 (penalty box): released to W1 after {settings.h1_penalty_months} monthly "
                           "assessments in a row with no abuse flag."}
    if tier == W1:
        conditions, nxt = _entry("W2", settings, figures), "W2"
    elif tier == W4:  # nothing above: what keeps the tier (fair) or earns the rewards (excellent)
        level = "fair" if state == "poor" else "excellent"
        conditions, nxt = _state_levels("W4", level, settings, figures), None
    else:
        nxt = ENUMS["tier"][tier + 1]
        conditions = _state_levels(name, "excellent", settings, figures) + _entry(nxt, settings, figures)
    return {"tier": name, "state": state, "next_tier": nxt, "conditions": conditions,
            "summary": _summary(name, state, nxt, conditions)}


def _summary(name: str, state: str | None, nxt: str | None, conditions: list[dict[str, Any]]) -> str:
    missing = [c for c in conditions if c["met"] is False]
    unknown = [c["label"] for c in conditions if c["met"] is None]
    head = f"{name}" + (f", state {state}" if state else "")
    if state == "poor":
        head += " (the next assessment demotes unless the state reaches fair)"
    if nxt is None:
        goal = "highest tier: " + ("; ".join(f"{c['label']} {_fmt(c, c['have'])} of {_fmt(c, c['need'])} needed"
                                             for c in missing) or "stay excellent for the traffic rewards")
    elif missing:
        goal = f"for {nxt}: " + "; ".join(f"{c['label']} {_fmt(c, c['have'])} of {_fmt(c, c['need'])} needed"
                                          for c in missing)
    else:
        goal = f"on the live figures, {nxt}'s conditions are met"
    tail = f" ({', '.join(unknown)}: measured at the monthly assessment)" if unknown else ""
    return f"{head}; {goal}{tail}."


def _fmt(condition: Mapping[str, Any], x: float) -> str:
    return f"{x:,.0f}" if condition["metric"] in ("fans", "fan_purchases") else f"{x:.2%}"
