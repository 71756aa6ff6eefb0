"""Team-draft interleaving of two rankers (Radlinski, Kurup & Joachims 2008) and its preference test.

Each round a fair coin decides which ranker picks first; then each ranker in turn contributes its
highest-ranked item not already shown, and that item is credited to its team. A session prefers the
team whose items got more clicks; tied sessions (most of them: no click at all) carry no preference.
The statistic is the share of non-tied sessions preferring B, tested against 1/2 with an exact binomial.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

TEAM_A, TEAM_B = 0, 1


def team_draft(ranking_a: Sequence[Hashable], ranking_b: Sequence[Hashable], rng: np.random.Generator,
               length: int | None = None) -> tuple[list[Hashable], np.ndarray]:
    """The interleaved list of at most ``length`` items and each item's team (TEAM_A or TEAM_B).

    A ranker that has run out of unseen items passes its turn, so the list only stops short when both
    rankings are exhausted.
    """
    limit = len(set(ranking_a) | set(ranking_b)) if length is None else length
    shown: set[Hashable] = set()
    items: list[Hashable] = []
    teams: list[int] = []
    cursor = [0, 0]
    lists = (ranking_a, ranking_b)

    def pick(team: int) -> None:
        ranking = lists[team]
        # Skip what the other team already placed: each team contributes its own next-best unseen item.
        while cursor[team] < len(ranking) and ranking[cursor[team]] in shown:
            cursor[team] += 1
        if cursor[team] < len(ranking) and len(items) < limit:
            item = ranking[cursor[team]]
            shown.add(item)
            items.append(item)
            teams.append(team)

    while len(items) < limit:
        before = len(items)
        first = TEAM_B if rng.random() < 0.5 else TEAM_A
        pick(first)
        pick(1 - first)
        if len(items) == before:  # both rankings exhausted
            break
    return items, np.asarray(teams, dtype=np.int8)


def credit(teams: np.ndarray, clicked: np.ndarray) -> tuple[int, int]:
    """Clicks credited to team A and to team B in one interleaved list."""
    clicked = np.asarray(clicked, dtype=bool)
    return int(np.sum(clicked & (teams == TEAM_A))), int(np.sum(clicked & (teams == TEAM_B)))


def preference(teams: np.ndarray, clicked: np.ndarray) -> int:
    """+1 when the session prefers B (more of B's items clicked), -1 when it prefers A, 0 on a tie."""
    a, b = credit(teams, clicked)
    return int(np.sign(b - a))


def session_preferences(session: np.ndarray, teams: np.ndarray, clicked: np.ndarray, n_sessions: int) -> np.ndarray:
    """Vectorised ``preference`` for many sessions: rows of shown items with their session index."""
    clicked = np.asarray(clicked, dtype=bool)
    a = np.bincount(session[clicked & (teams == TEAM_A)], minlength=n_sessions)
    b = np.bincount(session[clicked & (teams == TEAM_B)], minlength=n_sessions)
    return np.sign(b - a).astype(np.int64)


@dataclass(frozen=True)
class PreferenceTest:
    """Share of non-tied sessions preferring B, its 95 % Wilson interval and binomial p-values."""

    wins_a: int
    wins_b: int
    ties: int
    share_b: float
    share_low: float
    share_high: float
    p_b_better: float  # one-sided: H1 share_b > 1/2
    p_two_sided: float


def _log_binom_pmf(k: np.ndarray, n: int) -> np.ndarray:
    return np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in k]) - n * math.log(2)


def binom_upper_tail(k: int, n: int) -> float:
    """P(X ≥ k) for X ~ Binomial(n, 1/2), computed in log space so large n does not underflow."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    logs = _log_binom_pmf(np.arange(k, n + 1), n)
    top = logs.max()
    return float(min(1.0, math.exp(top) * np.exp(logs - top).sum()))


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) when there are no trials."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def preference_test(prefs: np.ndarray) -> PreferenceTest:
    """Sign test of per-session preferences (+1 B, -1 A, 0 tie); ties are dropped, as in team-draft."""
    prefs = np.asarray(prefs)
    wa, wb = int(np.sum(prefs < 0)), int(np.sum(prefs > 0))
    n = wa + wb
    lo, hi = wilson(wb, n)
    p_one = binom_upper_tail(wb, n)
    p_two = min(1.0, 2 * min(p_one, binom_upper_tail(wa, n)))
    return PreferenceTest(wa, wb, len(prefs) - n, wb / n if n else 0.5, lo, hi, p_one, p_two)


def welch_one_sided(a: np.ndarray, b: np.ndarray) -> float:
    """One-sided p-value of mean(b) > mean(a) by Welch's z (normal tail; arms here hold ≥ 25 users)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        return 1.0
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    diff = b.mean() - a.mean()
    if se == 0:
        return 0.0 if diff > 0 else 1.0
    return 0.5 * math.erfc(diff / se / math.sqrt(2))
