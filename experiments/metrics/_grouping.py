"""Run-length helpers on sorted arrays, shared by the vectorised per-user and per-group metrics."""

from __future__ import annotations

import numpy as np


def run_starts(*sorted_keys: np.ndarray) -> np.ndarray:
    """Boolean mask, True where a run of equal consecutive key tuples begins.

    ``run_starts(np.array([1, 1, 2]), np.array([5, 6, 6]))`` gives ``[True, True, True]``;
    ``run_starts(np.array([1, 1, 2]))`` gives ``[True, False, True]``. Empty keys give an empty mask.
    """
    n = len(sorted_keys[0])
    starts = np.zeros(n, dtype=bool)
    if n == 0:
        return starts
    starts[0] = True
    for key in sorted_keys:
        starts[1:] |= key[1:] != key[:-1]
    return starts


def positions_in_runs(starts: np.ndarray) -> np.ndarray:
    """1-based position of every element within its run, given the mask of run starts."""
    idx = np.arange(len(starts), dtype=np.int64)
    if len(starts) == 0:
        return idx
    return idx - np.maximum.accumulate(np.where(starts, idx, 0)) + 1


def group_positions(sorted_groups: np.ndarray) -> np.ndarray:
    """1-based position of every element within its run of equal consecutive values.

    ``[7, 7, 7, 2, 2, 9]`` gives ``[1, 2, 3, 1, 2, 1]``; an empty input gives an empty int64 array.
    """
    return positions_in_runs(run_starts(sorted_groups))
