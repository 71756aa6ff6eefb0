"""Parsing an input column of any accepted type into its contract type, with a verdict per row.

Accepted inputs per contract type (anything else is a :class:`ContractError` for the whole column):

* integers: integers (range-checked), floats (finite and integral; NaN counts as missing), decimals, strings
  holding a decimal integer literal;
* floats: floats and integers (NaN counts as missing, ±inf is a wrong value), decimals, strings holding a
  decimal literal such as ``1.5`` or ``2e3``;
* bools: bools, integers 0/1, strings ``true``/``false``/``1``/``0`` in any case;
* timestamps: timestamps of any unit (naive ones are taken as UTC), dates, ISO-8601 strings
  (``2024-05-01``, ``2024-05-01T08:30``, ``2024-05-01 08:30:00.250+08:00``; no offset means UTC);
  integers are refused because an epoch unit would have to be guessed;
* enums: strings or dictionaries of strings holding one of the allowed values;
* lists of ids: lists of integers or of integer strings, or strings of ``;``-separated ids as a CSV holds
  them (``"3;4"``); in a string column a null or blank value is the empty list.

Strings are trimmed, and a blank string counts as a missing value.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.contract import ENUM_TYPE, ENUMS, TIMESTAMP, Column, enum_array
from features.validate_base import ContractError, Defects, message, quoted

_INT_RE = r"^[+-]?[0-9]{1,38}$"
_FLOAT_RE = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_ISO_RE = (
    r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[T ](?P<hm>[0-9]{2}:[0-9]{2})(?::(?P<sec>[0-9]{2})(?:[.,](?P<frac>[0-9]{1,9}))?)?)?"
    r"(?P<tz>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?$"
)
_DECIMAL = pa.decimal128(38, 0)


@dataclass(frozen=True)
class Parsed:
    """One parsed column: contract-typed values, null where the input was missing or not of the type."""

    values: pa.Array
    missing: np.ndarray  # the input held no value (null, blank string, NaN)
    bad: np.ndarray  # the input held a value that is not of the column's type (already a defect)


def parse_column(table: str, column: Column, data: pa.Array | pa.ChunkedArray, defects: Defects) -> Parsed:
    """Parse ``data`` as ``column`` of ``table``, recording a ``wrong_type``/``unknown_enum`` per bad row."""
    original = data.combine_chunks() if isinstance(data, pa.ChunkedArray) else data
    arr = _plain(original)
    if column.enum is not None:
        _expect(table, column, arr, ("string", "null"), "strings")
        values, bad = _enum(arr, column.enum)
        allowed = ", ".join(ENUMS[column.enum])
        suffix = f" (allowed: {allowed})"
        if bad.any():
            shown = quoted(original.filter(pa.array(bad)))
            text = message(f"{column.name}: unknown value ", shown, suffix)
            defects.add("unknown_enum", np.flatnonzero(bad), text)
    else:
        values, bad, what = _parse_typed(table, column, arr)
        if bad.any():
            shown = quoted(original.filter(pa.array(bad)))
            text = message(f"{column.name}: ", shown, f" is not {what}")
            defects.add("wrong_type", np.flatnonzero(bad), text)
    missing = _is_null(values) & ~bad
    return Parsed(values, missing, bad)


def _parse_typed(table: str, column: Column, arr: pa.Array) -> tuple[pa.Array, np.ndarray, str]:
    kind = column.type
    if column.list_of_ids:
        what = "lists of ids or ';'-separated strings"
        _expect(table, column, arr, ("string", "list", "null"), what)
        if _family(arr.type) == "list" and _family(arr.type.value_type) not in ("integer", "string", "null"):
            raise ContractError(
                f"column {column.name!r} of table {table!r} has type {arr.type}, which cannot hold {what}")
        values, bad = _id_list(arr)
        return values, bad, "a list of int64 (';'-separated ids)"
    if pa.types.is_timestamp(kind):
        if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
            raise ContractError(
                f"column {column.name!r} of table {table!r} holds numbers ({arr.type}); epoch units are not "
                "guessed: give timestamps or ISO-8601 strings")
        _expect(table, column, arr, ("string", "timestamp", "date", "null"), "timestamps")
        values, bad = _timestamps(arr)
        return values, bad, "a timestamp (ISO-8601 expected, e.g. 2024-05-01T08:30:00Z)"
    if pa.types.is_integer(kind):
        _expect(table, column, arr, ("string", "integer", "floating", "decimal", "null"), "integers")
        values, bad = _integers(arr, kind)
        return values, bad, f"an {kind}"
    if pa.types.is_floating(kind):
        _expect(table, column, arr, ("string", "integer", "floating", "decimal", "null"), "numbers")
        values, bad = _floats(arr, kind)
        return values, bad, f"a {_FLOAT_NAMES[kind]}"
    if pa.types.is_boolean(kind):
        _expect(table, column, arr, ("string", "boolean", "integer", "null"), "booleans")
        values, bad = _bools(arr)
        return values, bad, "a bool (true/false)"
    raise ContractError(f"no parser for column {column.name!r} of table {table!r} (type {kind})")


_FLOAT_NAMES = {pa.float32(): "float32", pa.float64(): "float64"}


def _plain(arr: pa.Array) -> pa.Array:
    """Decode dictionaries of non-enum data and bring string flavours to plain ``string``."""
    if pa.types.is_dictionary(arr.type) and not _stringish(arr.type.value_type):
        arr = arr.dictionary_decode()
    if _stringish(arr.type) and arr.type != pa.string():
        arr = arr.cast(pa.string())
    return arr


def _stringish(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def _family(kind: pa.DataType) -> str:
    if pa.types.is_dictionary(kind):
        return "string" if _stringish(kind.value_type) else "dictionary"
    checks = (
        ("string", _stringish), ("null", pa.types.is_null), ("boolean", pa.types.is_boolean),
        ("integer", pa.types.is_integer), ("floating", pa.types.is_floating),
        ("decimal", pa.types.is_decimal), ("timestamp", pa.types.is_timestamp), ("date", pa.types.is_date),
        ("list", lambda k: pa.types.is_list(k) or pa.types.is_large_list(k)),
    )
    return next((name for name, check in checks if check(kind)), "other")


def _expect(table: str, column: Column, arr: pa.Array, families: tuple[str, ...], what: str) -> None:
    if _family(arr.type) not in families:
        raise ContractError(
            f"column {column.name!r} of table {table!r} has type {arr.type}, which cannot hold {what} "
            f"(contract type {column.type})")


def _is_null(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.zeros(len(arr), dtype=bool)
    return np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)


def _strings(arr: pa.Array) -> pa.Array:
    """Trimmed strings with blank ones turned into nulls."""
    trimmed = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _matches(arr: pa.Array, pattern: str) -> np.ndarray:
    return pc.fill_null(pc.match_substring_regex(arr, pattern), False).to_numpy(zero_copy_only=False)


def _nulls_like(arr: pa.Array, kind: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    return pa.nulls(len(arr), kind), np.zeros(len(arr), dtype=bool)


def _integers(arr: pa.Array, kind: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Integers of type ``kind``; ``bad`` marks present values that are not integers in range."""
    info = np.iinfo(kind.to_pandas_dtype())
    if pa.types.is_null(arr.type):
        return _nulls_like(arr, kind)
    if pa.types.is_integer(arr.type):
        bad = _out_of_range(arr, int(info.min), int(info.max))
        return _masked(arr, bad).cast(kind), bad
    if pa.types.is_floating(arr.type):
        x = pc.fill_null(arr, np.nan).to_numpy(zero_copy_only=False).astype(np.float64)
        present = ~np.isnan(x)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(x) & (x == np.floor(x)) & (x >= float(info.min)) & (x < -float(info.min))
        bad = present & ~ok
        ints = np.where(ok, x, 0).astype(np.int64)
        return pa.array(ints, pa.int64(), mask=~ok).cast(kind), bad
    # Strings (and decimals, through their text) go through an exact decimal so that no digit is lost.
    text = _strings(arr.cast(pa.string()) if pa.types.is_decimal(arr.type) else arr)
    present = ~_is_null(text)
    decimals = _masked(text, ~_matches(text, _INT_RE)).cast(_DECIMAL)
    lo, hi = pa.scalar(Decimal(int(info.min)), _DECIMAL), pa.scalar(Decimal(int(info.max)), _DECIMAL)
    in_range = pc.and_(pc.greater_equal(decimals, lo), pc.less_equal(decimals, hi))
    ok = pc.fill_null(in_range, False).to_numpy(zero_copy_only=False)
    bad = present & ~ok
    return _masked(decimals, ~ok).cast(kind), bad


