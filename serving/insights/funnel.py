"""The LINK+ funnel (LEAD, INTERLOCK, ENGAGE, KEEP) and the 30-day fan revisit rate, from the online features.

Stage counts are recovered from the rates' declared priors (:func:`~serving.insights.features.ratio_numerator`):
LEAD is account-page visits, INTERLOCK the follows they brought (rate: follows per visit), ENGAGE fans'
second and later visits (rate: per fan), KEEP the share of purchases made by repeat buyers (the purchase count
is not a feature, so KEEP has a rate and no count).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from features.definitions import FeatureSet
from serving.insights.features import ratio_numerator

STAGES = (
    ("LEAD", "visitors brought in", "account-page visits, 30 d", None),
    ("INTERLOCK", "became fans", "follows per account-page visit", "link_interlock_rate_30d"),
    ("ENGAGE", "came back", "fans' second and later visits per fan", "link_engage_rate_30d"),
    ("KEEP", "bought again", "share of purchases made by repeat buyers", "link_keep_rate_30d"),
)


def link_funnel(a: Mapping[str, float | None], fs: FeatureSet) -> list[dict[str, Any]]:
    """The four LINK+ stages of an account: count (None where not a feature), rate and what each means."""
    visits, fans = a["link_lead_visits_30d"], a["acct_followers"]
    counts: dict[str, float | None] = {"LEAD": visits,
              "INTERLOCK": ratio_numerator(fs, "link_interlock_rate_30d", a["link_interlock_rate_30d"], visits),
              "ENGAGE": ratio_numerator(fs, "link_engage_rate_30d", a["link_engage_rate_30d"], fans),
              "KEEP": None}
    return [{"stage": stage, "label": label, "count": _float(counts[stage]),
             "rate": a[field] if field else None, "rate_means": means}
            for stage, label, means, field in STAGES]


def _float(x: float | None) -> float | None:
    return None if x is None else float(x)


def fan_revisit(a: Mapping[str, float | None], fs: FeatureSet) -> dict[str, Any]:
    """The 30-day fan revisit rate: account-page visits by fans per fan, with its two counts."""
    fans, rate = a["acct_followers"], a["acct_fan_revisit_rate_30d"]
    return {"rate_30d": rate, "fans": fans,
            "fan_visits_30d": ratio_numerator(fs, "acct_fan_revisit_rate_30d", rate, fans),
            "means": "account-page visits by fans in the last 30 days, per fan"}
