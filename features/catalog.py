"""Catalogue look-ups shared by the offline and the online feature paths.

* :class:`DataSource`: the contract tables, from a data directory (``read_table``) or in memory (tests).
* :class:`Catalog`: post → account, kind, format, publication time; product → shop, category, price, launch;
  account → tier, state, preferred, kind, category; and the follow graph (:class:`FollowState`).
* :class:`EventArrays`: events as numpy columns.

A post's category is its account's main category (posts carry no category of their own); a product's is its
own; an account page's is the account's. Catalogue attributes are those of the snapshot given (the contract
keeps no history of tiers or certification), the same offline and online.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.contract import ENUMS, enum_codes
from features.counts import argsort_ids, sort_ids
from features.definitions import FORMAT_GROUP_NAMES, FORMAT_GROUPS, FeatureError
from features.storage import read_table

if TYPE_CHECKING:
    from features.offline import RowArrays

OPEN = np.iinfo(np.int64).max
PAIR_BITS = 24  # second id of a packed pair key (account or category) must be below 2**24
HOUR_MS = 3_600_000
LOCAL_OFFSET_MS = 8 * HOUR_MS  # posting hours are local (UTC+8)
POST, PRODUCT, ACCOUNT = (ENUMS["target_type"].index(t) for t in ("post", "product", "account"))
_GROUP = np.array([FORMAT_GROUP_NAMES.index(FORMAT_GROUPS[f]) for f in ENUMS["post_format"]], dtype=np.int64)


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


class _Ids:
    """id -> row of a catalogue table (-1 if unknown); a direct index when ids are 0..n-1."""

    def __init__(self, ids: np.ndarray) -> None:
        self.dense = bool(np.array_equal(ids, np.arange(len(ids))))
        self._order = np.argsort(ids, kind="stable")
        self._sorted = ids[self._order]
        self.max_id = int(self._sorted[-1]) if len(ids) else 0

    def rows(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        if self.dense:
            return np.where((ids >= 0) & (ids < len(self._order)), ids, -1)
        pos = np.minimum(np.searchsorted(self._sorted, ids), max(len(self._sorted) - 1, 0))
        hit = (self._sorted[pos] == ids) if len(self._sorted) else np.zeros(len(ids), bool)
        return np.where(hit, self._order[pos] if len(self._order) else -1, -1)


def _at(values: np.ndarray, rows: np.ndarray, missing: float = -1) -> np.ndarray:
    """values[rows] with ``missing`` where rows is -1 (one gather: row -1 is the appended sentinel)."""
    return np.append(values, np.asarray(missing, values.dtype))[rows]


class FollowState:
    """Follow intervals [since, until) per (user, account) with point-in-time fan status.

    Fan status has the semantics of :class:`features.graph.FanIndex` (start inclusive, end exclusive; a test
    keeps them equal) with an index built for 20M-event lookups: pair keys sorted once, queries sorted
    before the binary search. Online, :meth:`apply` adds follow and unfollow events as they arrive: pairs
    they touch move to an overlay holding their whole interval list, so a batch never re-indexes the graph.
    """

    def __init__(self, user: np.ndarray, account: np.ndarray, since: np.ndarray, until: np.ndarray) -> None:
        self.user, self.account = np.asarray(user, np.int64), np.asarray(account, np.int64)
        self.since, self.until = np.asarray(since, np.int64), np.asarray(until, np.int64)
        # Built on first use (in the Dask worker, not the client): unique pair keys and their rows.
        self._keys: np.ndarray | None = None
        self._n = 0
        self._starts = self._rows = self._since = self._until = np.empty(0, np.int64)
        self._overlay: dict[int, list[list[int]]] = {}
        self._overlay_keys = np.empty(0, np.int64)

    @classmethod
    def from_table(cls, follows: pa.Table) -> FollowState:
        until = pc.cast(follows.column("unfollowed_at"), pa.int64()).fill_null(OPEN)
        return cls(int_column(follows.column("user_id")), int_column(follows.column("account_id")),
                   ms_column(follows.column("followed_at")), until.to_numpy(zero_copy_only=False).astype(np.int64))

    def copy(self) -> FollowState:
        """An independent state over the same base intervals (each online updater applies events to its own)."""
        out = copy.copy(self)
        out._overlay = {k: [list(iv) for iv in ivs] for k, ivs in self._overlay.items()}
        return out

    def subset(self, keep: np.ndarray) -> FollowState:
        """The intervals of the rows where ``keep`` is true (a partition of users, for Dask)."""
        return FollowState(self.user[keep], self.account[keep], self.since[keep], self.until[keep])

    def _compact(self, users: np.ndarray, accounts: np.ndarray) -> np.ndarray:
        """user × (largest account + 1) + account: a narrower pair key than :func:`pair_key` (faster sorts);
        -1 for accounts the follows never mention."""
        users, accounts = np.asarray(users, np.int64), np.asarray(accounts, np.int64)
        known = (accounts >= 0) & (accounts < self._n) & (users >= 0)
        return np.where(known, users * self._n + accounts, -1)

    def _index(self) -> np.ndarray:
        if self._keys is None:
            self._n = int(self.account.max(initial=-1)) + 1
            key = self._compact(self.user, self.account)
            rows = argsort_ids(key)
            key = key[rows]
            first = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]])) if len(key) else key
            self._starts = np.append(first, len(key)).astype(np.int64)
            self._keys = key[first]
            self._rows, self._since, self._until = rows, self.since[rows], self.until[rows]
        return self._keys

    def is_fan(self, users: np.ndarray, accounts: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Whether each user followed each account at each time (follow start inclusive, end exclusive)."""
        keys = self._index()
        key = self._compact(users, accounts)
        fan = np.zeros(len(key), dtype=bool)
        if len(keys) and len(key):
            # Binary search is many times faster on sorted queries (cache), so sort them first; intervals
            # are stored in key order, so only the times and the result move at random. Keys of -1 become
            # one past the largest key and match nothing.
            qk, q = sort_ids(np.where(key >= 0, key, keys[-1] + 1))
            qt = np.asarray(times, np.int64)[q]
            r = np.minimum(np.searchsorted(keys, qk), len(keys) - 1)
            found = keys[r] == qk
            lo = self._starts[r]
            count = np.where(found, self._starts[r + 1] - lo, 0)
            hit = np.zeros(len(q), dtype=bool)
            for j in range(int(count.max(initial=0))):  # pairs with several intervals: any may hold t
                m = np.flatnonzero(count > j)
                at = lo[m] + j
                hit[m] |= (self._since[at] <= qt[m]) & (qt[m] < self._until[at])
            fan[q] = hit
        if self._overlay:
            key = pair_key(users, accounts)
            for i in np.flatnonzero(np.isin(key, self._overlay_keys)):
                t = int(times[i])
                fan[i] = any(s <= t < u for s, u in self._overlay[int(key[i])])
        return fan

    def _intervals(self, key: int) -> list[list[int]]:
        if key in self._overlay:
            return self._overlay[key]
        keys = self._index()
        user, account = key >> PAIR_BITS, key & ((1 << PAIR_BITS) - 1)
        if account >= self._n:
            return []
        key = user * self._n + account
        r = int(np.searchsorted(keys, key))
        if r >= len(keys) or keys[r] != key:
            return []
        at = slice(self._starts[r], self._starts[r + 1])
        return sorted([int(a), int(b)] for a, b in zip(self._since[at], self._until[at], strict=True))

    def apply(self, users: np.ndarray, accounts: np.ndarray, times: np.ndarray,
              follow: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Apply follow (``follow`` true) and unfollow events in the given order.

        Returns the effective changes as (account, time, +1 or -1): a follow by a current fan or an unfollow
        without an open follow changes nothing, exactly as the ``follows`` table records them.
        """
        changes: list[tuple[int, int, int]] = []
        keys = pair_key(users, accounts)
        for key, account, t, f in zip(keys.tolist(), np.asarray(accounts).tolist(), np.asarray(times).tolist(),
                                      np.asarray(follow).tolist(), strict=True):
            if key < 0:
                continue
            ivs = self._intervals(key)
            if f and not any(s <= t < u for s, u in ivs):
                ivs.append([t, int(OPEN)])
                changes.append((account, t, 1))
            elif not f:
                open_ = [iv for iv in ivs if iv[1] == OPEN and iv[0] < t]
                if open_:
                    open_[-1][1] = t
                    changes.append((account, t, -1))
            self._overlay[key] = ivs
        self._overlay_keys = np.array(sorted(self._overlay), dtype=np.int64)
        if len(self._overlay) > max(50_000, len(self.user) // 20):
            self._fold()
        out = np.array(changes, dtype=np.int64).reshape(-1, 3)
        return out[:, 0], out[:, 1], out[:, 2]

    def _fold(self) -> None:
        """Move the overlay into the base intervals (and re-index), so fan look-ups stay vectorised."""
        keep = ~np.isin(pair_key(self.user, self.account), self._overlay_keys)
        rows = [(k >> PAIR_BITS, k & ((1 << PAIR_BITS) - 1), s, u) for k, ivs in self._overlay.items() for s, u in ivs]
        extra = np.array(rows, dtype=np.int64).reshape(-1, 4)
        self.user, self.account, self.since, self.until = (
            np.concatenate([a[keep], extra[:, i]]) for i, a in enumerate((self.user, self.account, self.since,
                                                                         self.until)))
        self._keys, self._overlay, self._overlay_keys = None, {}, np.empty(0, np.int64)

    def deltas(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Follower changes (account, time, +1/-1) of the base intervals (the snapshot, before any
        :meth:`apply`): +1 at each start, -1 at each end."""
        ended = self.until != OPEN
        accounts = np.concatenate([self.account, self.account[ended]])
        times = np.concatenate([self.since, self.until[ended]])
        return accounts, times, np.concatenate([np.ones(len(self.since), np.int64), -np.ones(ended.sum(), np.int64)])

    def digest(self) -> str:
        """Hash of the base intervals (so a store is seeded with a snapshot once)."""
        h = hashlib.sha256()
        for a in (self.user, self.account, self.since, self.until):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]


