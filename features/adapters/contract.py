"""Contract-shaped files → contract tables (kind ``contract``).

Input (PATH is a folder): ``<table>.csv`` or ``<table>.parquet`` files whose columns already carry the
contract's names, read by :func:`features.readers.read_contract_dir`. Nothing is mapped; tables missing
from the folder are empty.
"""

from __future__ import annotations

from pathlib import Path

from features.adapters import base
from features.readers import read_contract_dir

NAME = "contract"
DESCRIPTION = "A folder of <table>.csv/.parquet files already in contract column names"


def read(path: Path) -> base.RawTables:
    """Read a folder of contract-shaped files; tables it lacks are empty."""
    folder = Path(path)
    if not folder.is_dir():
        raise base.AdapterError(f"cannot read {folder}: expected a folder of <table>.csv/.parquet files")
    return base.complete(read_contract_dir(folder))
