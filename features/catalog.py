"""Catalogue look-ups shared by the offline and the online feature paths.

* :class:`DataSource`: the contract tables, from a data directory (``read_table``) or in memory (tests).
* :class:`Catalog`: post → account, kind, format, publication time; product → shop, category, price, launch;
  account → tier, state, preferred, kind, category; and the follow graph (:class:`FollowState`).
Events as numpy columns (:class:`~features.columns.EventArrays`) and the follow graph
(:class:`~features.follows.FollowState`) have modules of their own.

A post's category is its account's main category (posts carry no category of their own); a product's is its
own; an account page's is the account's. Catalogue attributes are those of the snapshot given (the contract
keeps no history of tiers or certification), the same offline and online.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.columns import EventArrays, int_column, ms_column
from features.contract import ENUMS, enum_codes
from features.definitions import FORMAT_GROUP_NAMES, FORMAT_GROUPS, FeatureError
from features.follows import FollowState
from features.ids import IdIndex
from features.storage import read_table

if TYPE_CHECKING:
    from features.offline import RowArrays

HOUR_MS = 3_600_000
LOCAL_OFFSET_MS = 8 * HOUR_MS  # posting hours are local (UTC+8)
POST, PRODUCT, ACCOUNT = (ENUMS["target_type"].index(t) for t in ("post", "product", "account"))
_GROUP = np.array([FORMAT_GROUP_NAMES.index(FORMAT_GROUPS[f]) for f in ENUMS["post_format"]], dtype=np.int64)


def _at(values: np.ndarray, rows: np.ndarray, missing: float = -1) -> np.ndarray:
    """values[rows] with ``missing`` where rows is -1 (a gather; the catalogue column itself is not copied)."""
    rows = np.asarray(rows)
    if not len(values):
        return np.full(len(rows), missing, dtype=values.dtype)
    out = values.take(np.maximum(rows, 0))
    out[rows < 0] = missing
    return out


def _lookup_valid(column: str, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Where a look-up has a value: the row exists (and a tier state is set: W1 and H1 have none, coded -1)."""
    return (rows >= 0) & (values >= 0) if column == "tier_state" else rows >= 0


