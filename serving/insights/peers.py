"""Every account figure beside its peers: quartiles of the accounts of the same tier and of the same category.

The figures of all accounts are one online-feature read (one row per account) and the quartiles one
``nanpercentile`` per peer group over all figures at once. Both depend only on the feature buckets, so a
:class:`PeerCache` keeps them for the current time bucket (an hour by default) and recomputes when the
request time moves into the next one; concurrent requests share one computation.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from features.contract import ENUMS, enum_codes
from serving.data import ServiceData
from serving.insights.features import ACCOUNT_FIELDS, number, read_features

HOUR_MS = 3_600_000
QUANTILES = (25.0, 50.0, 75.0)


@dataclass(frozen=True)
class PeerTable:
    """The figures (accounts × :data:`ACCOUNT_FIELDS`) of every account, with its tier and category."""

    account_ids: np.ndarray
    tier: np.ndarray
    category: np.ndarray
    figures: np.ndarray


def peer_table(data: ServiceData, now_ms: int) -> PeerTable:
    """Every account's figures at ``now_ms``."""
    accounts = data.tables["accounts"]
    ids = accounts.column("account_id").to_numpy().astype(np.int64)
    values = read_features(data, ids, np.full(len(ids), -1, np.int64), now_ms, ACCOUNT_FIELDS)
    figures = np.column_stack([values[f] for f in ACCOUNT_FIELDS]) if len(ids) else np.zeros((0, len(ACCOUNT_FIELDS)))
    return PeerTable(ids, enum_codes(accounts.column("tier"), "tier").astype(np.int64),
                     data.catalog.category(ids).astype(np.int64), figures)


class PeerCache:
    """The :class:`PeerTable` of the current time bucket of one service's data."""

    def __init__(self, bucket_ms: int = HOUR_MS) -> None:
        self.bucket_ms = bucket_ms
        self._lock = threading.Lock()
        self._key: tuple[int, int] | None = None
        self._table: PeerTable | None = None

    def get(self, data: ServiceData, now_ms: int) -> PeerTable:
        """The table for ``now_ms``'s bucket, computed on the first request of the bucket."""
        key = (id(data), now_ms // self.bucket_ms)
        with self._lock:
            if self._key != key or self._table is None:
                self._table = peer_table(data, now_ms)
                self._key = key
            return self._table


def _group(table: PeerTable, mask: np.ndarray, values: np.ndarray) -> list[dict[str, Any]]:
    """Per figure: peers with a finite value, quartiles, and the share of peers below the account's value."""
    sub = table.figures[mask]
    finite = np.isfinite(sub)
    n = finite.sum(axis=0)
    if len(sub):
        q = np.nanpercentile(np.where(finite, sub, np.nan), QUANTILES, axis=0)
    else:
        q = np.full((len(QUANTILES), sub.shape[1]), np.nan)
    below = (np.where(finite, sub, np.inf) < values).sum(axis=0) + 0.5 * (sub == values).sum(axis=0)
    share = np.divide(below, n, out=np.full(len(values), np.nan), where=n > 0)
    return [{"peers": int(n[j]), "q1": number(q[0, j]), "median": number(q[1, j]), "q3": number(q[2, j]),
             "share_below": number(share[j]) if np.isfinite(values[j]) else None} for j in range(len(values))]


def peer_figures(table: PeerTable, account_id: int, values: Mapping[str, float | None]) -> dict[str, Any]:
    """Each figure of ``values`` beside the other accounts of its tier and of its category."""
    row = np.flatnonzero(table.account_ids == account_id)
    tier, category = int(table.tier[row[0]]), int(table.category[row[0]])
    v = np.array([np.nan if values[f] is None else values[f] for f in ACCOUNT_FIELDS], dtype=np.float64)
    others = table.account_ids != account_id
    by_tier = _group(table, others & (table.tier == tier), v)
    by_category = _group(table, others & (table.category == category), v)
    figures = [{"field": f, "value": values[f], "tier": t, "category": c}
               for f, t, c in zip(ACCOUNT_FIELDS, by_tier, by_category, strict=True)]
    return {"tier": ENUMS["tier"][tier], "category": category, "figures": figures}
