"""New policies a replay can re-rank pages with, and the re-ranking itself.

A ranker scores candidate rows (the hydrated frame of :func:`experiments.replay.pages.hydrate`) from
point-in-time columns only. The rule rankers mirror the closed-loop baselines of
:mod:`experiments.policies` (chronological, popularity, follower count, Hacker News gravity) on the
replay's columns; ``reversed`` turns every logged page upside down (a known-answer check); the slot
rankers from the MLflow registry live in :mod:`experiments.replay.models`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import pandas as pd

from experiments.policies import HN_GRAVITY
from experiments.replay.data import ReplayInputError


class Ranker(Protocol):
    """Scores candidates; higher is shown first."""

    name: str

    def scores(self, cands: pd.DataFrame) -> np.ndarray:
        """One score per candidate row."""
        ...


class RuleRanker:
    """A ranker given by one scoring rule over the candidate frame."""

    def __init__(self, name: str, rule: Callable[[pd.DataFrame], np.ndarray]) -> None:
        self.name = name
        self.rule = rule

    def scores(self, cands: pd.DataFrame) -> np.ndarray:
        """The rule's score of every row."""
        return np.asarray(self.rule(cands), np.float64)


def _popularity(c: pd.DataFrame) -> np.ndarray:
    return (c["clicks_before"] + c["engaged_before"]).to_numpy(np.float64) + 1e-15 * c["item_ms"].to_numpy()


def _hn(c: pd.DataFrame) -> np.ndarray:
    points = (c["clicks_before"] + c["engaged_before"]).to_numpy(np.float64)
    return points / (c["age_h"].to_numpy() + 2) ** HN_GRAVITY


def _logged(c: pd.DataFrame) -> np.ndarray:
    pos = c["logged_position"].to_numpy(np.float64)
    return np.where(pos >= 0, -pos, -np.inf)


def _reversed(c: pd.DataFrame) -> np.ndarray:
    pos = c["logged_position"].to_numpy(np.float64)
    return np.where(pos >= 0, pos, -np.inf)


RULES: dict[str, Callable[[pd.DataFrame], np.ndarray]] = {
    "logged": _logged,
    "reversed": _reversed,
    "chronological": lambda c: c["item_ms"].to_numpy(np.float64),
    "popularity": _popularity,
    "follower_count": lambda c: c["followers"].to_numpy(np.float64) + 1e-15 * c["item_ms"].to_numpy(),
    "hn_gravity": _hn,
}
MODEL_POLICIES = ("champion", "challenger")
POLICIES = (*RULES, "random", *MODEL_POLICIES)


def make_ranker(name: str, rng: np.random.Generator) -> Ranker:
    """A rule ranker by name (``random`` draws from ``rng``); model rankers come from ``replay.models``."""
    if name == "random":
        return RuleRanker("random", lambda c: rng.random(len(c)))
    if name not in RULES:
        raise ReplayInputError(f"--policy: unknown {name!r} (known: {', '.join(POLICIES)})")
    return RuleRanker(name, RULES[name])


def rerank(cands: pd.DataFrame, scores: np.ndarray) -> np.ndarray:
    """New position of every candidate row (−1: not on the new page); each page keeps its logged length.

    Ties keep the logged order (logged rows before source candidates), so a ranker that cannot tell items
    apart reproduces the logged page.
    """
    if len(scores) != len(cands) or np.isnan(scores).any():
        raise ValueError("scores: need one finite or infinite (not NaN) score per candidate row")
    logged = cands["logged_position"].to_numpy()
    tie = np.where(logged >= 0, logged, np.iinfo(np.int32).max)
    page = cands["page"].to_numpy()
    order = np.lexsort((tie, -scores, page))
    ranked_page = page[order]
    starts = np.searchsorted(ranked_page, ranked_page, side="left")
    rank = np.arange(len(order)) - starts
    length = pd.Series(logged >= 0).groupby(page).transform("sum").to_numpy()
    # The new page fills the logged page's own positions, in order (a page log may start past position 0).
    logged_rows = np.flatnonzero(logged >= 0)
    by_page = logged_rows[np.lexsort((logged[logged_rows], page[logged_rows]))]
    first = np.searchsorted(page[by_page], page, side="left")
    new = np.full(len(cands), -1, np.int64)
    keep = rank < length[order]
    new[order[keep]] = logged[by_page[first[order[keep]] + rank[keep]]]
    return new
