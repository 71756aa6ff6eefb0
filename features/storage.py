"""Parquet storage of contract tables: one folder per table, atomic publication of a whole data set.

Layout of a data directory::

    DIR/<table>/part-0.parquet                     small tables
    DIR/events/date=YYYY-MM-DD/part-0.parquet      tables with a ``partition_time`` column
    DIR/quarantine/<table>/part-0.parquet           rejected rows with a ``reason`` column
    DIR/truth/<name>/part-0.parquet                 the simulator's hidden truth (experiments only)

A data set is written into a staging folder beside ``DIR`` and renamed into place, so readers see
either the whole previous data set or the whole new one, never a half-written one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from features.contract import TABLES, TableSpec

#: Sub-folders of a data directory that are not contract tables.
RESERVED = ("quarantine", "truth", "assessments")
PART = "part-0.parquet"


class StorageError(RuntimeError):
    """A data directory that cannot be read or written as asked."""


def conform(spec: TableSpec, table: pa.Table) -> pa.Table:
    """Select and order the contract columns of ``table`` and cast them to the contract types."""
    missing = [c for c in spec.names if c not in table.column_names]
    if missing:
        raise StorageError(f"table {spec.name!r} lacks contract column(s): {', '.join(missing)}")
    return table.select(spec.names).cast(spec.schema)


def _write_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed options so that the same table always gives the same bytes.
    pq.write_table(table, path, compression="zstd", write_statistics=True, row_group_size=1 << 20)


def _day_keys(times: pa.ChunkedArray | pa.Array) -> np.ndarray:
    ms = pc.cast(times, pa.int64()).to_numpy(zero_copy_only=False)
    return ms // 86_400_000


def write_table(folder: Path, spec: TableSpec, table: pa.Table) -> None:
    """Write one contract table into ``folder`` (which must not exist yet), partitioned if declared."""
    table = conform(spec, table)
    if spec.partition_time is None:
        _write_parquet(table, folder / PART)
        return
    folder.mkdir(parents=True, exist_ok=False)
    days = _day_keys(table.column(spec.partition_time))
    order = np.argsort(days, kind="stable")
    days_sorted = days[order]
    bounds = np.flatnonzero(np.diff(days_sorted)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(days_sorted)]])
    for s, e in zip(starts, ends, strict=True):
        day = np.datetime64(int(days_sorted[s]), "D")
        _write_parquet(table.take(order[s:e]), folder / f"date={day}" / PART)


def write_extra(folder: Path, table: pa.Table) -> None:
    """Write a non-contract table (quarantine, truth) as a single Parquet file in ``folder``."""
    _write_parquet(table, folder / PART)


@contextmanager
def staged(out: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging folder; on success it replaces ``out`` in one rename, on error it is removed."""
    out = out.resolve()
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise StorageError(f"output directory {out} exists and is not empty (pass overwrite to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.parent / f".{out.name}.staging-{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(out, old)
    os.rename(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_dataset(
    out: Path,
    tables: Mapping[str, pa.Table],
    *,
    quarantine: Mapping[str, pa.Table] | None = None,
    truth: Mapping[str, pa.Table] | None = None,
    overwrite: bool = False,
) -> Path:
    """Publish contract tables (plus quarantine and truth folders) to ``out`` atomically."""
    unknown = [n for n in tables if n not in TABLES]
    if unknown:
        raise StorageError(f"not contract tables: {', '.join(unknown)}")
    with staged(out, overwrite=overwrite) as stage:
        for name, table in tables.items():
            write_table(stage / name, TABLES[name], table)
        for name, table in (quarantine or {}).items():
            write_extra(stage / "quarantine" / name, table)
        for name, table in (truth or {}).items():
            write_extra(stage / "truth" / name, table)
    return out


def read_table(data_dir: Path, name: str, columns: list[str] | None = None) -> pa.Table:
    """Read contract table ``name`` from ``data_dir`` with the contract schema.

    Only contract tables can be read this way: the simulator's truth is not reachable through it.
    """
    if name not in TABLES:
        raise StorageError(f"{name!r} is not a contract table (known: {', '.join(TABLES)})")
    spec = TABLES[name]
    folder = Path(data_dir) / name
    if not folder.exists():
        raise StorageError(f"table {name!r} not found under {data_dir}")
    dataset = ds.dataset(folder, schema=spec.schema, format="parquet", partitioning=None)
    table = dataset.to_table(columns=columns)
    if spec.partition_time is not None and len(table):
        # Files are per day; inside a day rows keep their written order.
        table = table.combine_chunks()
    return table


def read_quarantine(data_dir: Path, name: str) -> pa.Table:
    """Rejected rows of table ``name`` (empty table if none were rejected)."""
    folder = Path(data_dir) / "quarantine" / name
    if not folder.exists():
        return pa.table({"reason": pa.array([], pa.string())})
    return pq.read_table(folder / PART)


def table_names(data_dir: Path) -> list[str]:
    """Contract tables present in ``data_dir``."""
    return [n for n in TABLES if (Path(data_dir) / n).exists()]
