"""Row checks that run on parsed columns: future times, dangling references, tier states, duplicate keys.

Every check is vectorised over the whole table and only touches Python per defective row through Arrow
string kernels (see :mod:`features.validate_base`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.contract import ENUMS, Reference, TableSpec, code
from features.validate_base import Defects, iso, message, render

#: Tiers whose accounts carry no tier state; every other tier must have one.
STATELESS_TIERS: tuple[str, ...] = ("W1", "H1")

#: A lookup table replaces hashing when the known ids span at most this many slots per id (plus a floor).
_DENSE_FACTOR, _DENSE_FLOOR = 4, 1 << 16


def _numpy(arr: pa.Array | pa.ChunkedArray, fill: int = 0) -> np.ndarray:
    if arr.null_count:
        arr = pc.fill_null(arr, fill)
    return arr.to_numpy(zero_copy_only=False)


def _nulls(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if arr.null_count == 0:
        return np.zeros(len(arr), dtype=bool)
    return np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)


def _codes(arr: pa.Array) -> np.ndarray:
    """Codes of a contract enum column built by :func:`features.contract.enum_array` (-1 for null)."""
    return _numpy(arr.indices.cast(pa.int64()), -1)


def isin(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Membership of int64 ``values`` in ``known``: a lookup table for dense ids, else a hash set."""
    known = np.asarray(known, dtype=np.int64)
    if not len(values) or not len(known):
        return np.zeros(len(values), dtype=bool)
    lo, hi = int(known.min()), int(known.max())
    span = hi - lo + 1
    if span <= _DENSE_FACTOR * len(known) + _DENSE_FLOOR:
        table = np.zeros(span, dtype=bool)
        table[known - lo] = True
        inside = (values >= lo) & (values <= hi)
        return inside & table[np.where(inside, values - lo, 0)]
    found = pc.is_in(pa.array(values, pa.int64()), value_set=pa.array(known, pa.int64()))
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def check_future(spec: TableSpec, typed: pa.Table, limit_ms: int, defects: Defects) -> None:
    """``future_time`` for every time value later than ``limit_ms`` (now plus the tolerance)."""
    for name in spec.time_columns:
        column = typed.column(name).combine_chunks()
        millis = _numpy(column.cast(pa.int64()), np.iinfo(np.int64).min)
        rows = np.flatnonzero(millis > limit_ms)
        if len(rows):
            defects.add("future_time", rows,
                        message(f"{name}: ", iso(column.take(pa.array(rows))), " is in the future"))


def check_references(spec: TableSpec, typed: pa.Table, known_ids: Mapping[str, np.ndarray],
                     defects: Defects) -> None:
    """``dangling_reference`` for every id (or list element) naming no accepted row of its table."""
    for ref in spec.references:
        column = typed.column(ref.column).combine_chunks()
        if pa.types.is_list(column.type):
            values = _numpy(column.flatten())
            rows = pc.list_parent_indices(column).to_numpy(zero_copy_only=False).astype(np.int64)
            checked = None
        else:
            values = _numpy(column)
            rows = None
            checked = ~_nulls(column) if column.null_count else None
        if ref.when_column is not None:
            enum = spec.column_map[ref.when_column].enum
            assert enum is not None and ref.when_value is not None
            applies = _codes(typed.column(ref.when_column).combine_chunks()) == code(enum, ref.when_value)
            applies = applies if rows is None else applies[rows]
            checked = applies if checked is None else checked & applies
        if checked is None:
            dangling = np.flatnonzero(~isin(values, known_ids[ref.table]))
        else:
            dangling = np.flatnonzero(checked)
            dangling = dangling[~isin(values[dangling], known_ids[ref.table])]
        if len(dangling):
            ids = pa.array(values[dangling], pa.int64())
            at = dangling if rows is None else rows[dangling]
            text = message(f"{ref.column}: {_noun(ref)} ", ids, " does not exist")
            defects.add("dangling_reference", at, text)


def _noun(ref: Reference) -> str:
    return ref.table[:-1] if ref.table.endswith("s") else ref.table


def check_tier_state(typed: pa.Table, state_unparsed: np.ndarray, defects: Defects) -> None:
    """``invalid_state``: W1 and H1 accounts have no tier state, W2–W4 accounts must have one."""
    tier = typed.column("tier").combine_chunks()
    state = typed.column("tier_state").combine_chunks()
    codes = _codes(tier)
    stateless = np.isin(codes, [code("tier", t) for t in STATELESS_TIERS])
    needs = (codes >= 0) & ~stateless
    has_state = ~_nulls(state)
    extra = np.flatnonzero(stateless & has_state)
    if len(extra):
        take = pa.array(extra)
        defects.add("invalid_state", extra, message(
            "tier_state: must be empty for tier ", render(tier.take(take)),
            " (got '", render(state.take(take)), "')"))
    lacking = np.flatnonzero(needs & ~has_state & ~state_unparsed)
    if len(lacking):
        allowed = ", ".join(ENUMS["tier_state"])
        defects.add("invalid_state", lacking, message(
            "tier_state: missing for tier ", render(tier.take(pa.array(lacking))),
            f" (tiers other than {' and '.join(STATELESS_TIERS)} need one of: {allowed})"))


