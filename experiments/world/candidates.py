"""The follow graph as it evolves, and candidate generation for the three slots (all vectorised)."""

from __future__ import annotations

import numpy as np

from experiments.world.params import DAY_MS, HOUR_MS
from experiments.world.population import Population

NEVER = np.iinfo(np.int64).max
_SHIFT = np.int64(1) << np.int64(42)


def expand(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ragged expansion: for each owner i, the indices starts[i] .. starts[i] + counts[i] - 1."""
    counts = np.maximum(counts, 0)
    owner = np.repeat(np.arange(len(counts)), counts)
    offsets = np.cumsum(counts) - counts
    pos = starts[owner] + np.arange(int(counts.sum())) - offsets[owner]
    return owner, pos.astype(np.int64)


class FollowGraph:
    """Follow rows with start and end times; a CSR snapshot of active follows is rebuilt daily."""

    def __init__(self, pop: Population) -> None:
        self.n_users, self.n_accounts = len(pop.users.activity), len(pop.accounts.kind)
        self.user = pop.follow_user.astype(np.int64)
        self.account = pop.follow_account.astype(np.int64)
        self.since = pop.follow_ms.astype(np.int64)
        self.until = np.full(len(self.user), NEVER, dtype=np.int64)
        self.rebuild(pop.start_ms)

    def add(self, users: np.ndarray, accounts: np.ndarray, times: np.ndarray) -> None:
        self.user = np.concatenate([self.user, users])
        self.account = np.concatenate([self.account, accounts])
        self.since = np.concatenate([self.since, times])
        self.until = np.concatenate([self.until, np.full(len(users), NEVER, dtype=np.int64)])

    def end(self, users: np.ndarray, accounts: np.ndarray, times: np.ndarray) -> None:
        """End the open follow of each (user, account) pair at its time (vectorised)."""
        if not len(users):
            return
        qkey = users.astype(np.int64) * self.n_accounts + accounts
        order = np.argsort(qkey, kind="stable")
        qkey, qtime = qkey[order], times[order]
        rows = np.flatnonzero(self.until == NEVER)
        key = self.user[rows] * self.n_accounts + self.account[rows]
        pos = np.minimum(np.searchsorted(qkey, key), len(qkey) - 1)
        hit = (qkey[pos] == key) & (qtime[pos] > self.since[rows])
        self.until[rows[hit]] = qtime[pos[hit]]

    def rebuild(self, now_ms: int) -> None:
        """Snapshot the follows active at ``now_ms``."""
        active = (self.since <= now_ms) & (self.until > now_ms)
        key = self.user[active] * self.n_accounts + self.account[active]
        key = np.sort(key)
        self.fan_keys = key[np.concatenate([[True], key[1:] != key[:-1]])] if len(key) else key
        users = self.fan_keys // self.n_accounts
        self.indices = self.fan_keys % self.n_accounts
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=self.n_users))])
        self.followers = np.bincount(self.indices, minlength=self.n_accounts)

    def is_fan(self, users: np.ndarray, accounts: np.ndarray) -> np.ndarray:
        key = users.astype(np.int64) * self.n_accounts + accounts
        pos = np.searchsorted(self.fan_keys, key)
        pos = np.minimum(pos, max(len(self.fan_keys) - 1, 0))
        return (self.fan_keys[pos] == key) if len(self.fan_keys) else np.zeros(len(key), bool)

    def records(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.user, self.account, self.since, self.until


class TimeIndex:
    """Items sorted by (owner, time) so that an owner's items in a time window are one slice."""

    def __init__(self, owner: np.ndarray, time: np.ndarray) -> None:
        key = owner.astype(np.int64) * _SHIFT + time
        self.order = np.argsort(key, kind="stable")
        self.key = key[self.order]

    def window(self, owners: np.ndarray, lo_ms: int, hi_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """(row of ``owners``, item index) for items with lo_ms <= time < hi_ms."""
        base = owners.astype(np.int64) * _SHIFT
        lo = np.searchsorted(self.key, base + lo_ms)
        hi = np.searchsorted(self.key, base + hi_ms)
        row, pos = expand(lo, hi - lo)
        return row, self.order[pos]


    def latest(self, owners: np.ndarray, before_ms: np.ndarray) -> np.ndarray:
        """Each owner's latest item with time < before_ms, or -1 if it has none."""
        base = owners.astype(np.int64) * _SHIFT
        lo = np.searchsorted(self.key, base)
        hi = np.searchsorted(self.key, base + before_ms)
        return np.where(hi > lo, self.order[np.maximum(hi - 1, 0)], -1)


def followed_items(graph: FollowGraph, index: TimeIndex, users: np.ndarray, lo_ms: int,
                   hi_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """(session row, item) for items of accounts each session's user follows, within the window."""
    sess, pos = expand(graph.indptr[users], graph.indptr[users + 1] - graph.indptr[users])
    accounts = graph.indices[pos]
    row, item = index.window(accounts, lo_ms, hi_ms)
    return sess[row], item


def sample_pool(rng: np.random.Generator, live: np.ndarray, weight: np.ndarray, n_sessions: int,
                per_session: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw up to ``per_session`` distinct live posts per session, with probability ∝ weight."""
    if len(live) == 0 or n_sessions == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    m = min(per_session, len(live))
    cum = np.cumsum(weight)
    draws = np.searchsorted(cum, rng.random((n_sessions, 2 * m)) * cum[-1], side="right")
    draws = np.minimum(draws, len(live) - 1)
    sess = np.repeat(np.arange(n_sessions), 2 * m)
    key = np.unique(sess * len(live) + draws.ravel())  # distinct per session, session-major
    sess, idx = key // len(live), key % len(live)
    rank = np.arange(len(key)) - np.searchsorted(sess, sess)
    keep = rank < m
    return sess[keep], live[idx[keep]]


WINDOWS_MS = {"follow_feed": 72 * HOUR_MS, "new_arrival": 7 * DAY_MS, "hotlist": 48 * HOUR_MS}


def top_pages(session: np.ndarray, scores: np.ndarray, page: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows shown and their 0-based positions: the ``page`` best-scored rows of every session.

    Rows must be grouped by session in ascending order; ties keep row order.
    """
    order = np.lexsort((-scores, session))
    s = session[order]
    rank = np.arange(len(s)) - np.searchsorted(s, s)
    keep = rank < page
    return order[keep], rank[keep]
