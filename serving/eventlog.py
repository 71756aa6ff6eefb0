"""The durable event log: every accepted ``POST /events`` batch, on disk before the service answers.

Each batch is one Arrow IPC file, written under a temporary name, flushed to disk and renamed into place,
so a reader sees a whole batch or nothing, and a batch the client saw accepted survives a SIGTERM, a crash
or a restart. File names sort by time of writing, then by writer: ``<ms>-<writer>-<seq>.arrow``.

The log is shared by the worker processes of one service: each writes its own files and tails the others'
(:meth:`EventLog.unseen`), so a follow or unfollow sent to one worker reaches every worker's live state.
At start a worker replays the whole log after the data directory's events.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

SUFFIX = ".arrow"


class EventLog:
    """One writer's view of the shared log folder."""

    def __init__(self, folder: Path, writer: str) -> None:
        self.folder, self.writer = folder, writer
        folder.mkdir(parents=True, exist_ok=True)
        self._seq = itertools.count()
        self._seen: set[str] = set()

    def append(self, table: pa.Table) -> Path:
        """Write ``table`` durably as one file; returns its path (it then counts as seen by this writer)."""
        name = f"{time.time_ns() // 1_000_000:015d}-{self.writer}-{next(self._seq):09d}{SUFFIX}"
        tmp = self.folder / f".{name}.tmp"
        with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())  # on disk before the 200: the client will not send it again
        os.replace(tmp, self.folder / name)
        self._seen.add(name)
        return self.folder / name

    def unseen(self) -> list[Path]:
        """Files this writer has not read or written yet, oldest first (marks them seen)."""
        names = sorted(e.name for e in os.scandir(self.folder)
                       if e.name.endswith(SUFFIX) and not e.name.startswith(".") and e.name not in self._seen)
        self._seen.update(names)
        return [self.folder / n for n in names]

    @staticmethod
    def read(paths: list[Path]) -> pa.Table | None:
        """The rows of ``paths`` in order, or None when there are none."""
        tables = [ipc.open_file(pa.memory_map(str(p))).read_all() for p in paths]
        tables = [t for t in tables if t.num_rows]
        return pa.concat_tables(tables, promote_options="permissive") if tables else None