class Catalog:
    """Catalogue attributes by id, and the follow graph; see the module docstring."""

    def __init__(self, accounts: pa.Table, posts: pa.Table, products: pa.Table,
                 follows: pa.Table | FollowState) -> None:
        self._acc = IdIndex(int_column(accounts.column("account_id")))
        self.acc_tier = enum_codes(accounts.column("tier"), "tier").astype(np.int64)
        self.acc_state = enum_codes(accounts.column("tier_state"), "tier_state").astype(np.int64)
        self.acc_preferred = int_column(accounts.column("preferred_shop"), 0)
        self.acc_kind = enum_codes(accounts.column("kind"), "account_kind").astype(np.int64)
        self.acc_category = int_column(accounts.column("category"))
        self._post = IdIndex(int_column(posts.column("post_id")))
        self.post_account = int_column(posts.column("account_id"))
        self.post_kind = enum_codes(posts.column("kind"), "post_kind").astype(np.int64)
        self.post_format = enum_codes(posts.column("format"), "post_format").astype(np.int64)
        self.post_created = ms_column(posts.column("created_at"))
        self.post_products = pc.list_value_length(posts.column("product_ids")).fill_null(0).to_numpy(
            zero_copy_only=False).astype(np.int64)
        self._prod = IdIndex(int_column(products.column("product_id")))
        self.prod_shop = int_column(products.column("shop_id"))
        self.prod_category = int_column(products.column("category"))
        self.prod_price = pc.cast(products.column("price"), pa.float64()).to_numpy(zero_copy_only=False)
        self.prod_launched = ms_column(products.column("launched_at"))
        self.follows = follows if isinstance(follows, FollowState) else FollowState.from_table(follows)
        self._last_positions: tuple[RowArrays, dict[str, np.ndarray]] | None = None

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
        if not (self._post.identity and self._prod.identity and self._acc.identity):
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

    @cached_property
    def _lookup_blocks(self) -> dict[str, tuple[np.ndarray, dict[str, int]]]:
        """Per entity, its look-up columns over the whole catalogue stacked (float64) with a last row of -1
        (row -1 of a request reads it), and each column's index: one gather per entity and request."""
        columns = {
            "tier": (self.acc_tier, "acc"), "tier_state": (self.acc_state, "acc"),
            "preferred_shop": (self.acc_preferred, "acc"), "account_kind": (self.acc_kind, "acc"),
            "post_kind": (self.post_kind, "post"), "post_format": (self.post_format, "post"),
            "format_group": (_GROUP[np.maximum(self.post_format, 0)], "post"),
            "post_products": (self.post_products, "post"),
            "posting_hour": (((self.post_created + LOCAL_OFFSET_MS) // HOUR_MS) % 24, "post"),
            "launch_hour": (((self.prod_launched + LOCAL_OFFSET_MS) // HOUR_MS) % 24, "prod"),
            "price_band": (np.floor(np.log2(np.maximum(self.prod_price, 1e-9))), "prod"),
        }
        blocks: dict[str, tuple[np.ndarray, dict[str, int]]] = {}
        for entity in dict.fromkeys(e for _, e in columns.values()):
            names = [n for n, (_, e) in columns.items() if e == entity]
            block = np.column_stack([np.asarray(columns[n][0], np.float64) for n in names])
            blocks[entity] = (np.vstack([block, np.full((1, len(names)), -1.0)]), {n: i for i, n in enumerate(names)})
        return blocks

    @cached_property
    def _lookup_at(self) -> dict[str, tuple[str, int]]:
        """Look-up column -> (entity block, column in the block)."""
        return {name: (entity, i) for entity, (_, index) in self._lookup_blocks.items() for name, i in index.items()}

    def _row_positions(self, rows: RowArrays) -> dict[str, np.ndarray]:
        """Catalogue rows of the request rows' account, post and product (-1 where none); kept for the last rows
        asked about, since one feature matrix asks for several columns of the same rows."""
        last = self._last_positions
        if last is not None and last[0] is rows:
            return last[1]
        positions = {"acc": self._acc.rows(rows.account),
                     "post": np.where(rows.ttype == POST, self._post.rows(rows.target), -1),
                     "prod": np.where(rows.ttype == PRODUCT, self._prod.rows(rows.target), -1)}
        self._last_positions = (rows, positions)
        return positions

    def lookup(self, column: str, rows: RowArrays) -> tuple[np.ndarray, np.ndarray]:
        """Values (float64) and validity of a :data:`features.definitions.LOOKUPS` column for request rows."""
        at = self._row_positions(rows)
        post, prod, t = at["post"], at["prod"], rows.request_ms
        if column in self._lookup_at:
            entity, i = self._lookup_at[column]
            out = self._lookup_blocks[entity][0][at[entity], i]
            return out, _lookup_valid(column, at[entity], out)
        if column == "freshness_hours":
            return (t - _at(self.post_created, post)) / HOUR_MS, post >= 0
        if column == "launch_age_hours":
            return (t - _at(self.prod_launched, prod)) / HOUR_MS, prod >= 0
        raise FeatureError(f"no catalogue look-up for column {column!r}")

    def lookup_many(self, columns: Sequence[str], rows: RowArrays) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`lookup` of several columns, as (values, valid) matrices (rows × columns), with one gather per
        entity instead of one per column."""
        at = self._row_positions(rows)
        values = np.empty((len(rows.request_ms), len(columns)), dtype=np.float64)
        valid = np.empty(values.shape, dtype=bool)
        gathered: dict[str, np.ndarray] = {}
        for j, column in enumerate(columns):
            if column not in self._lookup_at:
                values[:, j], valid[:, j] = self.lookup(column, rows)
                continue
            entity, i = self._lookup_at[column]
            if entity not in gathered:
                gathered[entity] = self._lookup_blocks[entity][0][at[entity]]
            values[:, j] = out = gathered[entity][:, i]
            valid[:, j] = _lookup_valid(column, at[entity], out)
        return values, valid

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
