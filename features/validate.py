"""Validation of a contract table: every row is either accepted (with the exact contract schema) or
quarantined with a reason naming the field, never dropped.

Whole-table problems (an absent required column, an unknown column, a column of a type that cannot hold
the contract type, a referenced table that was not loaded) raise :class:`ContractError` instead.

Checks, and the reason kinds they count under in :attr:`TableReport.reasons`:

==================  ==================================================================================
``wrong_type``      a value that does not parse as the column's type (see :mod:`features.validate_parse`)
``unknown_enum``    an enum value outside :data:`features.contract.ENUMS`
``missing``         no value in a non-nullable column (null, blank string, NaN)
``future_time``     a time column later than ``now_ms + tolerance_ms``
``dangling_reference``  an id (or list element) naming no accepted row of the referenced table
``invalid_state``   accounts: W1/H1 with a tier state, or W2–W4 without one
``duplicate``       a key already accepted (earlier in the input, or in ``existing``) with the same content
``reused_id``       a key already accepted with different content
==================  ==================================================================================

Duplicate keys are judged among rows free of every other defect, so the first *good* row with a key is
the one accepted. A row with several defects gives one quarantine row whose reasons are joined by ``"; "``;
``reasons`` counts rows per kind, so a row can count under several kinds but is quarantined once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from features.contract import TABLES, TableSpec
from features.storage import conform
from features.validate_base import KINDS, ContractError, Defects, render
from features.validate_checks import check_future, check_keys, check_references, check_tier_state
from features.validate_parse import parse_column

__all__ = ["KINDS", "ContractError", "TableReport", "Validated", "quarantine_schema", "validate_table"]

#: Columns a quarantine table adds after the input's own columns (all rendered as strings).
ROW, REASON = "row", "reason"


@dataclass(frozen=True)
class TableReport:
    """Row counts of one validated table; ``reasons`` maps a reason kind to the rows showing it."""

    table: str
    rows_in: int
    accepted: int
    quarantined: int
    reasons: dict[str, int]


@dataclass(frozen=True)
class Validated:
    """Outcome of :func:`validate_table`.

    ``accepted`` has exactly the contract schema. ``quarantine`` has every input column rendered as a
    string (null stays null), then ``row`` (int64 index of the row in the input) and ``reason``.
    """

    accepted: pa.Table
    quarantine: pa.Table
    report: TableReport


def validate_table(name: str, raw: pa.Table, *, known_ids: Mapping[str, np.ndarray], now_ms: int,
                   tolerance_ms: int = 300_000, existing: pa.Table | None = None) -> Validated:
    """Split ``raw`` rows of contract table ``name`` into accepted and quarantined rows.

    ``known_ids[t]`` holds the accepted ids (int64) of every table ``t`` that ``name`` references; it must
    be present for each of them. ``existing`` is an already-stored table of the same name: its keys count as
    already accepted. Absent nullable columns are read as all-null; absent required columns, and columns the
    contract does not know, raise :class:`ContractError`.
    """
    spec = _spec(name)
    _check_columns(spec, raw)
    _check_known(spec, known_ids)
    n = raw.num_rows
    defects = Defects(n)
    arrays: list[pa.Array] = []
    unparsed: dict[str, np.ndarray] = {}
    for column in spec.columns:
        if column.name not in raw.column_names:
            arrays.append(pa.nulls(n, column.type))
            unparsed[column.name] = np.zeros(n, dtype=bool)
            continue
        parsed = parse_column(name, column, raw.column(column.name), defects)
        if not column.nullable:
            defects.add("missing", np.flatnonzero(parsed.missing), f"{column.name}: missing value")
        arrays.append(parsed.values)
        unparsed[column.name] = parsed.bad
    typed = pa.Table.from_arrays(arrays, schema=spec.schema)
    check_future(spec, typed, now_ms + tolerance_ms, defects)
    check_references(spec, typed, known_ids, defects)
    if name == "accounts":
        check_tier_state(typed, unparsed["tier_state"], defects)
    stored = conform(spec, existing) if existing is not None else None
    check_keys(spec, typed, ~defects.mask(), stored, defects)
    return _split(spec, raw, typed, defects)


def quarantine_schema(raw_schema: pa.Schema) -> pa.Schema:
    """Schema of the quarantine of an input with ``raw_schema``."""
    fields = [pa.field(f.name, pa.string()) for f in raw_schema]
    return pa.schema([*fields, pa.field(ROW, pa.int64(), nullable=False), pa.field(REASON, pa.string())])


def _spec(name: str) -> TableSpec:
    if name not in TABLES:
        raise ContractError(f"{name!r} is not a contract table (known: {', '.join(TABLES)})")
    return TABLES[name]


def _check_columns(spec: TableSpec, raw: pa.Table) -> None:
    unknown = [c for c in raw.column_names if c not in spec.column_map]
    if unknown:
        raise ContractError(
            f"table {spec.name!r} has column(s) not in the contract: {', '.join(unknown)} "
            f"(known: {', '.join(spec.names)})")
    repeated = sorted({c for c in raw.column_names if raw.column_names.count(c) > 1})
    if repeated:
        raise ContractError(f"table {spec.name!r} has repeated column(s): {', '.join(repeated)}")
    absent = [c.name for c in spec.columns if not c.nullable and c.name not in raw.column_names]
    if absent:
        raise ContractError(f"table {spec.name!r} lacks required column(s): {', '.join(absent)}")


def _check_known(spec: TableSpec, known_ids: Mapping[str, np.ndarray]) -> None:
    for ref in spec.references:
        if ref.table not in known_ids:
            raise ContractError(
                f"table {ref.table!r} needed to check {spec.name}.{ref.column} was not loaded")


def _split(spec: TableSpec, raw: pa.Table, typed: pa.Table, defects: Defects) -> Validated:
    bad = defects.mask()
    accepted = conform(spec, typed.filter(pa.array(~bad)) if bad.any() else typed)
    rows, reasons = defects.reasons()
    picked = raw.take(pa.array(rows, pa.int64()))
    columns = [render(picked.column(i)) for i in range(raw.num_columns)]
    quarantine = pa.Table.from_arrays([*columns, pa.array(rows, pa.int64()), reasons],
                                      schema=quarantine_schema(raw.schema))
    counts = defects.counts()
    report = TableReport(spec.name, raw.num_rows, accepted.num_rows, quarantine.num_rows, counts)
    if report.accepted + report.quarantined != report.rows_in:
        raise RuntimeError(f"validation of {spec.name!r} lost rows: {report}")
    return Validated(accepted, quarantine, report)
