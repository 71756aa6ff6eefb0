"""Loading contract tables: validate every table in contract order, then publish everything at once.

Nothing is lost on the way: each input row is either in its accepted table or in
``quarantine/<table>`` with the reason, and the counts are checked before anything is written. The
whole data set (tables, quarantine, truth) is published by one :func:`features.storage.write_dataset`
call, so ``out`` shows either the complete result or nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from features.contract import TABLES
from features.storage import read_table, table_names, write_dataset
from features.validate import ContractError, TableReport, Validated, validate_table


@dataclass(frozen=True)
class LoadReport:
    """Per-table validation reports of one load (in contract order) and where the data set lives."""

    tables: dict[str, TableReport]
    out: Path

    def rows(self) -> list[tuple[str, int, int, int]]:
        """``(table, rows_in, accepted, quarantined)`` per table, for summary tables."""
        return [(r.table, r.rows_in, r.accepted, r.quarantined) for r in self.tables.values()]


def load_tables(raw: Mapping[str, pa.Table], out: Path, *, now_ms: int | None = None,
                tolerance_ms: int = 300_000, overwrite: bool = False,
                truth: Mapping[str, pa.Table] | None = None) -> LoadReport:
    """Validate ``raw`` tables and publish accepted rows, quarantine and ``truth`` to ``out`` atomically.

    Tables are validated in contract order, each against the accepted ids of the tables it references, so
    a row pointing at a quarantined row is quarantined too. ``now_ms`` defaults to the wall clock. If any
    step raises, ``out`` is left as it was (absent, or the previous data set).
    """
    results = validate_tables(raw, now_ms=now_ms, tolerance_ms=tolerance_ms)
    for name, result in results.items():
        _check_counts(name, raw[name], result)
    write_dataset(
        out,
        {name: r.accepted for name, r in results.items()},
        quarantine={name: r.quarantine for name, r in results.items() if r.quarantine.num_rows},
        truth=truth,
        overwrite=overwrite,
    )
    return LoadReport({name: r.report for name, r in results.items()}, Path(out))


def validate_tables(raw: Mapping[str, pa.Table], *, now_ms: int | None = None,
                    tolerance_ms: int = 300_000) -> dict[str, Validated]:
    """Validate ``raw`` tables in contract order without writing anything (see :func:`load_tables`)."""
    unknown = [name for name in raw if name not in TABLES]
    if unknown:
        raise ContractError(f"not contract tables: {', '.join(unknown)} (known: {', '.join(TABLES)})")
    now = int(time.time() * 1000) if now_ms is None else int(now_ms)
    known: dict[str, np.ndarray] = {}
    results: dict[str, Validated] = {}
    for name, spec in TABLES.items():
        if name not in raw:
            continue
        result = validate_table(name, raw[name], known_ids=known, now_ms=now, tolerance_ms=tolerance_ms)
        if len(spec.key) == 1:
            ids = result.accepted.column(spec.key[0])
            known[name] = np.asarray(ids.to_numpy(), dtype=np.int64)
        results[name] = result
    return results


def validate_dir(data_dir: Path, *, now_ms: int | None = None, tolerance_ms: int = 300_000) -> LoadReport:
    """Re-validate the contract tables stored in ``data_dir``, writing nothing.

    Every table present is checked as on load (a table whose referenced table is absent raises
    :class:`ContractError`); a clean data set reports zero quarantined rows everywhere.
    """
    raw = {name: read_table(data_dir, name) for name in table_names(data_dir)}
    results = validate_tables(raw, now_ms=now_ms, tolerance_ms=tolerance_ms)
    for name, result in results.items():
        _check_counts(name, raw[name], result)
    return LoadReport({name: r.report for name, r in results.items()}, Path(data_dir))


def _check_counts(name: str, raw: pa.Table, result: Validated) -> None:
    report = result.report
    if not (report.rows_in == raw.num_rows == report.accepted + report.quarantined
            == result.accepted.num_rows + result.quarantine.num_rows):
        raise RuntimeError(
            f"table {name!r}: {raw.num_rows} rows in but {result.accepted.num_rows} accepted and "
            f"{result.quarantine.num_rows} quarantined (report: {report})")
