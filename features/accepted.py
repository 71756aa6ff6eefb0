"""Accepted events kept as the reference for replays, found by id without scanning them all.

Validation needs, for each incoming event id, the row accepted earlier under that id (to tell an identical
replay from a reused id). Comparing every batch against every stored row made each batch cost as much as
the whole history; here the ids are kept in a few sorted runs (merged when there are too many), so a batch
costs a binary search per id, and only the matching rows are handed to validation. Rows older than the
dedup horizon are dropped at merge time, which bounds memory: the online stores forget those ids too.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_RUNS = 8


class AcceptedEvents:
    """Accepted event rows, indexed by ``event_id``."""

    def __init__(self, horizon_ms: int | None = None) -> None:
        self.horizon_ms = horizon_ms
        self._tables: list[pa.Table] = []
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted ids, global row of each)
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    def add(self, rows: pa.Table) -> None:
        """Remember ``rows`` (accepted; their ids are distinct from every stored id)."""
        if not rows.num_rows:
            return
        ids = _ids(rows)
        order = np.argsort(ids, kind="stable")
        self._runs.append((ids[order], order + self._rows))
        self._tables.append(rows)
        self._rows += rows.num_rows
        if len(self._runs) > MAX_RUNS:
            self._merge()

    def matching(self, events: pa.Table) -> pa.Table | None:
        """The stored rows whose ids occur in ``events`` (all of them when the ids are not integers)."""
        if not self._rows:
            return None
        table = pa.concat_tables(self._tables)
        try:
            ids = _ids(events)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError):
            return table  # malformed ids are quarantined anyway; compare against everything to be safe
        found = []
        for run, rows in self._runs:
            pos = np.searchsorted(run, ids)
            hit = pos < len(run)
            hit[hit] = run[pos[hit]] == ids[hit]
            found.append(rows[pos[hit]])
        return table.take(pa.array(np.unique(np.concatenate(found)), pa.int64()))

    def _merge(self) -> None:
        table = pa.concat_tables(self._tables)
        if self.horizon_ms is not None:
            times = pc.cast(table.column("event_time"), pa.int64()).to_numpy()
            table = table.filter(pa.array(times >= int(times.max()) - self.horizon_ms))
        table = table.combine_chunks()
        ids = _ids(table)
        order = np.argsort(ids, kind="stable")
        self._tables, self._runs, self._rows = [table], [(ids[order], order)], table.num_rows


def _ids(table: pa.Table) -> np.ndarray:
    column = pc.fill_null(pc.cast(table.column("event_id"), pa.int64()), -1)  # a missing id matches nothing
    return np.asarray(column.to_numpy(zero_copy_only=False), np.int64)