def check_keys(spec: TableSpec, typed: pa.Table, candidates: np.ndarray, existing: pa.Table | None,
               defects: Defects) -> None:
    """``duplicate`` / ``reused_id`` among ``candidates`` (rows with no other defect), in input order.

    The reference row of a key is its row in ``existing`` if there is one, else its first candidate row;
    every other candidate with that key is a duplicate (same content) or a reuse (different content).
    """
    idx = np.flatnonzero(candidates)
    if not spec.key or not len(idx):
        return
    keys = {f"k{j}": _numpy(typed.column(k).cast(pa.int64()) if _is_time(typed, k) else typed.column(k))
            for j, k in enumerate(spec.key)}
    if len(idx) < len(candidates):
        keys = {name: values[idx] for name, values in keys.items()}
    if existing is None and _unique(keys):
        return
    names = list(keys)
    batch = pa.table({**keys, "i": idx})
    info = batch.group_by(names, use_threads=False).aggregate([("i", "min")])
    if existing is not None:
        stored = existing.select(list(spec.key))
        stored_keys = {f"k{j}": _numpy(stored.column(k).cast(pa.int64())) for j, k in enumerate(spec.key)}
        ids = pa.table({**stored_keys, "j": np.arange(len(stored), dtype=np.int64)})
        info = info.join(ids.group_by(names).aggregate([("j", "min")]), keys=names, join_type="left outer")
    else:
        info = info.append_column("j_min", pa.nulls(len(info), pa.int64()))
    joined = batch.join(info, keys=names)
    rows, first = _numpy(joined["i"]), _numpy(joined["i_min"])
    stored_at, has_stored = _numpy(joined["j_min"], -1), ~_nulls(joined["j_min"])
    against_batch = ~has_stored & (rows != first)
    _compare(spec, typed, rows[against_batch], typed, first[against_batch], defects)
    if existing is not None:
        _compare(spec, typed, rows[has_stored], existing, stored_at[has_stored], defects)


def _is_time(typed: pa.Table, name: str) -> bool:
    return pa.types.is_timestamp(typed.schema.field(name).type)


def _unique(keys: dict[str, np.ndarray]) -> bool:
    """Whether the key tuples are all distinct (fast path for a clean table)."""
    if len(keys) > 1:
        return False
    (values,) = keys.values()
    if not len(values):
        return True
    if bool(np.all(values[1:] > values[:-1])):
        return True  # strictly increasing, as generated ids usually are
    lo, hi = int(values.min()), int(values.max())
    if hi - lo + 1 <= _DENSE_FACTOR * len(values) + _DENSE_FLOOR:
        return int(np.bincount(values - lo).max()) <= 1
    return pc.count_distinct(pa.array(values)).as_py() == len(values)


def _compare(spec: TableSpec, typed: pa.Table, rows: np.ndarray, reference: pa.Table, ref_rows: np.ndarray,
             defects: Defects) -> None:
    if not len(rows):
        return
    order = np.argsort(rows, kind="stable")
    rows, ref_rows = rows[order], ref_rows[order]
    left, right = typed.take(pa.array(rows)), reference.select(spec.names).take(pa.array(ref_rows))
    # "name, " per differing column, trailing separator trimmed (column names never end in "," or " ").
    differs = [pc.if_else(_differ(left[n], right[n]), f"{n}, ", "") for n in spec.names]
    diff_names = pc.utf8_rtrim(pc.binary_join_element_wise(*differs, ""), characters=", ")
    same = pc.equal(diff_names, "").to_numpy(zero_copy_only=False)
    key_names = ", ".join(spec.key)
    key_text = _key_text(spec, left)
    noun = "id" if len(spec.key) == 1 else "key"
    dup = np.flatnonzero(same)
    defects.add("duplicate", rows[dup], message(
        f"{key_names}: duplicate {noun} ", key_text.take(pa.array(dup)), " (identical row already accepted)"))
    reused = pa.array(np.flatnonzero(~same))
    defects.add("reused_id", rows[~same], message(
        f"{key_names}: {noun} ", key_text.take(reused), " reused with different content (differs in: ",
        diff_names.take(reused), ")"))


def _differ(a: pa.ChunkedArray, b: pa.ChunkedArray) -> pa.Array:
    a, b = a.combine_chunks(), b.combine_chunks()
    if pa.types.is_dictionary(a.type) or pa.types.is_list(a.type):
        a, b = render(a), render(b)
    equal = pc.fill_null(pc.equal(a, b), False)
    both_null = pc.and_(a.is_null(), b.is_null())
    return pc.invert(pc.or_(equal, both_null))


def _key_text(spec: TableSpec, rows: pa.Table) -> pa.Array:
    parts = [pc.fill_null(render(rows[k]), "null") for k in spec.key]
    if len(parts) == 1:
        return parts[0]
    return message("(", pc.binary_join_element_wise(*parts, ", "), ")")
