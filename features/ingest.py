"""Events in, counters out: idempotent ingest of events into per-post counters by audience and hour.

Every batch passes the contract validation (an event id reused with different content is quarantined with
a reason; an identical replay is a duplicate and changes nothing). Accepted events are counted per post,
audience and action in time buckets. The audience of an event is ``fan`` when the user followed the post's
account at the event time, otherwise the post's exposure level at that time (``nonfan`` while private,
``probe``, ``pool1``, ``pool2``, ``pool3``) as told by ``level_at``. Counters are sums, so out-of-order
batches give the same counters as sorted ones; events behind the watermark are counted and reported late.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.accepted import AcceptedEvents
from features.catalog import Catalog
from features.contract import ENUMS, code, enum_codes
from features.validate import validate_table

AUDIENCES = ("fan", "nonfan", "probe", "pool1", "pool2", "pool3")
N_ACTIONS = len(ENUMS["action"])
LevelFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class IngestReport:
    """What one batch did; ``rows_in = accepted + duplicates + quarantined`` always holds."""

    rows_in: int
    accepted: int
    duplicates: int
    quarantined: int
    late: int
    quarantine: pa.Table
    accepted_rows: pa.Table  # the new events of this batch, in the contract schema (what downstream state applies)


class PostCounters:
    """Sparse counts keyed by (post, audience, action, bucket), merged as batches arrive.

    Batches land in sorted runs merged size-tiered (a run is merged into the one before it while it is at least
    half its size), so a long-running intake pays O(log n) amortised merges per count instead of re-sorting
    everything it has ever counted on every batch; reads merge whatever runs remain.
    """

    def __init__(self, bucket_ms: int) -> None:
        self.bucket_ms = bucket_ms
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []

    @staticmethod
    def pack(post: np.ndarray, audience: np.ndarray, action: np.ndarray, bucket: np.ndarray) -> np.ndarray:
        return ((post.astype(np.int64) * len(AUDIENCES) + audience) * N_ACTIONS + action) * (1 << 24) + bucket

    def add(self, post: np.ndarray, audience: np.ndarray, action: np.ndarray, time_ms: np.ndarray) -> None:
        keys = self.pack(post, audience, action, time_ms // self.bucket_ms)
        if not len(keys):
            return
        self._runs.append(_merge([(keys, np.ones(len(keys), np.int64))]))
        while len(self._runs) > 1 and 2 * len(self._runs[-1][0]) >= len(self._runs[-2][0]):
            last = self._runs.pop()
            self._runs[-1] = _merge([self._runs[-1], last])

    @property
    def keys(self) -> np.ndarray:
        return self._merged()[0]

    @property
    def counts(self) -> np.ndarray:
        return self._merged()[1]

    def _merged(self) -> tuple[np.ndarray, np.ndarray]:
        if len(self._runs) != 1:
            self._runs = [_merge(self._runs)] if self._runs else [(np.zeros(0, np.int64), np.zeros(0, np.int64))]
        return self._runs[0]

    def total(self, post: np.ndarray, audience: str, action: str, lo_ms: int = 0,
              hi_ms: int = 1 << 62) -> np.ndarray:
        """Counts per post of ``action`` by ``audience`` in buckets overlapping [lo_ms, hi_ms)."""
        a, act = AUDIENCES.index(audience), code("action", action)
        base = self.pack(np.asarray(post), np.full(len(post), a), np.full(len(post), act), np.zeros(len(post), int))
        lo = np.searchsorted(self.keys, base + lo_ms // self.bucket_ms)
        hi = np.searchsorted(self.keys, base + min(-(-hi_ms // self.bucket_ms), (1 << 24) - 1))
        cum = np.concatenate([[0], np.cumsum(self.counts)])
        return cum[hi] - cum[lo]

    def table(self) -> pa.Table:
        """The counters as a table: post_id, audience, action, bucket_start, count."""
        bucket = self.keys % (1 << 24)
        rest = self.keys // (1 << 24)
        action, rest = rest % N_ACTIONS, rest // N_ACTIONS
        audience, post = rest % len(AUDIENCES), rest // len(AUDIENCES)
        return pa.table({"post_id": post, "audience": pa.array(np.asarray(AUDIENCES)[audience]),
                         "action": pa.array(np.asarray(ENUMS["action"])[action]),
                         "bucket_start": pa.array(bucket * self.bucket_ms).cast(pa.timestamp("ms", tz="UTC")),
                         "count": self.counts})


def _merge(runs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """One sorted run of distinct keys with summed counts."""
    keys = np.concatenate([k for k, _ in runs])
    uniq, inverse = np.unique(keys, return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate([c for _, c in runs]), minlength=len(uniq))
    return uniq, counts.astype(np.int64)


class Ingestor:
    """Validates, deduplicates and counts event batches against a catalogue."""

    def __init__(self, catalog: Catalog, known_ids: dict[str, np.ndarray], *, bucket_ms: int = 3_600_000,
                 allowed_lateness_ms: int = 3_600_000, level_at: LevelFn | None = None,
                 horizon_ms: int | None = None) -> None:
        self.catalog, self.known_ids = catalog, known_ids
        self.counters = PostCounters(bucket_ms)
        self.allowed_lateness_ms = allowed_lateness_ms
        self.level_at = level_at
        self.accepted = AcceptedEvents(horizon_ms)  # the reference for replays, found by id
        self.watermark_ms = -(1 << 62)

    def ingest(self, events: pa.Table, *, now_ms: int) -> IngestReport:
        """Count a batch; replays and reused ids change nothing (they are reported, and quarantined)."""
        result = validate_table("events", events, known_ids=self.known_ids, now_ms=now_ms,
                                existing=self.accepted.matching(events))
        accepted, quarantine = result.accepted, result.quarantine
        reasons = quarantine.column("reason").to_pylist() if quarantine.num_rows else []
        duplicate = np.array(["identical" in r and "reused" not in r for r in reasons], dtype=bool)
        times = pc.cast(accepted.column("event_time"), pa.int64()).to_numpy()
        late = int(np.sum(times < self.watermark_ms))
        self._count(accepted, times)
        if accepted.num_rows:
            self.accepted.add(accepted)
            self.watermark_ms = max(self.watermark_ms, int(times.max()) - self.allowed_lateness_ms)
        real = quarantine.filter(pa.array(~duplicate)) if quarantine.num_rows else quarantine
        return IngestReport(events.num_rows, accepted.num_rows, int(duplicate.sum()), real.num_rows, late, real,
                            accepted)

    def _count(self, accepted: pa.Table, times: np.ndarray) -> None:
        ttype = enum_codes(accepted.column("target_type"), "target_type")
        posts = ttype == code("target_type", "post")
        if not posts.any():
            return
        post = accepted.column("target_id").to_numpy()[posts]
        user = accepted.column("user_id").to_numpy()[posts]
        t = times[posts]
        account = self.catalog.target_account(ttype[posts].astype(np.int64), post)
        fan = self.catalog.follows.is_fan(user, account, t)
        level = self.level_at(post, t) if self.level_at is not None else np.zeros(len(post), np.int64)
        audience = np.where(fan, 0, 1 + np.clip(level, 0, len(AUDIENCES) - 2))
        action = enum_codes(accepted.column("action"), "action")[posts].astype(np.int64)
        self.counters.add(post, audience, action, t)
