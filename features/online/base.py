"""The contract of an online feature store: counters per (counter, entity key, bucket), and 'seen' sets.

A store holds the counts of one feature set (its :class:`StoreLayout` names the namespace and how long each
counter's buckets must be kept). The updater increments counts in batches and reads windowed sums for many
keys at once; the same :class:`features.counts.CountTable` arithmetic gives the same sums offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from features.definitions import ALL, FeatureError, FeatureSet, window_buckets
from features.settings import FeatureSettings


@dataclass(frozen=True)
class StoreLayout:
    """Where a feature set's counts live and what must be kept.

    ``keep[c]``: buckets counter ``c`` must keep behind the newest one (its longest finite window, plus slack);
    ``totals[c]``: whether it is also read since the beginning (then a running total is kept forever).
    """

    namespace: str
    keep: tuple[int, ...]
    totals: tuple[bool, ...]
    bucket_ms: int
    dedup_buckets: int

    @classmethod
    def of(cls, fs: FeatureSet, settings: FeatureSettings) -> StoreLayout:
        keep = [0] * len(fs.counters)
        totals = [False] * len(fs.counters)
        for rd in fs.reads:
            if rd.window_hours is None:
                totals[rd.counter] = True
            else:
                keep[rd.counter] = max(keep[rd.counter], window_buckets(rd.window_hours, settings.bucket_ms))
        day = max(86_400_000 // settings.bucket_ms, 1)
        # Slack: reads at the current bucket see up to a window back; late events may land a day behind.
        keep = [k + 2 * day for k in keep]
        dedup = max(settings.dedup_horizon_hours * 3_600_000 // settings.bucket_ms, 1)
        namespace = f"{fs.name}.v{fs.version}.{fs.fingerprint}.b{settings.bucket_ms}"
        return cls(namespace, tuple(keep), tuple(totals), settings.bucket_ms, dedup)


def check_read(layout: StoreLayout, counter: int, lo: np.ndarray) -> None:
    """Refuse a read since the beginning of a counter that keeps no running total."""
    if not layout.totals[counter] and len(lo) and int(np.min(lo)) <= ALL:
        raise FeatureError(f"counter {counter} keeps no total: it cannot be read since the beginning")


@runtime_checkable
class OnlineStore(Protocol):
    """Counters and seen-sets of one feature set (see :class:`StoreLayout`)."""

    layout: StoreLayout

    def increment(self, counter: int, keys: np.ndarray, buckets: np.ndarray, values: np.ndarray,
                  now: int | None = None) -> None:
        """Add ``values`` to counter ``counter`` at (``keys[i]``, ``buckets[i]``) (one batch).

        ``now`` is the stream's current bucket (newest event seen): buckets older than ``now - keep`` may be
        dropped (or folded into the running total). Increments without ``now`` (seeding) expire nothing.
        """
        ...

    def window_sums(self, counter: int, keys: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Sum of counter ``counter`` over buckets ``lo[i] <= b < hi[i]`` of ``keys[i]`` (int64).

        ``lo`` may be :data:`ALL` (since the beginning) only for counters with ``totals``.
        """
        ...

    def add_new(self, space: str, members: np.ndarray, buckets: np.ndarray | None = None) -> np.ndarray:
        """Add ``members`` to set ``space`` and say which were not in it before (the first of duplicates is new).

        With ``buckets`` the members are remembered for ``layout.dedup_buckets`` (event ids); without, forever.
        """
        ...

    def healthy(self) -> bool:
        """Whether the store answers now (a shared store can go away; an in-process one cannot)."""
        ...

    def clear(self) -> None:
        """Forget everything of this namespace."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class FeatureReader(Protocol):
    """What a scorer reads features through: one feature set's matrix of request rows (an
    :class:`features.online.updater.OnlineFeatures`, or a view of a shared store)."""

    feature_set: FeatureSet

    def get(self, rows: Any) -> np.ndarray:
        """Feature matrix (float32, rows × ``feature_set.columns``) of request rows."""
        ...
