"""The logged data a replay reads, and point-in-time look-ups over it.

Everything a replayed request may see is computed from rows strictly before the request time: counters
of an item's impressions and clicks, whether the user followed the author, how many followers the author
had. A look-up never reads a row at or after the time it is asked about, so an event logged after a
request cannot change how that request is replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from features.storage import read_table, table_names

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
SLOTS = ("follow_feed", "new_arrival", "hotlist")
ENGAGE_ACTIONS = ("like", "comment", "share", "cart", "purchase")
_SHIFT = np.int64(2**42)  # times in ms stay below 2**42 until the year 2109: (key, time) packs into one int64
_INF = np.iinfo(np.int64).max


class ReplayInputError(ValueError):
    """Bad replay input; the message names the option or table at fault."""


def to_ms(column: pd.Series) -> np.ndarray:
    """Epoch milliseconds (int64) of a timestamp column; NaT becomes int64 max (never)."""
    values = pd.to_datetime(column, utc=True)
    missing = values.isna().to_numpy()
    delta = (values - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    out = delta.where(~missing, 0).to_numpy().astype(np.int64)
    return np.where(missing, _INF, out).astype(np.int64)


@dataclass
class Tables:
    """The contract tables a replay uses, as data frames with times in epoch ms (columns ``*_ms``)."""

    events: pd.DataFrame
    posts: pd.DataFrame
    products: pd.DataFrame
    accounts: pd.DataFrame
    follows: pd.DataFrame

    @classmethod
    def read(cls, data_dir: Path) -> Tables:
        """Read a stored data set (``weitao simulate`` / ``weitao data load`` output)."""
        present = set(table_names(Path(data_dir))) if Path(data_dir).is_dir() else set()
        missing = [t for t in ("events", "posts", "products", "accounts", "follows") if t not in present]
        if missing:
            raise ReplayInputError(f"--data: {data_dir} lacks the contract tables {', '.join(missing)}")
        frames = {name: read_table(Path(data_dir), name).to_pandas() for name in
                  ("events", "posts", "products", "accounts", "follows")}
        return cls.of(**frames)

    @classmethod
    def of(cls, events: pd.DataFrame, posts: pd.DataFrame, products: pd.DataFrame, accounts: pd.DataFrame,
           follows: pd.DataFrame) -> Tables:
        """Normalise contract-shaped frames: enum columns as strings, time columns as ``*_ms`` integers."""
        ev = events.copy()
        for col in ("target_type", "action", "slot", "source"):
            ev[col] = ev[col].astype(str)
        ev["time_ms"] = to_ms(ev["event_time"])
        ev = ev.sort_values(["time_ms", "event_id"], kind="stable").reset_index(drop=True)
        po = posts.assign(created_ms=to_ms(posts["created_at"]), visibility=posts["visibility"].astype(str))
        pr = products.assign(launched_ms=to_ms(products["launched_at"]))
        acc = accounts.assign(kind=accounts["kind"].astype(str), tier=accounts["tier"].astype(str))
        fo = follows.assign(start_ms=to_ms(follows["followed_at"]), end_ms=to_ms(follows["unfollowed_at"]))
        return cls(ev, po, pr, acc, fo)

    def full_days(self) -> list[str]:
        """UTC dates (YYYY-MM-DD) fully covered by the events: after the first day with data, before the last."""
        if self.events.empty:
            raise ReplayInputError("--data: the events table is empty, there is no day to replay")
        first, last = int(self.events["time_ms"].min()), int(self.events["time_ms"].max())
        start = -(-first // DAY_MS) * DAY_MS if first % DAY_MS else first
        days = []
        for day0 in range(start, last + 1, DAY_MS):
            # A day counts as full when the log reaches its last hour (the simulator stops at a day boundary).
            if last >= day0 + DAY_MS - HOUR_MS:
                days.append(datetime.fromtimestamp(day0 / 1000, UTC).strftime("%Y-%m-%d"))
        if not days:
            raise ReplayInputError("--day: the events cover no full UTC day")
        return days


def day_bounds(day: str | None, tables: Tables) -> tuple[int, int]:
    """``[start, end)`` in ms of the UTC ``day`` (default: the last full day in the data)."""
    if day is None:
        day = tables.full_days()[-1]
    try:
        start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ReplayInputError(f"--day: expected YYYY-MM-DD, got {day!r}") from None
    lo = int(start.timestamp() * 1000)
    ev = tables.events["time_ms"]
    if not ((ev >= lo) & (ev < lo + DAY_MS)).any():
        raise ReplayInputError(f"--day: no events on {day} (full days in the data: {', '.join(tables.full_days())})")
    return lo, lo + DAY_MS


def _pack(key: np.ndarray, time_ms: np.ndarray) -> np.ndarray:
    return np.asarray(key, np.int64) * _SHIFT + np.minimum(np.asarray(time_ms, np.int64), _SHIFT - 1)


class CountsBefore:
    """How many logged rows with a key happened strictly before a time (sorted packed keys, binary search)."""

    def __init__(self, key: np.ndarray, time_ms: np.ndarray) -> None:
        self.packed = np.sort(_pack(key, time_ms))

    def __call__(self, key: np.ndarray, time_ms: np.ndarray) -> np.ndarray:
        """Rows with ``key`` and time < ``time_ms``, per query."""
        upto = np.searchsorted(self.packed, _pack(key, time_ms), side="left")
        first = np.searchsorted(self.packed, _pack(key, np.zeros_like(time_ms)), side="left")
        return (upto - first).astype(np.int64)


class PointInTime:
    """Look-ups as of a request time: item counters, fan status, follower counts."""

    def __init__(self, tables: Tables) -> None:
        ev = tables.events
        key = item_key(ev["target_type"].to_numpy(), ev["target_id"].to_numpy())
        action, t = ev["action"].to_numpy(), ev["time_ms"].to_numpy()
        self.imps = CountsBefore(key[action == "impression"], t[action == "impression"])
        self.clicks = CountsBefore(key[action == "click"], t[action == "click"])
        engaged = np.isin(action, ENGAGE_ACTIONS)
        self.engagements = CountsBefore(key[engaged], t[engaged])
        fo = tables.follows
        self.follow_start = CountsBefore(fo["account_id"].to_numpy(), fo["start_ms"].to_numpy())
        self.follow_end = CountsBefore(fo["account_id"].to_numpy(), fo["end_ms"].to_numpy())
        self._follows = fo[["user_id", "account_id", "start_ms", "end_ms"]]

    def followers(self, account: np.ndarray, time_ms: np.ndarray) -> np.ndarray:
        """Followers of ``account`` at ``time_ms``: follows started before it minus those ended before it."""
        return self.follow_start(account, time_ms) - self.follow_end(account, time_ms)

    def is_fan(self, user: np.ndarray, account: np.ndarray, time_ms: np.ndarray) -> np.ndarray:
        """Whether ``user`` followed ``account`` at ``time_ms`` (a follow started before and not yet ended)."""
        q = pd.DataFrame({"user_id": np.asarray(user, np.int64), "account_id": np.asarray(account, np.int64),
                          "t": np.asarray(time_ms, np.int64), "row": np.arange(len(user))})
        m = q.merge(self._follows, on=["user_id", "account_id"], how="inner")
        active = m["row"][(m["start_ms"] < m["t"]) & (m["end_ms"] >= m["t"])].to_numpy()
        out = np.zeros(len(q), bool)
        out[active] = True
        return out


def item_key(target_type: np.ndarray, target_id: np.ndarray) -> np.ndarray:
    """One integer per (target type, id): products and posts with the same id stay apart."""
    is_product = np.asarray(target_type) == "product"
    return np.asarray(target_id, np.int64) * 2 + is_product.astype(np.int64)
