"""Event arrays as the world produces them, and their conversion to the contract's events table."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pyarrow as pa

from features.contract import EVENTS, enum_array, ms

ACTION = {a: i for i, a in enumerate(
    ("impression", "click", "dwell", "like", "comment", "share", "follow", "unfollow", "cart", "purchase"))}
TARGET_POST, TARGET_PRODUCT, TARGET_ACCOUNT = 0, 1, 2
SLOT = {"follow_feed": 0, "new_arrival": 1, "hotlist": 2, "other": 3}
SOURCE_IN_APP = 0


@dataclass
class Events:
    """Columnar events; -1 (ints) and NaN (floats) stand for null."""

    user: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    target_type: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    target: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    action: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    slot: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    source: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    time: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    dwell: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    position: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    request: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    propensity: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    amount: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))

    def __len__(self) -> int:
        return len(self.user)

    @classmethod
    def make(cls, n: int, **cols: np.ndarray | int | float) -> Events:
        """Build ``n`` events; scalar values are broadcast, missing nullable columns are null."""
        out = {}
        for name, dtype in _DTYPES.items():
            value = cols.get(name, _DEFAULTS.get(name))
            if value is None:
                raise ValueError(f"events: column {name!r} is required")
            if isinstance(value, np.ndarray) and value.shape == (n,):
                out[name] = value.astype(dtype, copy=False)
            else:
                out[name] = np.full(n, value, dtype=dtype)
        return cls(**out)

    def take(self, idx: np.ndarray) -> Events:
        return Events(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @staticmethod
    def concat(parts: list[Events]) -> Events:
        if not parts:
            return Events()
        return Events(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Events)})


_DTYPES = {f.name: Events().__getattribute__(f.name).dtype for f in fields(Events)}
_DEFAULTS = {"dwell": np.nan, "position": -1, "request": -1, "propensity": np.nan, "amount": np.nan,
             "source": SOURCE_IN_APP}


def to_table(ev: Events, first_id: int = 0) -> pa.Table:
    """The contract events table; event ids are ``first_id`` + row number."""
    n = len(ev)

    def nullable(values: np.ndarray, null: np.ndarray, typ: pa.DataType) -> pa.Array:
        return pa.array(values, type=typ, mask=null if null.any() else None)

    cols = {
        "event_id": pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
        "user_id": pa.array(ev.user),
        "target_type": enum_array("target_type", ev.target_type),
        "target_id": pa.array(ev.target),
        "action": enum_array("action", ev.action),
        "slot": enum_array("slot", ev.slot),
        "source": enum_array("source", ev.source),
        "event_time": ms(ev.time),
        "dwell_seconds": nullable(ev.dwell, np.isnan(ev.dwell), pa.float32()),
        "position": nullable(ev.position, ev.position < 0, pa.int16()),
        "request_id": nullable(ev.request, ev.request < 0, pa.int64()),
        "propensity": nullable(ev.propensity, np.isnan(ev.propensity), pa.float64()),
        "amount": nullable(ev.amount, np.isnan(ev.amount), pa.float64()),
    }
    return pa.table(cols, schema=EVENTS.schema)


class Pending:
    """Events scheduled for later hours (revisits, repeat purchases), released when their hour comes."""

    def __init__(self, start_ms: int, hour_ms: int) -> None:
        self._start, self._hour = start_ms, hour_ms
        self._buckets: dict[int, list[Events]] = {}

    def add(self, ev: Events) -> None:
        if not len(ev):
            return
        hour = (ev.time - self._start) // self._hour
        order = np.argsort(hour, kind="stable")
        hs = hour[order]
        cuts = np.flatnonzero(np.diff(hs)) + 1
        for chunk in np.split(order, cuts):
            self._buckets.setdefault(int(hour[chunk[0]]), []).append(ev.take(chunk))

    def release(self, hour: int) -> Events:
        """Events due in ``hour`` (and any left over from earlier hours)."""
        due = [h for h in self._buckets if h <= hour]
        return Events.concat([e for h in sorted(due) for e in self._buckets.pop(h)])
