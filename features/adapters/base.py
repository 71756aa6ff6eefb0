"""What every data-set adapter shares: the adapter contract, its error, and builders of raw contract tables.

An adapter reads one public data set from disk and maps it into the contract tables (accounts, users,
products, posts, follows, events) without judging the rows: validation and quarantine are the loader's
job (``features.load.load_tables``). Builders here take numpy columns and return tables with exactly the
contract schema, so the loader never has to parse strings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from features.contract import ENUM_TYPE, ENUMS, TABLES, TIMESTAMP, code, enum_array, ms

RawTables = dict[str, pa.Table]
#: Prefix of a source label that maps to no contract action (validation quarantines the row).
UNMAPPED = "unmapped:"


class AdapterError(ValueError):
    """A source that cannot be read or mapped into the contract; the message names the file."""


@dataclass(frozen=True)
class Adapter:
    """One public data set: ``read(path)`` returns raw contract tables (every table, some maybe empty)."""

    name: str
    description: str
    read: Callable[[Path], RawTables]


def empty(name: str) -> pa.Table:
    """An empty table with the contract schema of ``name``."""
    return TABLES[name].schema.empty_table()


def complete(tables: RawTables) -> RawTables:
    """``tables`` plus empty contract tables for those the data set lacks, in contract load order."""
    return {name: tables[name] if name in tables else empty(name) for name in TABLES}


def _table(name: str, columns: dict[str, pa.Array]) -> pa.Table:
    # Nullable contract columns a data set has no source for are all null.
    schema = TABLES[name].schema
    n = len(next(iter(columns.values())))
    missing = [f.name for f in schema if f.name not in columns and not f.nullable]
    if missing:
        raise AdapterError(f"no values for required column(s) of {name}: {', '.join(missing)}")
    arrays = [columns[f.name] if f.name in columns else pa.nulls(n, type=f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _enum_const(enum: str, value: str, n: int) -> pa.DictionaryArray:
    return enum_array(enum, np.full(n, code(enum, value), dtype=np.int8))


def _ids(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64), type=pa.int64())


def _category(values: np.ndarray | int, n: int) -> pa.Array:
    arr = np.broadcast_to(np.asarray(values, dtype=np.int64), (n,))
    if n and (arr.min() < np.iinfo(np.int32).min or arr.max() > np.iinfo(np.int32).max):
        raise AdapterError("a category id does not fit the contract's int32 category column")
    return pa.array(arr.astype(np.int32), type=pa.int32())


def accounts(ids: np.ndarray, kind: str, created_ms: np.ndarray | int, category: np.ndarray | int = 0,
             ) -> pa.Table:
    """Accounts of one kind, all tier W1 (no tier state), none a preferred shop."""
    n = len(ids)
    return _table("accounts", {
        "account_id": _ids(ids),
        "kind": _enum_const("account_kind", kind, n),
        "tier": _enum_const("tier", "W1", n),
        "tier_state": enum_array("tier_state", np.full(n, -1, dtype=np.int8)),
        "preferred_shop": pa.array(np.zeros(n, dtype=bool), type=pa.bool_()),
        "category": _category(category, n),
        "created_at": ms(np.broadcast_to(np.asarray(created_ms, dtype=np.int64), (n,))),
    })


def users(ids: np.ndarray, created_ms: np.ndarray | int) -> pa.Table:
    """Users with their registration time."""
    n = len(ids)
    return _table("users", {
        "user_id": _ids(ids),
        "created_at": ms(np.broadcast_to(np.asarray(created_ms, dtype=np.int64), (n,))),
    })


def products(ids: np.ndarray, shop_ids: np.ndarray | int, category: np.ndarray | int, price: float,
             launched_ms: np.ndarray | int) -> pa.Table:
    """Products; every adapted data set lacks prices, so ``price`` is one constant."""
    n = len(ids)
    return _table("products", {
        "product_id": _ids(ids),
        "shop_id": _ids(np.broadcast_to(np.asarray(shop_ids, dtype=np.int64), (n,))),
        "category": _category(category, n),
        "price": pa.array(np.full(n, price, dtype=np.float64), type=pa.float64()),
        "launched_at": ms(np.broadcast_to(np.asarray(launched_ms, dtype=np.int64), (n,))),
    })


def posts(ids: np.ndarray, account_ids: np.ndarray | int, kind: str, fmt: str, visibility: str,
          created_ms: np.ndarray | int) -> pa.Table:
    """Posts of one kind, format and visibility that point at no product."""
    n = len(ids)
    offsets = pa.array(np.zeros(n + 1, dtype=np.int32), type=pa.int32())
    return _table("posts", {
        "post_id": _ids(ids),
        "account_id": _ids(np.broadcast_to(np.asarray(account_ids, dtype=np.int64), (n,))),
        "kind": _enum_const("post_kind", kind, n),
        "format": _enum_const("post_format", fmt, n),
        "visibility": _enum_const("visibility", visibility, n),
        "created_at": ms(np.broadcast_to(np.asarray(created_ms, dtype=np.int64), (n,))),
        "product_ids": pa.ListArray.from_arrays(offsets, pa.array([], type=pa.int64())),
    })


def follows(user_ids: np.ndarray, account_ids: np.ndarray, followed_ms: np.ndarray | int) -> pa.Table:
    """Follows that still last (no unfollow time)."""
    n = len(user_ids)
    return _table("follows", {
        "user_id": _ids(user_ids),
        "account_id": _ids(account_ids),
        "followed_at": ms(np.broadcast_to(np.asarray(followed_ms, dtype=np.int64), (n,))),
        "unfollowed_at": pa.nulls(n, type=TIMESTAMP),
    })


def actions(
    labels: pa.Array | pa.ChunkedArray | Sequence[str], mapping: dict[str, str]
) -> pa.DictionaryArray:
    """The ``action`` column from source labels through ``mapping`` (source label → contract action).

    A label outside ``mapping`` becomes ``"unmapped:<label>"``, an extra dictionary entry after the
    contract's actions, so that validation rejects (and quarantines) the row instead of the adapter
    dropping it; the prefix keeps a stray label such as ``click`` from passing as the contract's action.
    """
    arr = labels if isinstance(labels, pa.Array | pa.ChunkedArray) else pa.array(labels, type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    encoded = arr.cast(pa.string()).fill_null("").dictionary_encode()
    found = encoded.dictionary.to_pylist()
    allowed = ENUMS["action"]
    extra = [f"{UNMAPPED}{lab}" for lab in found if lab not in mapping]
    if len(allowed) + len(extra) > np.iinfo(np.int8).max:
        raise AdapterError(f"too many unknown action labels ({len(extra)}), e.g. {extra[:5]}")
    lookup = np.array([allowed.index(mapping[lab]) if lab in mapping
                       else len(allowed) + extra.index(f"{UNMAPPED}{lab}") for lab in found], dtype=np.int8)
    codes = lookup[encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)]
    return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int8()),
                                          pa.array(list(allowed) + extra, type=pa.string()))


def events(
    event_ids: np.ndarray,
    user_ids: np.ndarray,
    target_type: str,
    target_ids: np.ndarray,
    action: pa.DictionaryArray | np.ndarray,
    time_ms: np.ndarray,
    *,
    slot: str = "other",
    source: str = "in_app",
    dwell_seconds: np.ndarray | None = None,
    position: np.ndarray | None = None,
    request_ids: np.ndarray | None = None,
    propensity: np.ndarray | None = None,
) -> pa.Table:
    """Events of one target type, slot and source; ``action`` is an enum column or its integer codes."""
    n = len(event_ids)
    spec = TABLES["events"].schema

    def optional(name: str, values: np.ndarray | None) -> pa.Array:
        typ = spec.field(name).type
        return pa.nulls(n, type=typ) if values is None else pa.array(np.asarray(values), type=typ)

    if not isinstance(action, pa.Array):
        action = enum_array("action", np.asarray(action, dtype=np.int8))
    if action.type != ENUM_TYPE:
        raise AdapterError(f"action column must be {ENUM_TYPE}, got {action.type}")
    return _table("events", {
        "event_id": _ids(event_ids),
        "user_id": _ids(user_ids),
        "target_type": _enum_const("target_type", target_type, n),
        "target_id": _ids(target_ids),
        "action": action,
        "slot": _enum_const("slot", slot, n),
        "source": _enum_const("source", source, n),
        "event_time": ms(time_ms),
        "dwell_seconds": optional("dwell_seconds", dwell_seconds),
        "position": optional("position", position),
        "request_id": optional("request_id", request_ids),
        "propensity": optional("propensity", propensity),
    })


def first_seen(keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct ``keys`` (sorted), the earliest time of each, and the row index of that earliest row.

    Ties in time go to the earlier row, so the result depends only on the file's content and order.
    """
    keys = np.asarray(keys)
    times = np.asarray(times, dtype=np.int64)
    if len(keys) == 0:
        return keys[:0], times[:0], np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(len(keys)), times, keys))
    k = keys[order]
    starts = np.concatenate([[0], np.flatnonzero(k[1:] != k[:-1]) + 1])
    return k[starts], times[order][starts], order[starts].astype(np.int64)


def hash63(values: Iterable[str]) -> np.ndarray:
    """Stable positive int63 of each string (BLAKE2b, 8 bytes, top bit cleared; 0 maps to 1)."""
    out = [int.from_bytes(hashlib.blake2b(v.encode("utf-8"), digest_size=8).digest(), "big") & (2**63 - 1)
           for v in values]
    arr = np.array(out, dtype=np.int64)
    arr[arr == 0] = 1
    return arr


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a readable file, else an :class:`AdapterError` naming it."""
    if not path.is_file():
        raise AdapterError(f"{what}: {path} is not a file")
    return path


def read_error(path: Path, err: Exception) -> AdapterError:
    """An :class:`AdapterError` that names ``path`` and says what was wrong with it."""
    return AdapterError(f"cannot read {path}: {err}")
