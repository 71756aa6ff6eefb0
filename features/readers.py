"""Reading a folder of contract tables as delivered: ``<table>.csv``, ``<table>.parquet`` or ``<table>/``.

CSV columns are read as strings, every one of them, so that validation (not the CSV reader) decides what is
a wrong value and quarantines it with a reason. An empty CSV field is null. A list-of-ids column
(``posts.product_ids``) is a ``;``-separated string in CSV (``"3;4"``; empty means no products); it is
parsed by validation (:mod:`features.validate_parse`), which also accepts real Arrow lists from Parquet.
Parquet keeps its own types. Hidden files and the ``quarantine``/``truth`` folders of a stored data set
are skipped; any other file whose name is not a contract table is an error.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from features.contract import TABLES
from features.storage import RESERVED
from features.validate import ContractError

_SUFFIXES = (".csv", ".parquet")


def read_contract_dir(path: Path) -> dict[str, pa.Table]:
    """Raw tables of folder ``path`` keyed by contract table name, in contract order (unvalidated)."""
    path = Path(path)
    if not path.is_dir():
        raise ContractError(f"{path} is not a folder of contract tables")
    found: dict[str, list[Path]] = {}
    for entry in sorted(path.iterdir()):
        if entry.name.startswith(".") or (entry.is_dir() and entry.name in RESERVED):
            continue
        found.setdefault(_table_of(entry), []).append(entry)
    for name, entries in found.items():
        if len(entries) > 1:
            raise ContractError(
                f"table {name!r} is given more than once in {path}: {', '.join(e.name for e in entries)}")
    return {name: read_raw(found[name][0]) for name in TABLES if name in found}


def read_raw(entry: Path) -> pa.Table:
    """One table from a CSV file (all columns as strings), a Parquet file or a folder of Parquet files."""
    if entry.is_dir():
        return ds.dataset(entry, format="parquet", partitioning=None).to_table()
    if entry.suffix == ".parquet":
        return pq.read_table(entry)
    if entry.suffix == ".csv":
        return read_csv_strings(entry)
    raise ContractError(f"{entry}: cannot read this kind of file (expected .csv, .parquet or a folder)")


def read_csv_strings(file: Path) -> pa.Table:
    """A CSV file with a header line, every column as ``string``; empty fields (quoted or not) are null."""
    with open(file, encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise ContractError(f"{file}: empty CSV file (a header line naming the columns is required)")
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )
    parse = pacsv.ParseOptions(newlines_in_values=True)
    try:
        return pacsv.read_csv(file, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as error:
        raise ContractError(f"{file}: not a readable CSV file: {error}") from error


def _table_of(entry: Path) -> str:
    name = entry.name if entry.is_dir() else entry.stem
    if name in TABLES and (entry.is_dir() or entry.suffix in _SUFFIXES):
        return name
    expected = ", ".join(TABLES)
    raise ContractError(
        f"unexpected file {entry.name!r} in {entry.parent}: expected <table>.csv, <table>.parquet or "
        f"<table>/ for a contract table ({expected})")