def _out_of_range(arr: pa.Array, lo: int, hi: int) -> np.ndarray:
    """Exact range check of an integer array against ``[lo, hi]`` in the array's own type."""
    src = np.iinfo(arr.type.to_pandas_dtype())
    mm = pc.min_max(arr)
    if mm["min"].as_py() is None or (mm["min"].as_py() >= lo and mm["max"].as_py() <= hi):
        return np.zeros(len(arr), dtype=bool)
    out = pa.array(np.zeros(len(arr), dtype=bool))
    if lo > src.min:
        out = pc.or_(out, pc.less(arr, pa.scalar(lo, arr.type)))
    if hi < src.max:
        out = pc.or_(out, pc.greater(arr, pa.scalar(hi, arr.type)))
    return pc.fill_null(out, False).to_numpy(zero_copy_only=False)


def _masked(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    """``arr`` with the ``mask`` positions set to null (no copy when nothing is masked)."""
    if not mask.any():
        return arr
    return pc.if_else(pa.array(mask), pa.scalar(None, arr.type), arr)


def _floats(arr: pa.Array, kind: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    if pa.types.is_null(arr.type):
        return _nulls_like(arr, kind)
    bad = np.zeros(len(arr), dtype=bool)
    if pa.types.is_string(arr.type):
        text = _strings(arr)
        bad = ~_is_null(text) & ~_matches(text, _FLOAT_RE)
        arr = _masked(text, bad).cast(pa.float64())
    values = arr.cast(kind, safe=False)
    if values.null_count == 0 and pc.all(pc.is_finite(values)).as_py():
        return values, bad
    x = pc.fill_null(values, 0.0).to_numpy(zero_copy_only=False)
    nan = np.isnan(x)
    bad |= np.isinf(x) & ~_is_null(values)
    return _masked(values, bad | nan), bad


def _bools(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    if pa.types.is_null(arr.type):
        return _nulls_like(arr, pa.bool_())
    if pa.types.is_boolean(arr.type):
        return arr, np.zeros(len(arr), dtype=bool)
    if pa.types.is_integer(arr.type):
        src, truthy, falsy = arr, pc.equal(arr, 1), pc.equal(arr, 0)
    else:
        src = _strings(arr)
        text = pc.utf8_lower(src)
        truthy = pc.is_in(text, value_set=pa.array(["true", "1"]))
        falsy = pc.is_in(text, value_set=pa.array(["false", "0"]))
    truthy, falsy = pc.fill_null(truthy, False), pc.fill_null(falsy, False)
    ok = pc.or_(truthy, falsy).to_numpy(zero_copy_only=False)
    bad = ~_is_null(src) & ~ok
    return _masked(truthy, ~ok), bad


def _timestamps(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    if pa.types.is_null(arr.type):
        return _nulls_like(arr, TIMESTAMP)
    if pa.types.is_timestamp(arr.type):
        utc = arr.cast(pa.timestamp(arr.type.unit, tz="UTC"))
        return utc.cast(TIMESTAMP, safe=False), np.zeros(len(arr), dtype=bool)
    if pa.types.is_date(arr.type):
        return arr.cast(TIMESTAMP), np.zeros(len(arr), dtype=bool)
    return _iso(_strings(arr))


def _iso(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Parse ISO-8601 strings to UTC milliseconds; calendar-impossible dates and times are bad."""
    parts = pc.extract_regex(text, _ISO_RE)

    def part(name: str, default: str) -> pa.Array:
        got = pc.fill_null(pc.struct_field(parts, name), "")
        return pc.if_else(pc.equal(got, ""), default, got)

    canonical = pc.binary_join_element_wise(
        pc.struct_field(parts, "date"), "T", part("hm", "00:00"), ":", part("sec", "00"), "")
    seconds = pc.strptime(canonical, format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True)
    round_trip = _same_fields(canonical, seconds)
    frac_ms = pc.utf8_slice_codeunits(pc.utf8_rpad(part("frac", "0"), 3, "0"), 0, 3).cast(pa.int64())
    tz = pc.replace_substring(part("tz", "Z"), ":", "")
    sign = pc.if_else(pc.starts_with(tz, "-"), -1, 1)
    hours = pc.utf8_slice_codeunits(tz, 1, 3)
    minutes = pc.utf8_slice_codeunits(tz, 3, 5)
    hours = pc.if_else(pc.equal(hours, ""), "0", hours).cast(pa.int64())
    minutes = pc.if_else(pc.equal(minutes, ""), "0", minutes).cast(pa.int64())
    ok_offset = pc.and_(pc.less_equal(hours, 23), pc.less_equal(minutes, 59))
    ok = pc.fill_null(pc.and_(round_trip, ok_offset), False).to_numpy(zero_copy_only=False)
    secs = pc.fill_null(seconds.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    offset = (pc.multiply(sign, pc.add(pc.multiply(hours, 60), minutes))).to_numpy(zero_copy_only=False)
    millis = secs * 1000 + frac_ms.to_numpy(zero_copy_only=False) - offset * 60_000
    values = pa.array(np.where(ok, millis, 0), pa.int64(), mask=~ok).cast(TIMESTAMP)
    return values, ~_is_null(text) & ~ok


def _same_fields(canonical: pa.Array, parsed: pa.Array) -> pa.Array:
    """Whether ``parsed`` still shows the fields written in ``canonical`` (``strptime`` rolls 02-30 over to
    03-01 and 23:59:60 to the next day; those are not real times)."""
    same = pa.array(np.ones(len(canonical), dtype=bool))
    fields = ((0, 4, pc.year), (5, 7, pc.month), (8, 10, pc.day), (11, 13, pc.hour), (14, 16, pc.minute),
              (17, 19, pc.second))
    for start, stop, extract in fields:
        written = pc.utf8_slice_codeunits(canonical, start, stop).cast(pa.int64())
        same = pc.and_(same, pc.equal(written, extract(parsed).cast(pa.int64())))
    return same


def _enum(arr: pa.Array, enum: str) -> tuple[pa.Array, np.ndarray]:
    """Contract dictionary column of ``enum``; ``bad`` marks values outside the allowed tuple."""
    if pa.types.is_null(arr.type):
        return enum_array(enum, np.full(len(arr), -1, dtype=np.int8)), np.zeros(len(arr), dtype=bool)
    if arr.type == ENUM_TYPE and arr.dictionary.equals(pa.array(ENUMS[enum], pa.string())):
        return arr, np.zeros(len(arr), dtype=bool)  # already the contract encoding
    encoded = arr if pa.types.is_dictionary(arr.type) else arr.dictionary_encode()
    words = _strings(encoded.dictionary.cast(pa.string()))
    found = pc.index_in(words, value_set=pa.array(ENUMS[enum], pa.string()))
    lookup = pc.fill_null(found, -2).to_numpy(zero_copy_only=False).astype(np.int8)
    lookup = np.append(np.where(_is_null(words), -1, lookup), np.int8(-1))  # last slot: null index
    indices = pc.fill_null(encoded.indices.cast(pa.int64()), len(lookup) - 1)
    codes = lookup[indices.to_numpy(zero_copy_only=False)]
    bad = codes == -2
    return enum_array(enum, np.where(bad, -1, codes)), bad


def _id_list(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """``list<int64>`` from lists or ``;``-separated strings; a row is bad if any of its ids is."""
    n = len(arr)
    if pa.types.is_null(arr.type):
        return _nulls_like(arr, pa.list_(pa.int64()))
    if pa.types.is_string(arr.type):
        text = _strings(arr)
        row_null = np.zeros(n, dtype=bool)  # CSV convention: no value is the empty list
        lists = pc.split_pattern(pc.fill_null(text, ""), ";")
        parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
        keep = ~_is_null(text)[parents]
        elements = pc.utf8_trim_whitespace(lists.flatten()).filter(pa.array(keep))
        parents = parents[keep]
    else:
        row_null = _is_null(arr)
        elements = _plain(arr.flatten())
        parents = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False)
    ints, bad_elements = _integers(elements, pa.int64())
    bad_elements |= _is_null(ints) & ~bad_elements  # an empty or null id inside a list
    bad = np.zeros(n, dtype=bool)
    bad[parents[bad_elements]] = True
    counts = np.bincount(parents, minlength=n)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    values = pa.ListArray.from_arrays(pa.array(offsets), ints, mask=pa.array(row_null | bad))
    return values, bad
