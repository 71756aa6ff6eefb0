"""``POST /events``: validated, idempotent, rate-limited event batches into the service's live state.

A batch is checked against the per-account rate limit first (all or nothing: a refused batch changes
nothing and the client sends it again later), then validated against the contract. Accepted events update
the post counters, the online features of every slot, the live follow state (so an unfollow hides
fans-only posts at once) and the seen history. Replays are reported as duplicates and change nothing;
rows that break the contract come back with their reason. Rows in = accepted + duplicates + quarantined.

Accepted rows are written to the durable event log before they are applied and before the answer, so
nothing the client saw accepted is lost. If applying fails (the Redis store is down), the rows wait in
memory and :meth:`EventIntake.catch_up` applies them once the store answers again; ``catch_up`` also
applies what the other workers logged.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from features.columns import EventArrays
from features.contract import enum_codes
from features.ingest import Ingestor
from serving.data import ServiceData, record_impressions
from serving.eventlog import EventLog
from serving.ratelimit import RateLimited, SharedRateLimiter

log = logging.getLogger(__name__)

__all__ = ["EventIntake", "EventsResult", "RateLimited"]


@dataclass(frozen=True)
class EventsResult:
    """What one batch did: ``rows_in = accepted + duplicates + len(quarantined)``; each quarantined entry is a dict
    with ``row`` and ``reason``."""

    rows_in: int
    accepted: int
    duplicates: int
    quarantined: list[dict[str, object]]
    pending: int = 0  # accepted and logged, applied once the online store answers again


class EventIntake:
    """Everything ``POST /events`` does, behind one lock (batches apply one at a time)."""

    def __init__(self, data: ServiceData, per_minute: int, event_log: EventLog | None = None,
                 horizon_ms: int | None = None) -> None:
        self.data, self.log = data, event_log
        self.pending: list[pa.Table] = []
        self.catalog = data.features_catalog
        # ids remembered as long as the stores do
        self.ingestor = Ingestor(self.catalog, data.ids, horizon_ms=horizon_ms)
        # counted in a file beside the event log, so all workers share one limit per account
        self.limiter = SharedRateLimiter(per_minute, event_log.folder / "rate-limit.bin" if event_log else None)
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
            self.limiter.admit(self._accounts(raw), time.time())
            report = self.ingestor.ingest(raw, now_ms=now_ms)
            if report.accepted:
                if self.log is not None:
                    self.log.append(report.accepted_rows)
                self._apply(report.accepted_rows)
            pending = sum(t.num_rows for t in self.pending)
        q = report.quarantine
        reasons = q.column("reason").to_pylist() if q.num_rows else []
        rows = q.drop_columns(["reason"]).to_pylist() if q.num_rows else []
        return EventsResult(report.rows_in, report.accepted, report.duplicates,
                            [{"row": r, "reason": why} for r, why in zip(rows, reasons, strict=True)], pending)

    def _apply(self, rows: pa.Table) -> None:
        """Update the live state, or keep ``rows`` for later when a store fails (updates are idempotent)."""
        self.pending.append(rows)
        self._drain()

    def _drain(self) -> None:
        try:
            while self.pending:
                batch = self.pending[0]
                self.data.updater.update(batch)  # deduplicated by event id: a retried batch is not counted twice
                arrays = EventArrays.from_table(batch)
                record_impressions(self.data.seen, self.catalog, arrays)
                self.data.gate.add(arrays)  # last: a batch retried after a store failure is not counted twice
                self.pending.pop(0)
        except Exception as e:  # the store is down: the rows are logged, they are applied when it is back
            log.warning("events: %d rows wait for the online store: %s", sum(t.num_rows for t in self.pending), e)

    def catch_up(self, now_ms: int) -> int:
        """Apply what other workers logged and what waits for the store; returns the rows still pending."""
        with self._lock:
            logged = EventLog.read(self.log.unseen()) if self.log is not None else None
            if logged is not None:
                report = self.ingestor.ingest(logged, now_ms=max(now_ms, _newest(logged)))
                if report.accepted:
                    self._apply(report.accepted_rows)
            elif self.pending:
                self._drain()
            return sum(t.num_rows for t in self.pending)


def _newest(table: pa.Table) -> int:
    times = table.column("event_time").cast(pa.int64()).to_numpy()
    return int(times.max(initial=0))

