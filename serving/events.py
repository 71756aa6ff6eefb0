"""``POST /events``: validated, idempotent, rate-limited event batches into the service's live state.

A batch is checked against the per-account rate limit first (all or nothing: a refused batch changes
nothing and the client sends it again later), then validated against the contract. Accepted events update
the post counters, the online features of every slot, the live follow state (so an unfollow hides
fans-only posts at once) and the seen history. Replays are reported as duplicates and change nothing;
rows that break the contract come back with their reason. Rows in = accepted + duplicates + quarantined.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from features.columns import EventArrays
from features.contract import enum_codes
from features.ingest import Ingestor
from serving.data import ServiceData, record_impressions

MINUTE_MS = 60_000


class RateLimited(Exception):
    """A batch would take an account past its per-minute event limit."""

    def __init__(self, account: int, limit: int) -> None:
        super().__init__(f"events: account {account} is over its limit of {limit} events per minute")
        self.account = account


@dataclass(frozen=True)
class EventsResult:
    rows_in: int
    accepted: int
    duplicates: int
    quarantined: list[dict[str, object]]


class RateLimiter:
    """Sliding one-minute window of event counts per account."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[int, deque[tuple[float, int]]] = defaultdict(deque)

    def admit(self, accounts: np.ndarray, now_s: float) -> None:
        """Count the batch's events per account, or raise :class:`RateLimited` and count nothing."""
        ids, counts = np.unique(accounts, return_counts=True)
        totals = {}
        for account, n in zip(ids.tolist(), counts.tolist(), strict=True):
            window = self._hits[account]
            while window and window[0][0] <= now_s - 60:
                window.popleft()
            totals[account] = sum(c for _, c in window) + n
            if totals[account] > self.per_minute:
                raise RateLimited(account, self.per_minute)
        for account, n in zip(ids.tolist(), counts.tolist(), strict=True):
            self._hits[account].append((now_s, n))


class EventIntake:
    """Everything ``POST /events`` does, behind one lock (batches apply one at a time)."""

    def __init__(self, data: ServiceData, per_minute: int) -> None:
        t = data.tables
        self.data = data
        self.catalog = data.features_catalog
        ids = {name: t[name].column(0).to_numpy() for name in ("users", "posts", "products", "accounts")}
        self.ingestor = Ingestor(self.catalog, ids)
        self.limiter = RateLimiter(per_minute)
        self._lock = threading.Lock()

    def _accounts(self, raw: pa.Table) -> np.ndarray:
        """The account each event is about (its post's or product's author, or the account itself)."""
        if raw.num_rows == 0 or "target_id" not in raw.column_names or "target_type" not in raw.column_names:
            return np.zeros(0, np.int64)
        try:
            ttype = enum_codes(raw.column("target_type"), "target_type").astype(np.int64)
            target = np.asarray(raw.column("target_id").to_numpy(zero_copy_only=False), np.int64)
        except (ValueError, TypeError, pa.ArrowInvalid):
            return np.zeros(0, np.int64)  # malformed rows are quarantined by validation; nothing to limit
        return self.catalog.target_account(ttype, target)

    def ingest(self, raw: pa.Table, now_ms: int) -> EventsResult:
        """Apply one batch; raises :class:`RateLimited` (nothing applied) or a contract error naming the column."""
        with self._lock:
            self.limiter.admit(self._accounts(raw), time.monotonic())
            report = self.ingestor.ingest(raw, now_ms=now_ms)
            if report.accepted:
                for online in self.data.online.values():
                    online.update(report.accepted_rows)
                record_impressions(self.data.seen, self.catalog, EventArrays.from_table(report.accepted_rows))
        q = report.quarantine
        reasons = q.column("reason").to_pylist() if q.num_rows else []
        rows = q.drop_columns(["reason"]).to_pylist() if q.num_rows else []
        return EventsResult(report.rows_in, report.accepted, report.duplicates,
                            [{"row": r, "reason": why} for r, why in zip(rows, reasons, strict=True)])

