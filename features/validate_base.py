"""Shared pieces of validation: the error type, the defect ledger and value rendering for reasons.

Reasons are built with Arrow string kernels on the defective rows only, so a clean table costs nothing
here and a table full of defects still costs no per-row Python.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Reason kinds counted in a report, in the order checks run.
KINDS: tuple[str, ...] = (
    "wrong_type", "unknown_enum", "missing", "future_time", "dangling_reference", "invalid_state",
    "duplicate", "reused_id",
)

#: Longest rendering of an input value inside a reason; longer values are cut and end with "…".
MAX_VALUE_CHARS = 80


class ContractError(ValueError):
    """A whole-table problem (absent or unknown column, uncastable column type, missing reference table).

    Row-level problems never raise: they go to quarantine.
    """


class Defects:
    """Ledger of row defects: kind, row index and a human-readable message for each defect found."""

    def __init__(self, num_rows: int) -> None:
        self.num_rows = num_rows
        self._kinds: list[str] = []
        self._rows: list[np.ndarray] = []
        self._messages: list[pa.Array] = []

    def add(self, kind: str, rows: np.ndarray, messages: pa.Array | str) -> None:
        """Record ``kind`` for ``rows`` (input row indices) with one message per row, or one for all."""
        if kind not in KINDS:
            raise ValueError(f"unknown defect kind {kind!r}")
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return
        if isinstance(messages, str):
            messages = pa.repeat(pa.scalar(messages, pa.string()), len(rows))
        if len(messages) != len(rows):
            raise ValueError(f"{len(messages)} messages for {len(rows)} rows")
        self._kinds.append(kind)
        self._rows.append(rows)
        self._messages.append(messages.cast(pa.string()))

    def mask(self) -> np.ndarray:
        """Boolean mask of rows with at least one defect."""
        bad = np.zeros(self.num_rows, dtype=bool)
        for rows in self._rows:
            bad[rows] = True
        return bad

    def counts(self) -> dict[str, int]:
        """Rows with at least one defect of each kind (kinds with no rows are left out)."""
        by_kind: dict[str, list[np.ndarray]] = {}
        for kind, rows in zip(self._kinds, self._rows, strict=True):
            by_kind.setdefault(kind, []).append(rows)
        return {k: len(np.unique(np.concatenate(by_kind[k]))) for k in KINDS if k in by_kind}

    def reasons(self) -> tuple[np.ndarray, pa.Array]:
        """Defective rows in ascending order and, for each, its messages joined by ``"; "``."""
        if not self._rows:
            return np.zeros(0, dtype=np.int64), pa.array([], pa.string())
        rows = np.concatenate(self._rows)
        seq = np.arange(len(rows), dtype=np.int64)
        order = np.lexsort((seq, rows))  # by row, then in the order the defects were found
        rows_sorted = rows[order]
        unique_rows, starts = np.unique(rows_sorted, return_index=True)
        offsets = np.append(starts, len(rows_sorted)).astype(np.int32)
        messages = pa.concat_arrays(self._messages).take(pa.array(order))
        joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), messages), "; ")
        return unique_rows, joined


def message(*parts: str | pa.Array) -> pa.Array:
    """Concatenate literal strings and string arrays element-wise (nulls render as ``null``)."""
    pieces = [p if isinstance(p, str) else pc.fill_null(p.cast(pa.string()), "null") for p in parts]
    if not any(isinstance(p, pa.Array) for p in pieces):
        raise ValueError("message needs at least one array part")
    return pc.binary_join_element_wise(*pieces, "")


def quoted(values: pa.Array) -> pa.Array:
    """Render values for a reason as ``'value'``, cut to :data:`MAX_VALUE_CHARS`."""
    text = pc.fill_null(render(values), "null")
    long = pc.greater(pc.utf8_length(text), MAX_VALUE_CHARS)
    cut = pc.binary_join_element_wise(pc.utf8_slice_codeunits(text, 0, MAX_VALUE_CHARS), "…", "")
    return message("'", pc.if_else(long, cut, text), "'")


def iso(times: pa.Array) -> pa.Array:
    """ISO-8601 UTC rendering of a timestamp array: ``2031-01-01T00:00:00Z``, fractions only if non-zero."""
    unit = times.type.unit
    utc = times.cast(pa.timestamp(unit, tz="UTC"))
    whole = pc.strftime(utc.cast(pa.timestamp("s", tz="UTC"), safe=False), "%Y-%m-%dT%H:%M:%SZ")
    if unit == "s":
        return whole
    per_second = {"ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    frac = pc.strftime(utc, "%Y-%m-%dT%H:%M:%SZ")
    is_whole = pc.equal(_mod(utc, per_second), 0)
    return pc.if_else(is_whole, whole, frac)


def _mod(times: pa.Array, divisor: int) -> pa.Array:
    values = times.cast(pa.int64()).to_numpy(zero_copy_only=False)
    nulls = times.is_null().to_numpy(zero_copy_only=False)
    return pa.array(np.where(nulls, 0, values) % divisor)


def render(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Any column as strings, as a CSV would hold it (null stays null).

    Timestamps are ISO-8601 UTC, enums their value, lists of ids ``;``-separated (the CSV convention).
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    kind = values.type
    if pa.types.is_dictionary(kind):
        return render(values.dictionary_decode())
    if pa.types.is_string(kind):
        return values
    if pa.types.is_timestamp(kind):
        return iso(values)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pc.binary_join(values.cast(pa.list_(pa.string())), ";")
    try:
        return values.cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.array([None if v is None else str(v) for v in values.to_pylist()], pa.string())