class Catalog:
    """Catalogue attributes by id, and the follow graph; see the module docstring."""

    def __init__(self, accounts: pa.Table, posts: pa.Table, products: pa.Table,
                 follows: pa.Table | FollowState) -> None:
        self._acc = _Ids(int_column(accounts.column("account_id")))
        self.acc_tier = enum_codes(accounts.column("tier"), "tier").astype(np.int64)
        self.acc_state = enum_codes(accounts.column("tier_state"), "tier_state").astype(np.int64)
        self.acc_preferred = int_column(accounts.column("preferred_shop"), 0)
        self.acc_kind = enum_codes(accounts.column("kind"), "account_kind").astype(np.int64)
        self.acc_category = int_column(accounts.column("category"))
        self._post = _Ids(int_column(posts.column("post_id")))
        self.post_account = int_column(posts.column("account_id"))
        self.post_kind = enum_codes(posts.column("kind"), "post_kind").astype(np.int64)
        self.post_format = enum_codes(posts.column("format"), "post_format").astype(np.int64)
        self.post_created = ms_column(posts.column("created_at"))
        self.post_products = pc.list_value_length(posts.column("product_ids")).fill_null(0).to_numpy(
            zero_copy_only=False).astype(np.int64)
        self._prod = _Ids(int_column(products.column("product_id")))
        self.prod_shop = int_column(products.column("shop_id"))
        self.prod_category = int_column(products.column("category"))
        self.prod_price = pc.cast(products.column("price"), pa.float64()).to_numpy(zero_copy_only=False)
        self.prod_launched = ms_column(products.column("launched_at"))
        self.follows = follows if isinstance(follows, FollowState) else FollowState.from_table(follows)

    def max_ids(self) -> tuple[int, int]:
        """Largest account id and largest category id of the catalogue (bounds of packed keys)."""
        accounts = int(self._acc.max_id)
        categories = max(int(self.acc_category.max(initial=0)), int(self.prod_category.max(initial=0)))
        return accounts, categories

    def with_follows(self, follows: FollowState) -> Catalog:
        """The same catalogue over another follow state (a user partition, or a fresh online copy)."""
        out = copy.copy(self)
        out.follows = follows
        return out

    @cached_property
    def _dense_targets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """When ids are 0..n-1: (account of every post, product, account; offset per target type; sizes)."""
        if not (self._post.dense and self._prod.dense and self._acc.dense):
            return None
        sizes = np.array([len(self.post_account), len(self.prod_shop), len(self.acc_tier)], np.int64)
        table = np.concatenate([self.post_account, self.prod_shop, np.arange(sizes[2]), [-1]])
        return table, np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes

    def target_account(self, ttype: np.ndarray, target: np.ndarray) -> np.ndarray:
        """The account behind each target: a post's account, a product's shop, an account itself (-1 unknown)."""
        dense = self._dense_targets
        if dense is not None and POST == 0 and PRODUCT == 1 and ACCOUNT == 2:
            table, offset, size = dense
            t = np.maximum(ttype, 0)
            ok = (ttype >= 0) & (target >= 0) & (target < size[t])
            return table[np.where(ok, offset[t] + target, -1)]
        out = np.full(len(target), -1, dtype=np.int64)
        for code, ids, accounts in ((POST, self._post, self.post_account), (PRODUCT, self._prod, self.prod_shop)):
            m = ttype == code
            out[m] = _at(accounts, ids.rows(target[m]))
        m = ttype == ACCOUNT
        out[m] = np.where(self._acc.rows(target[m]) >= 0, target[m], -1)
        return out

    def target_category(self, ttype: np.ndarray, target: np.ndarray, account: np.ndarray) -> np.ndarray:
        """Category of each target: a product's own, otherwise its account's main category (-1 unknown)."""
        out = _at(self.acc_category, self._acc.rows(account))
        m = ttype == PRODUCT
        out[m] = _at(self.prod_category, self._prod.rows(target[m]))
        return out

    @cached_property
    def _post_cell(self) -> np.ndarray:
        tier = _at(self.acc_tier, self._acc.rows(self.post_account))
        cell = tier * 16 + self.post_kind * 4 + _GROUP[np.maximum(self.post_format, 0)]
        return np.where((tier >= 0) & (self.post_kind >= 0) & (self.post_format >= 0), cell, -1)

    def tier_cell(self, posts: np.ndarray) -> np.ndarray:
        """tier × post kind × format group of each post, as one small key (-1 unknown)."""
        return _at(self._post_cell, self._post.rows(posts))

    def lookup(self, column: str, rows: RowArrays) -> tuple[np.ndarray, np.ndarray]:
        """Values (float64) and validity of a :data:`features.definitions.LOOKUPS` column for request rows."""
        acc = self._acc.rows(rows.account)
        post = np.where(rows.ttype == POST, self._post.rows(rows.target), -1)
        prod = np.where(rows.ttype == PRODUCT, self._prod.rows(rows.target), -1)
        t = rows.request_ms
        table: dict[str, tuple[np.ndarray, np.ndarray]] = {
            "tier": (self.acc_tier, acc), "tier_state": (self.acc_state, acc),
            "preferred_shop": (self.acc_preferred, acc), "account_kind": (self.acc_kind, acc),
            "post_kind": (self.post_kind, post), "post_format": (self.post_format, post),
            "format_group": (_GROUP[np.maximum(self.post_format, 0)], post),
            "post_products": (self.post_products, post),
            "posting_hour": (((self.post_created + LOCAL_OFFSET_MS) // HOUR_MS) % 24, post),
            "launch_hour": (((self.prod_launched + LOCAL_OFFSET_MS) // HOUR_MS) % 24, prod),
            "price_band": (np.floor(np.log2(np.maximum(self.prod_price, 1e-9))), prod),
        }
        if column in table:
            values, at = table[column]
            out = _at(values.astype(np.float64), at).astype(np.float64)
            return out, (at >= 0) & (out >= 0 if column == "tier_state" else True)
        if column == "freshness_hours":
            return (t - _at(self.post_created, post)) / HOUR_MS, post >= 0
        if column == "launch_age_hours":
            return (t - _at(self.prod_launched, prod)) / HOUR_MS, prod >= 0
        raise FeatureError(f"no catalogue look-up for column {column!r}")

    def candidate_rows(self, users: np.ndarray, target_type: str, targets: np.ndarray, request_ms: np.ndarray | int,
                       provided: Mapping[str, np.ndarray] | None = None) -> pa.Table:
        """Request rows for candidates, with account and category filled by the same rules as events."""
        targets = np.asarray(targets, np.int64)
        ttype = np.full(len(targets), ENUMS["target_type"].index(target_type), dtype=np.int8)
        account = self.target_account(ttype, targets)
        columns = {"user_id": np.asarray(users, np.int64), "target_type": ttype, "target_id": targets,
                   "account_id": account, "category": self.target_category(ttype, targets, account),
                   "request_ms": np.broadcast_to(np.asarray(request_ms, np.int64), len(targets)).copy()}
        return pa.table({**columns, **{k: np.asarray(v, np.float64) for k, v in (provided or {}).items()}})


class DataSource:
    """The contract tables features are computed from: a data directory, or tables held in memory."""

    def __init__(self, tables: Mapping[str, pa.Table] | None = None, *, data_dir: Path | None = None) -> None:
        if (tables is None) == (data_dir is None):
            raise FeatureError("DataSource needs exactly one of tables or data_dir")
        self._tables = dict(tables or {})
        self._dir = data_dir

    @classmethod
    def from_dir(cls, data_dir: Path) -> DataSource:
        return cls(data_dir=Path(data_dir))

    def table(self, name: str) -> pa.Table:
        if self._dir is not None:
            return read_table(self._dir, name)
        if name not in self._tables:
            raise FeatureError(f"DataSource has no table {name!r}")
        return self._tables[name]

    def catalog(self, follows: pa.Table | None = None) -> Catalog:
        """The catalogue, over ``follows`` (default: the whole follows table)."""
        return Catalog(self.table("accounts"), self.table("posts"), self.table("products"),
                       self.table("follows") if follows is None else follows)

    def events(self) -> EventArrays:
        return EventArrays.from_table(self.table("events"))
