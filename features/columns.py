"""Contract columns as numpy arrays: epoch milliseconds, integer ids, packed pair keys, event columns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.contract import enum_codes
from features.definitions import FeatureError

OPEN = np.iinfo(np.int64).max
PAIR_BITS = 24  # second id of a packed pair key (account or category) must be below 2**24


def pair_key(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One int64 key for the pair (a, b) (user × account, user × category); -1 where either is unknown."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    valid = (a >= 0) & (b >= 0)
    if len(a) and (int(np.max(b, initial=0)) >> PAIR_BITS or int(np.max(a, initial=0)) >> (62 - PAIR_BITS)):
        raise FeatureError(f"ids too large for a pair key (second id must be < 2**{PAIR_BITS})")
    return np.where(valid, (a << PAIR_BITS) | np.where(valid, b, 0), -1)


def ms_column(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A timestamp (or int) column as int64 epoch milliseconds."""
    return pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def int_column(column: pa.ChunkedArray | pa.Array, null: int = -1) -> np.ndarray:
    """An integer (or bool) column as int64, nulls as ``null``."""
    values = pc.cast(column, pa.int64())
    if values.null_count:
        values = values.fill_null(null)
    return values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


@dataclass(frozen=True)
class EventArrays:
    """The event columns features need, as numpy arrays (enum columns as int8 codes, times in ms)."""

    event_id: np.ndarray
    user: np.ndarray
    ttype: np.ndarray
    target: np.ndarray
    action: np.ndarray
    source: np.ndarray
    time: np.ndarray

    @classmethod
    def from_table(cls, events: pa.Table) -> EventArrays:
        return cls(int_column(events.column("event_id")), int_column(events.column("user_id")),
                   enum_codes(events.column("target_type"), "target_type"), int_column(events.column("target_id")),
                   enum_codes(events.column("action"), "action"), enum_codes(events.column("source"), "source"),
                   ms_column(events.column("event_time")))

    def __len__(self) -> int:
        return len(self.event_id)

    def take(self, index: np.ndarray) -> EventArrays:
        return EventArrays(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    def narrow(self) -> EventArrays:
        """Ids as int32 where they fit (less to ship to a Dask worker); :meth:`widen` undoes it."""
        def small(a: np.ndarray) -> np.ndarray:
            fits = len(a) and a.dtype == np.int64 and a.min() >= 0 and a.max() < 2**31
            return a.astype(np.int32) if fits else a
        return EventArrays(small(self.event_id), small(self.user), self.ttype, small(self.target), self.action,
                           self.source, self.time)

    def widen(self) -> EventArrays:
        return EventArrays(*(a.astype(np.int64) if a.dtype == np.int32 else a for a in
                             (getattr(self, f) for f in self.__dataclass_fields__)))
