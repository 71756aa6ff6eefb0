"""The catalogue columns the ranking layer needs, as numpy arrays, read from contract tables.

The simulated world and tests build these from arrays directly; data on disk arrives as contract tables
(:mod:`features.contract`) and goes through :func:`tables_from_arrow`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.contract import enum_codes

#: ``unfollowed_ms`` of a follow that still lasts.
NEVER = np.iinfo(np.int64).max


def _cols(obj: object, dtypes: Mapping[str, type]) -> None:
    n = None
    for name, dtype in dtypes.items():
        col: np.ndarray = np.asarray(getattr(obj, name), dtype=dtype)
        object.__setattr__(obj, name, col)
        if n is not None and len(col) != n:
            raise ValueError(f"{type(obj).__name__}.{name} has {len(col)} rows, not {n}")
        n = len(col)


@dataclass(frozen=True, eq=False)
class Accounts:
    """Publishing accounts: contract codes for ``kind`` and ``tier``."""

    account_id: np.ndarray
    kind: np.ndarray
    tier: np.ndarray
    preferred: np.ndarray
    category: np.ndarray

    def __post_init__(self) -> None:
        _cols(self, {"account_id": np.int64, "kind": np.int8, "tier": np.int8, "preferred": bool,
                     "category": np.int32})


@dataclass(frozen=True, eq=False)
class Follows:
    """Follow intervals ``[followed_ms, unfollowed_ms)``; :data:`NEVER` while a follow lasts."""

    user_id: np.ndarray
    account_id: np.ndarray
    followed_ms: np.ndarray
    unfollowed_ms: np.ndarray

    def __post_init__(self) -> None:
        _cols(self, {"user_id": np.int64, "account_id": np.int64, "followed_ms": np.int64,
                     "unfollowed_ms": np.int64})


@dataclass(frozen=True, eq=False)
class Posts:
    """Posts: contract code for ``visibility``."""

    post_id: np.ndarray
    account_id: np.ndarray
    created_ms: np.ndarray
    visibility: np.ndarray

    def __post_init__(self) -> None:
        _cols(self, {"post_id": np.int64, "account_id": np.int64, "created_ms": np.int64, "visibility": np.int8})


@dataclass(frozen=True, eq=False)
class Products:
    """Products of shops with their launch time."""

    product_id: np.ndarray
    shop_id: np.ndarray
    category: np.ndarray
    launched_ms: np.ndarray

    def __post_init__(self) -> None:
        _cols(self, {"product_id": np.int64, "shop_id": np.int64, "category": np.int32, "launched_ms": np.int64})


def _ints(table: pa.Table, name: str) -> np.ndarray:
    column = table.column(name)
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.int64())
    return column.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)  # a view of a one-chunk column


def tables_from_arrow(tables: Mapping[str, pa.Table]) -> tuple[Accounts, Follows, Posts, Products]:
    """Catalogue columns from the validated contract tables ``accounts``, ``follows``, ``posts``, ``products``."""
    a, f, po, pr = (tables[name] for name in ("accounts", "follows", "posts", "products"))
    until = pc.cast(f.column("unfollowed_at"), pa.int64()).fill_null(NEVER).to_numpy(zero_copy_only=False)
    return (
        Accounts(_ints(a, "account_id"), enum_codes(a.column("kind"), "account_kind"),
                 enum_codes(a.column("tier"), "tier"),
                 a.column("preferred_shop").to_numpy(zero_copy_only=False).astype(bool), _ints(a, "category")),
        Follows(_ints(f, "user_id"), _ints(f, "account_id"), _ints(f, "followed_at"), until),
        Posts(_ints(po, "post_id"), _ints(po, "account_id"), _ints(po, "created_at"),
              enum_codes(po.column("visibility"), "visibility")),
        Products(_ints(pr, "product_id"), _ints(pr, "shop_id"), _ints(pr, "category"), _ints(pr, "launched_at")),
    )
