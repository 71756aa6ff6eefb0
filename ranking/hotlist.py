"""The picked-hot-list board: which posts are on the public hotlist now, and with what weight.

The gate (or an operator's official picks) writes the board; the hotlist slot reads it. A board is
replaced whole (:meth:`HotlistBoard.replace`), one reference assignment, so a request sees either the old
board or the new one, never half of each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BoardState:
    """Posts on the board (ascending ids), their weight (how strongly the hotlist shows them; the writer sets it,
    see ``serving.gate_live.gate_board``) and why they are there."""

    post_ids: np.ndarray
    weight: np.ndarray
    official: np.ndarray  # True for official picks, False for posts the gate amplified

    def __post_init__(self) -> None:
        n = len(self.post_ids)
        order = np.argsort(np.asarray(self.post_ids, np.int64), kind="stable")
        for name, dtype in (("post_ids", np.int64), ("weight", np.float64), ("official", bool)):
            col = np.asarray(getattr(self, name), dtype)
            if len(col) != n:
                raise ValueError(f"BoardState: {name} has {len(col)} rows, not {n}")
            object.__setattr__(self, name, col[order])
        if n and not np.all(np.isfinite(self.weight) & (self.weight > 0)):
            raise ValueError("BoardState: weight must be finite and positive")


class HotlistBoard:
    """The current :class:`BoardState`, swapped atomically."""

    def __init__(self, state: BoardState | None = None) -> None:
        self.state = state or BoardState(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool))

    def replace(self, state: BoardState) -> None:
        """Serve ``state`` from the next request on."""
        self.state = state

    def __len__(self) -> int:
        return len(self.state.post_ids)
