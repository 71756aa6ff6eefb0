"""The gate's decision log: every change of a post's level or deciding reason, with the figures behind it.

A post is re-decided every hour; logging every evaluation would repeat the same row for days, so a row is
written when the level or the reason changes (the first evaluation of a post always is). That keeps each
transition with its inputs and reasons, which is what ``weitao explain POST`` reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ranking.gate.decide import Decision
from ranking.gate.explain import LOGGED_NUMBERS
from ranking.gate.signals import PostSignals

COLUMNS = ("post_id", "at_ms", "level_before", "level", "reason", *LOGGED_NUMBERS)


class GateLog:
    """Accumulates decision rows in memory; :meth:`table` / :meth:`write` hand them out."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[int, int]] = {}
        self._parts: list[dict[str, np.ndarray]] = []

    def add(self, now_ms: int, before: np.ndarray, decision: Decision, sig: PostSignals) -> int:
        """Log the posts of one gate pass whose level or reason changed; returns how many rows were added."""
        posts = sig.post_id.astype(np.int64)
        last = np.array([self._last.get(p, (-1, -1)) for p in posts.tolist()], np.int64).reshape(-1, 2)
        changed = (last[:, 0] != decision.level) | (last[:, 1] != decision.reason)
        idx = np.flatnonzero(changed)
        if not len(idx):
            return 0
        numbers = {**decision.numbers, "lockstep": sig.lockstep, "amplifier": sig.amplifier}
        part = {"post_id": posts[idx], "at_ms": np.full(len(idx), now_ms, np.int64),
                "level_before": np.asarray(before, np.int8)[idx], "level": decision.level.astype(np.int8)[idx],
                "reason": decision.reason.astype(np.int16)[idx]}
        part.update({name: np.asarray(numbers.get(name, np.full(len(posts), np.nan)), np.float64)[idx]
                     for name in LOGGED_NUMBERS})
        self._parts.append(part)
        for p, lv, r in zip(posts[idx].tolist(), part["level"].tolist(), part["reason"].tolist(), strict=True):
            self._last[p] = (lv, r)
        return len(idx)

    def table(self) -> pa.Table:
        """Every logged row, in the order logged."""
        if not self._parts:
            return pa.table({c: pa.array([], pa.float64() if c in LOGGED_NUMBERS else pa.int64()) for c in COLUMNS})
        return pa.table({c: np.concatenate([p[c] for p in self._parts]) for c in COLUMNS})

    def write(self, path: Path) -> Path:
        """Write the log as one Parquet file (written aside, then renamed into place)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        pq.write_table(self.table(), tmp)
        tmp.replace(path)
        return path


def read_post(path: Path, post_id: int) -> pa.Table:
    """The rows of one post from a log file, or from every ``*.parquet`` of a folder, oldest first."""
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"--log: no gate log (*.parquet) in {path}")
    rows = pa.concat_tables([pq.read_table(f, filters=[("post_id", "=", post_id)]) for f in files])
    return rows.sort_by([("at_ms", "ascending")])
