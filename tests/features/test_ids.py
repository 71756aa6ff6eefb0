"""Id look-ups answer the same through the direct table and the binary search, and narrowed look-ups (one
user's queries) answer as the whole index does."""

from __future__ import annotations

import numpy as np
import pytest

from features.follows import FollowState
from features.ids import IdIndex
from ranking.windows import WindowIndex
from tests.features.test_follows import random_intervals


def _brute_rows(ids: np.ndarray, queries: np.ndarray) -> np.ndarray:
    first = {}
    for row, i in enumerate(ids.tolist()):
        first.setdefault(i, row)
    return np.array([first.get(q, -1) for q in queries.tolist()], np.int64)


@pytest.mark.parametrize("spread", [1, 3, 10**9])  # compact ids (a table) and sparse ones (binary search)
def test_id_index_finds_the_first_row_of_each_id(spread: int) -> None:
    rng = np.random.default_rng(spread)
    for _ in range(50):
        ids = rng.integers(-5, 400, rng.integers(0, 300)) * spread
        extremes = np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, -1, 0])  # clipped, not wrapped
        queries = np.concatenate([rng.integers(-10, 420, 200) * spread, ids[:20], extremes])
        index = IdIndex(ids)
        if len(ids) and spread == 1:
            assert index.is_table
        if len(np.unique(ids)) > 1 and spread == 10**9:
            assert not index.is_table
        np.testing.assert_array_equal(index.rows(queries), _brute_rows(ids, queries))


def test_identity_means_rows_are_ids() -> None:
    assert IdIndex(np.arange(5)).identity
    assert not IdIndex(np.array([0, 0, 2])).identity and not IdIndex(np.array([1, 0, 2])).identity


def test_window_index_answers_one_users_queries_as_brute_force() -> None:
    rng = np.random.default_rng(0)
    for _ in range(150):
        n = int(rng.integers(0, 300))
        user, author, t = rng.integers(0, 20, n), rng.integers(0, 40, n) * 1_000_003, rng.integers(0, 100, n)
        index = WindowIndex((user, author), t)
        m = int(rng.integers(2, 60))
        qu = np.full(m, rng.integers(0, 22)) if rng.random() < 0.7 else rng.integers(0, 22, m)
        qa = rng.integers(0, 42, m) * 1_000_003
        lo = rng.integers(0, 100) if rng.random() < 0.5 else rng.integers(0, 100, m)
        hi = rng.integers(0, 110) if rng.random() < 0.5 else rng.integers(0, 110, m)
        lo_b, hi_b = np.broadcast_to(lo, (m,)), np.broadcast_to(hi, (m,))
        want = [int(np.sum((user == qu[i]) & (author == qa[i]) & (t >= lo_b[i]) & (t < hi_b[i]))) for i in range(m)]
        assert index.count((qu, qa), lo, hi).tolist() == want
        query, record = index.rows((qu, qa), lo, hi)
        assert np.bincount(query, minlength=m).tolist() == want
        assert ((user[record] == qu[query]) & (author[record] == qa[query])).all()


def test_fan_status_of_one_users_queries_as_brute_force() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        u, a, since, until = random_intervals(rng, int(rng.integers(1, 300)), 20, 30)
        state = FollowState(u, a, since, until)
        m = int(rng.integers(2, 80))
        user, account, t = np.full(m, rng.integers(0, 22)), rng.integers(-1, 35, m), rng.integers(0, 160, m)
        want = [bool(np.any((u == user[i]) & (a == account[i]) & (since <= t[i]) & (t[i] < until)))
                for i in range(m)]
        assert state.is_fan(user, account, t).tolist() == want
