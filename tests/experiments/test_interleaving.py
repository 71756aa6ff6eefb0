"""Team-draft interleaving: known interleavings, credit by hand, calibration and detection in a tiny click model."""

from __future__ import annotations

import numpy as np

from experiments.interleaving import (
    TEAM_A,
    TEAM_B,
    binom_upper_tail,
    credit,
    preference,
    preference_test,
    session_preferences,
    team_draft,
)
from experiments.sensitivity import smallest_n


class Coins:
    """A stand-in Generator whose ``random()`` returns scripted values (< 0.5 means B picks first)."""

    def __init__(self, values: list[float]) -> None:
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


def test_team_draft_known_interleaving() -> None:
    a, b = ["a1", "a2", "a3", "a4"], ["b1", "a1", "b2", "a2"]
    # Round 1: A first (a1), B skips the shown a1 -> b1. Round 2: B first (b2), then A (a2). Round 3: A (a3);
    # B's list holds nothing unseen, so B passes. Round 4: A (a4); all six distinct items are placed.
    items, teams = team_draft(a, b, Coins([0.9, 0.1, 0.9, 0.9]))  # type: ignore[arg-type]
    assert items == ["a1", "b1", "b2", "a2", "a3", "a4"]
    assert teams.tolist() == [TEAM_A, TEAM_B, TEAM_B, TEAM_A, TEAM_A, TEAM_A]


def test_team_draft_invariants_seeded() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        a = rng.permutation(12)[:8].tolist()
        b = rng.permutation(12)[:8].tolist()
        items, teams = team_draft(a, b, rng, length=10)
        assert len(items) == len(set(items)) == min(10, len(set(a) | set(b)))
        assert set(items) <= set(a) | set(b)
        for team, ranking in ((TEAM_A, a), (TEAM_B, b)):
            mine = [x for x, t in zip(items, teams, strict=True) if t == team]
            assert mine == sorted(mine, key=ranking.index)  # each team's items in its own order
    for _ in range(50):
        # Rankings of the same items never run dry, so every round gives one item to each team.
        items, teams = team_draft(rng.permutation(12).tolist(), rng.permutation(12).tolist(), rng, length=9)
        assert abs(int(np.sum(teams == TEAM_A)) - int(np.sum(teams == TEAM_B))) == 1


def test_team_draft_same_seed_same_result() -> None:
    a, b = list(range(10)), list(range(9, -1, -1))
    assert team_draft(a, b, np.random.default_rng(5))[0] == team_draft(a, b, np.random.default_rng(5))[0]


def test_credit_and_preference_by_hand() -> None:
    teams = np.array([TEAM_A, TEAM_B, TEAM_B, TEAM_A, TEAM_B])
    assert credit(teams, np.array([1, 1, 1, 0, 0], bool)) == (1, 2)
    assert preference(teams, np.array([1, 1, 1, 0, 0], bool)) == 1
    assert preference(teams, np.array([1, 0, 0, 1, 1], bool)) == -1
    assert preference(teams, np.array([1, 1, 0, 0, 0], bool)) == 0
    assert preference(teams, np.zeros(5, bool)) == 0
    session = np.array([0, 0, 1, 1, 2])
    prefs = session_preferences(session, teams, np.array([1, 1, 1, 0, 0], bool), 4)
    assert prefs.tolist() == [0, 1, 0, 0]


def test_preference_test_known_values() -> None:
    assert abs(binom_upper_tail(3, 3) - 0.125) < 1e-12
    assert abs(binom_upper_tail(2, 3) - 0.5) < 1e-12
    res = preference_test(np.array([1, 1, 1, 0, 0, -1]))
    assert (res.wins_a, res.wins_b, res.ties) == (1, 3, 2)
    assert res.share_b == 0.75
    assert abs(res.p_b_better - 5 / 16) < 1e-12
    assert res.share_low < 0.75 < res.share_high


def _tiny_sessions(rng: np.random.Generator, better: bool, n: int) -> np.ndarray:
    """Items 0..9 with click probability falling by item id; A ranks by id reversed, B by id (or like A)."""
    click = np.linspace(0.6, 0.05, 10)
    exam = 1.0 / (1.0 + np.arange(10))
    worse = list(range(9, -1, -1))
    good = list(range(10)) if better else worse
    prefs = np.empty(n, np.int64)
    for i in range(n):
        items, teams = team_draft(worse, good, rng, 10)
        clicked = rng.random(10) < exam * click[np.asarray(items)]
        prefs[i] = preference(teams, clicked)
    return prefs


def test_identical_rankers_give_no_preference() -> None:
    rng = np.random.default_rng(11)
    rejections = [preference_test(_tiny_sessions(rng, False, 200)).p_b_better < 0.05 for _ in range(40)]
    prefs = _tiny_sessions(rng, False, 4000)
    assert abs(preference_test(prefs).share_b - 0.5) < 0.05
    assert np.mean(rejections) <= 0.2  # nominal 5 %; a broken (biased) draft rejects nearly always


def test_better_ranker_is_detected() -> None:
    res = preference_test(_tiny_sessions(np.random.default_rng(12), True, 300))
    assert res.share_b > 0.7
    assert res.p_b_better < 1e-6


def test_smallest_n() -> None:
    assert smallest_n({50: 0.2, 100: 0.85, 200: 0.79, 400: 1.0}) == 100
    assert smallest_n({50: 0.2}) is None
