"""The follow state's answer to "which accounts does this user follow now", against brute force over intervals."""

from __future__ import annotations

import numpy as np

from features.follows import FILTER_MIN_QUERIES, FollowState
from features.keyfilter import KeyFilter
from ranking.catalog import CatalogIndex
from ranking.catalog_tables import Accounts, Follows, Posts, Products


def _brute(intervals: dict[tuple[int, int], list[list[int]]], users: np.ndarray,
           at: np.ndarray) -> list[tuple[int, int]]:
    return sorted({(i, a) for i, (u, t) in enumerate(zip(users.tolist(), at.tolist(), strict=True))
                   for (uu, a), ivs in intervals.items() if uu == u and any(s <= t < e for s, e in ivs)})


def _intervals(u: np.ndarray, a: np.ndarray, since: np.ndarray, until: np.ndarray) -> dict:
    out: dict[tuple[int, int], list[list[int]]] = {}
    for row in zip(u.tolist(), a.tolist(), since.tolist(), until.tolist(), strict=True):
        out.setdefault(row[:2], []).append(list(row[2:]))
    return out


def random_intervals(rng: np.random.Generator, n: int, users: int, accounts: int,
                     open_share: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(user, account, since, until) of ``n`` random follow intervals; ``open_share`` of them still open."""
    u, a = rng.integers(0, users, n), rng.integers(0, accounts, n)
    since = rng.integers(0, 100, n)
    until = np.where(rng.random(n) < open_share, np.iinfo(np.int64).max, since + rng.integers(1, 60, n))
    return u, a, since, until


def test_followed_accounts_match_the_intervals_before_and_after_live_events() -> None:
    rng = np.random.default_rng(5)
    for trial in range(60):
        u, a, since, until = random_intervals(rng, int(rng.integers(0, 200)), 15, 25, open_share=0.3)
        state = FollowState(u, a, since, until)
        users, at = rng.integers(-1, 17, 12), rng.integers(0, 200, 12)
        q, acc = state.followed(users, at)
        assert list(zip(q.tolist(), acc.tolist(), strict=True)) == _brute(_intervals(u, a, since, until), users, at)
        if trial % 2 == 0:  # the ranking catalogue's answer from the same table is the same
            empty = np.empty(0, np.int64)
            index = CatalogIndex(Accounts(empty, empty, empty, empty, empty), Follows(u, a, since, until),
                                 Posts(empty, empty, empty, empty), Products(empty, empty, empty, empty))
            want_q, want_a = index.followed(users, at)
            assert (q.tolist(), acc.tolist()) == (want_q.tolist(), want_a.tolist())
        # Live follows and unfollows (accounts the snapshot never mentions included), in time order.
        m = 30
        eu, ea = rng.integers(0, 15, m), rng.integers(0, 30, m)
        et, follow = np.sort(rng.integers(100, 200, m)), rng.random(m) < 0.6
        state.apply(eu, ea, et, follow)
        later = rng.integers(100, 260, 12)
        q, acc = state.followed(users, later)
        want = _brute(_replayed(u, a, since, until, eu, ea, et, follow), users, later)
        assert list(zip(q.tolist(), acc.tolist(), strict=True)) == want
        assert np.array_equal(state.is_fan(users[q], acc, later[q]), np.ones(len(q), bool))


def _replayed(u: np.ndarray, a: np.ndarray, since: np.ndarray, until: np.ndarray, eu: np.ndarray, ea: np.ndarray,
              et: np.ndarray, follow: np.ndarray) -> dict:
    """The intervals after the events, by the rules of the follows table (a follow by a fan and an unfollow
    without an open follow change nothing)."""
    out = _intervals(u, a, since, until)
    for user, account, t, f in zip(eu.tolist(), ea.tolist(), et.tolist(), follow.tolist(), strict=True):
        ivs = out.setdefault((user, account), [])
        if f and not any(s <= t < e for s, e in ivs):
            ivs.append([t, int(np.iinfo(np.int64).max)])
        elif not f:
            open_ = [iv for iv in ivs if iv[1] == np.iinfo(np.int64).max and iv[0] < t]
            if open_:
                open_[-1][1] = t
    return out


def test_indexing_reorders_the_columns_and_keeps_the_digest() -> None:
    rng = np.random.default_rng(1)
    u, a = rng.integers(0, 50, 500), rng.integers(0, 40, 500)
    since = rng.integers(0, 100, 500)
    state = FollowState(u, a, since, since + 10)
    digest = FollowState(u, a, since, since + 10).digest()  # another state over the same rows, not indexed
    state.is_fan(u[:3], a[:3], since[:3])
    key = state.user * 40 + state.account
    assert bool((key[1:] >= key[:-1]).all())  # the columns are in key order now
    assert state.digest() == digest


def test_the_key_filter_holds_every_key_and_few_others() -> None:
    rng = np.random.default_rng(8)
    keys = np.unique(rng.integers(0, 1 << 40, 50_000))
    kf = KeyFilter(keys)
    assert kf.may_hold(keys).all()
    others = np.setdiff1d(rng.integers(0, 1 << 40, 200_000), keys)
    share = kf.may_hold(others).mean()
    assert 0.02 < share < 0.13  # 8-16 bits per key: 1 - exp(-1/8) ≈ 0.12 at most
    assert not kf.may_hold(np.array([-1, -5])).any()


def test_a_large_look_up_through_the_filter_answers_as_small_ones() -> None:
    rng = np.random.default_rng(9)
    u, a, since, until = random_intervals(rng, 40_000, 5_000, 300, open_share=0.2)
    state = FollowState(u, a, since, until)
    n = FILTER_MIN_QUERIES + 5_000
    pick = rng.integers(0, len(u), n)
    fans = rng.random(n) < 0.1  # a tenth of the queries ask about pairs that follow; the rest mostly do not
    users = np.where(fans, u[pick], rng.integers(-1, 5_100, n))
    accounts = np.where(fans, a[pick], rng.integers(-1, 320, n))
    times = np.where(fans, since[pick] + rng.integers(-2, 3, n), rng.integers(0, 160, n))
    follow = rng.random(50) < 0.5
    state.apply(users[:50], accounts[:50], np.full(50, 170), follow)  # an overlay too
    times[:50] = 171
    got = state.is_fan(users, accounts, times)
    assert state._filter is not None  # the large look-up went through the filter
    small = np.concatenate([state.is_fan(users[s], accounts[s], times[s])
                            for s in np.array_split(np.arange(n), 8)])
    np.testing.assert_array_equal(got, small)
    ivs = _replayed(u, a, since, until, users[:50], accounts[:50], np.full(50, 170), follow)
    for i in np.concatenate([np.arange(50), rng.integers(0, n, 2000)]).tolist():
        pair = ivs.get((int(users[i]), int(accounts[i])), [])
        assert got[i] == any(s <= times[i] < e for s, e in pair)
    assert 0.05 < got.mean() < 0.2
