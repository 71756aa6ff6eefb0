"""Event arrays as the world produces them, and their conversion to the contract's events table."""

from __future__ import annotations

from collections.abc import Sequence
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


def time_order(time: np.ndarray) -> np.ndarray:
    """``np.argsort(time, kind="stable")``: one unstable sort of distinct keys (time, row) is faster."""
    n = len(time)
    if n == 0:
        return np.zeros(0, np.int64)
    lo = int(time.min())
    bits = max(n - 1, 1).bit_length()
    if (int(time.max()) - lo).bit_length() + bits > 62:
        return np.argsort(time, kind="stable")
    return np.argsort(((time - lo) << bits) | np.arange(n))


class EventBatch:
    """Events collected piece by piece (scalar columns stay scalars), assembled once in time order.

    An hour's events used to be built as dozens of small ``Events``, concatenated, then sorted: three
    copies of every column. Here each value is written once, straight to its place in time order.
    """

    def __init__(self) -> None:
        self._pieces: list[tuple[int, dict[str, np.ndarray | int | float]]] = []

    def add(self, n: int, **cols: np.ndarray | int | float) -> None:
        """Add ``n`` events, with the columns of ``Events.make``."""
        if n:
            self._pieces.append((n, cols))

    def extend(self, ev: Events) -> None:
        """Add the events of ``ev``."""
        if len(ev):
            self._pieces.append((len(ev), {name: getattr(ev, name) for name in _DTYPES}))

    def build(self) -> Events:
        """All events, stably sorted by time (ties keep the order they were added in)."""
        if not self._pieces:
            return Events()
        sizes = [n for n, _ in self._pieces]
        time = np.concatenate([np.broadcast_to(cols["time"], (n,)) for n, cols in self._pieces]).astype(np.int64)
        order = time_order(time)
        dest = np.empty(len(time), np.int64)
        dest[order] = np.arange(len(time))
        starts = np.cumsum([0, *sizes])
        out = {"time": time[order]}
        for name, dtype in _DTYPES.items():
            if name == "time":
                continue
            col = out[name] = np.empty(len(time), dtype)
            for (n, cols), a in zip(self._pieces, starts, strict=False):
                value = cols.get(name, _DEFAULTS.get(name))
                if value is None:
                    raise ValueError(f"events: column {name!r} is required")
                col[dest[a:a + n]] = value
        return Events(**out)


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


def parts_table(parts: Sequence[Events], first_id: int = 0) -> pa.Table:
    """``to_table`` of the events of ``parts`` in turn: one chunk per part, never copied into one array."""
    if not parts:
        return to_table(Events(), first_id)
    starts = np.cumsum([first_id, *(len(p) for p in parts)])
    return pa.concat_tables([to_table(p, int(start)) for p, start in zip(parts, starts, strict=False)])


class Pending:
    """Events scheduled for later hours (revisits, repeat purchases), released when their hour comes.

    Pending events are kept in one set of columns ordered by (due hour, time of scheduling); what was
    scheduled during an hour is merged in once, at its release, instead of being split per due hour.
    """

    def __init__(self, start_ms: int, hour_ms: int) -> None:
        self._start, self._hour = start_ms, hour_ms
        self._due = np.zeros(0, np.int64)
        self._events = Events()
        self._new: list[Events] = []

    def add(self, ev: Events) -> None:
        """Schedule ``ev`` (each event is released in the hour of its time)."""
        if len(ev):
            self._new.append(ev)

    def _merge(self) -> None:
        new = Events.concat(self._new)
        self._new = []
        hour = (new.time - self._start) // self._hour
        order = np.argsort(hour, kind="stable")
        at = np.searchsorted(self._due, hour[order], side="right")  # after what was scheduled before
        self._due = np.insert(self._due, at, hour[order])
        self._events = Events(**{f.name: np.insert(getattr(self._events, f.name), at, getattr(new, f.name)[order])
                                 for f in fields(Events)})

    def release(self, hour: int) -> Events:
        """Events due in ``hour`` (and any left over from earlier hours)."""
        if self._new:
            self._merge()
        cut = int(np.searchsorted(self._due, hour, side="right"))
        out = self._events.take(slice(0, cut))
        self._due, self._events = self._due[cut:], self._events.take(slice(cut, None))
        return out
