"""Who gets seen: shares of impressions by account kind and by tier, logged pages against new pages."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.contract import ENUMS


def shares(values: np.ndarray, allowed: tuple[str, ...]) -> dict[str, float]:
    """Share of rows per allowed value (0 for values never seen); an empty input gives all zeros."""
    counts = pd.Series(values).value_counts()
    total = max(int(counts.sum()), 1)
    return {v: float(counts.get(v, 0) / total) for v in allowed}


def exposure(cands: pd.DataFrame, new_pos: np.ndarray) -> dict[str, Any]:
    """Impression shares by account kind and tier on the logged and on the new pages, and new − logged.

    The new pages have the logged pages' lengths, so both sides count the same number of impressions.
    """
    logged = cands["logged_position"].to_numpy() >= 0
    shown = np.asarray(new_pos) >= 0
    out: dict[str, Any] = {}
    for column, enum in (("account_kind", "account_kind"), ("tier", "tier")):
        before = shares(cands[column].to_numpy()[logged], ENUMS[enum])
        after = shares(cands[column].to_numpy()[shown], ENUMS[enum])
        out[column] = {v: {"logged": before[v], "new": after[v], "difference": after[v] - before[v]}
                       for v in ENUMS[enum]}
    out["impressions"] = {"logged": int(logged.sum()), "new": int(shown.sum())}
    return out
