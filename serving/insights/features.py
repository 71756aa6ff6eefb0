"""Reading the online features behind the insights: one matrix for any accounts and posts, and counts back.

The follow-feed feature set carries every account and post figure a seller sees, so the numbers are the
ones the ranker reads. Rates are declared as ``(num + prior_num) / (den + prior_den)``; where the
denominator is itself a feature, the count in the numerator is recovered exactly from the rate.
"""

from __future__ import annotations

import numpy as np

from features.contract import code
from features.definitions import FeatureSet, Ratio
from ranking.scorers.model import feature_rows
from serving.data import ServiceData

ACCOUNT_FIELDS = ("acct_followers", "acct_fan_engagement_rate_30d", "acct_offsite_share_30d",
                  "acct_fan_revisit_rate_30d", "link_lead_visits_30d", "link_interlock_rate_30d",
                  "link_engage_rate_30d", "link_keep_rate_30d")
POST_FIELDS = ("post_fan_impressions", "post_fan_clicks", "post_fan_engagement_rate", "post_nonfan_impressions",
               "post_nonfan_clicks", "post_nonfan_engagement_rate", "post_rate_vs_account", "post_rate_vs_tier")
#: Post figures read for the posting-hour and amplification insights but not listed per post.
EXTRA_POST_FIELDS = ("post_fan_engagements", "post_nonfan_engagements", "post_posting_hour",
                     "tkf_engagement_rate_30d")


def feature_set(data: ServiceData) -> FeatureSet:
    """The feature set the insights read (the follow-feed one)."""
    return data.online["follow_feed"].feature_set


def read_features(data: ServiceData, account_ids: np.ndarray, post_ids: np.ndarray, now_ms: int,
                  names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Features ``names`` (float64) of rows (account, post) at ``now_ms``; post id -1 reads account figures only."""
    online = data.online["follow_feed"]
    fs = online.feature_set
    n = len(post_ids)
    account_ids = np.asarray(account_ids, np.int64)
    rows = feature_rows(fs, np.full(n, -1, np.int64), np.full(n, code("target_type", "post"), np.int8),
                        np.asarray(post_ids, np.int64), account_ids, data.catalog.category(account_ids),
                        np.asarray(now_ms, np.int64), None)
    matrix = online.get(rows).astype(np.float64) if n else np.zeros((0, len(fs.features)))
    index = {f.name: i for i, f in enumerate(fs.features)}
    return {name: matrix[:, index[name]] for name in names}


def ratio_numerator(fs: FeatureSet, name: str, rate: float | None, den: float | None) -> float | None:
    """The count in the numerator of ratio feature ``name`` given its value and its denominator's value."""
    spec = next(f.spec for f in fs.features if f.name == name)
    if not isinstance(spec, Ratio):
        raise TypeError(f"{name}: not a ratio feature")
    if rate is None or den is None:
        return None
    return max(round(rate * (den + spec.prior_den) - spec.prior_num), 0)


def number(x: float) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    return float(x) if np.isfinite(x) else None
