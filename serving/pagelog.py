"""Served pages to Parquet, off the request path.

Requests append rows to an in-memory buffer (a list append under a lock); a background thread writes a
Parquet file whenever the buffer holds ``batch`` rows, and :meth:`PageLog.close` writes the rest, so a
graceful shutdown loses nothing. Files are written to a temporary name and renamed: a reader never sees a
half-written file.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

SCHEMA = pa.schema([
    ("request_id", pa.string()), ("served_ms", pa.int64()), ("user_id", pa.int64()), ("slot", pa.string()),
    ("item_id", pa.int64()), ("item_type", pa.string()), ("position", pa.int16()), ("score", pa.float64()),
    ("propensity", pa.float64()), ("model_version", pa.string()), ("feature_set", pa.string()),
    ("fallback", pa.string()), ("experiments", pa.string()),
    # Why the item is where it is, as the response says it (rules' weights among them, e.g. "preferred shop ×1.2").
    ("reasons", pa.list_(pa.string())),
])


class PageLog:
    """Buffered Parquet writer of served rows; one file per flush under ``folder``."""

    def __init__(self, folder: Path, batch: int = 2_000) -> None:
        self.folder, self.batch = folder, batch
        self._rows: list[tuple] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self.files_written = 0
        self.rows_written = 0
        self.rows_dropped = 0
        self._thread = threading.Thread(target=self._loop, name="page-log", daemon=True)
        self._thread.start()

    def add(self, rows: list[tuple]) -> None:
        """Queue served rows (tuples in :data:`SCHEMA` order)."""
        with self._lock:
            self._rows.extend(rows)
            full = len(self._rows) >= self.batch
        if full:
            self._wake.set()

    def _take(self) -> list[tuple]:
        with self._lock:
            rows, self._rows = self._rows, []
        return rows

    def _write(self, rows: list[tuple]) -> None:
        if not rows:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            table = _table(rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            table = self._valid_rows(rows)  # one bad row must not cost the batch
        name = f"pages-{os.getpid()}-{uuid.uuid4().hex[:12]}.parquet"
        tmp = self.folder / f".{name}.tmp"
        pq.write_table(table, tmp)
        tmp.rename(self.folder / name)
        self.files_written += 1
        self.rows_written += len(rows)

    def _valid_rows(self, rows: list[tuple]) -> pa.Table:
        good = []
        for r in rows:
            try:
                _table([r])
                good.append(r)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
                self.rows_dropped += 1
                log.error("page log: dropped a row that does not fit the schema (%s): %r", e, r)
        return _table(good) if good else SCHEMA.empty_table()

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            with self._lock:
                due = len(self._rows) >= self.batch
            if due:
                try:
                    self._write(self._take())
                except OSError:  # a full or read-only disk: say so, keep serving, try the next batch
                    log.exception("page log: a batch could not be written")

    def close(self) -> None:
        """Stop the writer and write every buffered row."""
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=10)
        self._write(self._take())


def _table(rows: list[tuple]) -> pa.Table:
    """Rows (tuples in schema order) as a table, built column by column: about ten times cheaper than a
    dict per row, and this runs beside the requests, on their cores."""
    columns = list(zip(*rows, strict=True))
    return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, SCHEMA, strict=True)],
                                schema=SCHEMA)


def read_pages(folder: Path) -> pa.Table:
    """Every served row logged under ``folder`` (empty table with :data:`SCHEMA` if none)."""
    files = sorted(folder.glob("pages-*.parquet")) if folder.is_dir() else []
    if not files:
        return SCHEMA.empty_table()
    # Files written before a column was added lack it: it reads as null there.
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
