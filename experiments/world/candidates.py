"""Candidate generation for the three slots, and the top pages of every session (all vectorised)."""

from __future__ import annotations

import numpy as np

from experiments.world.follows import NEVER, FollowGraph, expand
from experiments.world.params import DAY_MS, HOUR_MS

__all__ = ["NEVER", "WINDOWS_MS", "FollowGraph", "TimeIndex", "expand", "followed_items", "sample_pool",
           "top_pages"]

_SHIFT = np.int64(1) << np.int64(42)


class TimeIndex:
    """Items sorted by (owner, time) so that an owner's items in a time window are one slice."""

    def __init__(self, owner: np.ndarray, time: np.ndarray, n_owners: int | None = None) -> None:
        key = owner.astype(np.int64) * _SHIFT + time
        self.order = np.argsort(key, kind="stable")
        self.key = key[self.order]
        self.n_owners = int(owner.max()) + 1 if n_owners is None and len(owner) else int(n_owners or 0)
        self._start = np.searchsorted(self.key, np.arange(self.n_owners, dtype=np.int64) * _SHIFT)
        by_time = np.argsort(time, kind="stable")
        self._time, self._owner_by_time = time[by_time], owner[by_time]
        self._cursors: list[tuple[int, np.ndarray]] = []

    def window(self, owners: np.ndarray, lo_ms: int, hi_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """(row of ``owners``, item index) for items with lo_ms <= time < hi_ms."""
        start, count = self.spans(lo_ms, hi_ms)
        owners = np.asarray(owners, np.int64)
        row, pos = expand(start[owners], count[owners])
        return row, self.order[pos]

    def spans(self, lo_ms: int, hi_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """Start and length, in ``order``, of every owner's items with lo_ms <= time < hi_ms."""
        lo = self._before(lo_ms)
        return self._start + lo, self._before(hi_ms) - lo

    def _before(self, t: int) -> np.ndarray:
        """How many items of each owner have time < t.

        Windows slide by an hour at a time, so the count is carried forward from the nearest earlier
        cursor by the few items in between, rather than searched for every owner again.
        """
        earlier = [c for c in self._cursors if c[0] <= t]
        if not earlier:
            counts = np.searchsorted(self.key, np.arange(self.n_owners, dtype=np.int64) * _SHIFT + t) - self._start
            self._cursors = sorted(self._cursors, key=lambda c: c[0])[-7:]
        else:
            last = max(earlier, key=lambda c: c[0])
            self._cursors.remove(last)
            i, j = np.searchsorted(self._time, [last[0], t])
            counts = last[1] + np.bincount(self._owner_by_time[i:j], minlength=self.n_owners) if j > i else last[1]
        self._cursors.append((t, counts))
        return counts

    def latest(self, owners: np.ndarray, before_ms: np.ndarray) -> np.ndarray:
        """Each owner's latest item with time < before_ms, or -1 if it has none."""
        base = owners.astype(np.int64) * _SHIFT
        lo = np.searchsorted(self.key, base)
        hi = np.searchsorted(self.key, base + before_ms)
        return np.where(hi > lo, self.order[np.maximum(hi - 1, 0)], -1)


def followed_items(graph: FollowGraph, index: TimeIndex, users: np.ndarray, lo_ms: int,
                   hi_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """(session row, item) for items of accounts each session's user follows, within the window."""
    sess, accounts = graph.followed(users)
    row, item = index.window(accounts, lo_ms, hi_ms)
    return sess[row], item


def sample_pool(rng: np.random.Generator, live: np.ndarray, weight: np.ndarray, n_sessions: int,
                per_session: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw up to ``per_session`` distinct live posts per session, with probability ∝ weight."""
    if len(live) == 0 or n_sessions == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    m = min(per_session, len(live))
    draws = weighted_draws(rng, weight, (n_sessions, 2 * m))
    draws.sort(axis=1)
    first = np.ones(draws.shape, bool)
    first[:, 1:] = draws[:, 1:] != draws[:, :-1]
    keep = first & (np.cumsum(first, axis=1) <= m)  # the m smallest distinct draws of each session
    sess = np.broadcast_to(np.arange(n_sessions)[:, None], draws.shape)[keep]
    return sess, live[draws[keep]]


def weighted_draws(rng: np.random.Generator, weight: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Indices drawn independently with probability ∝ ``weight``.

    Pool weights take one value per level, so a draw picks a group of equal weights by its total mass,
    then a member of the group uniformly: a few comparisons instead of a binary search over every post.
    """
    values, group = np.unique(weight, return_inverse=True)
    if len(values) > 16:  # many distinct weights: inverse CDF
        cum = np.cumsum(weight)
        return np.minimum(np.searchsorted(cum, rng.random(shape) * cum[-1], side="right"), len(weight) - 1)
    size = np.bincount(group, minlength=len(values))
    mass = np.cumsum(values * size)
    u = rng.random(shape) * mass[-1]
    g = np.zeros(shape, np.int64)
    for edge in mass[:-1]:
        g += u >= edge
    offset = np.floor((u - (mass[g] - values[g] * size[g])) / values[g]).astype(np.int64)
    members = np.argsort(group, kind="stable")
    return members[(np.cumsum(size) - size)[g] + np.clip(offset, 0, size[g] - 1)]


WINDOWS_MS = {"follow_feed": 72 * HOUR_MS, "new_arrival": 7 * DAY_MS, "hotlist": 48 * HOUR_MS}


def top_pages(session: np.ndarray, scores: np.ndarray, page: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows shown and their 0-based positions: the ``page`` best-scored rows of every session.

    Rows must be grouped by session in ascending order; ties keep row order.
    """
    n = len(session)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = _session_order(session, scores)
    counts = np.bincount(session)
    rank = np.arange(n) - (np.cumsum(counts) - counts)[session[order]]
    keep = rank < page
    return order[keep], rank[keep]


def _session_order(session: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Rows by (session, descending score, row): ``np.lexsort((-scores, session))``, but faster.

    One unstable sort of int64 keys packing the session above the leading bits of an order-preserving
    integer image of the score; rows whose keys collide (ties, or scores equal in those bits) are then
    put in exact order among themselves.
    """
    n = len(session)
    sb = max(int(session[-1]), 1).bit_length()
    if sb > 40:
        return np.lexsort((-scores, session))
    bits = (scores.astype(np.float64) + 0.0).view(np.uint64)  # + 0.0 turns -0.0 into 0.0
    ascending = np.where(bits >> np.uint64(63) == 1, ~bits, bits | np.uint64(1 << 63))
    key = ((session.astype(np.uint64) << np.uint64(63 - sb)) | (~ascending >> np.uint64(sb + 1))).view(np.int64)
    order = np.argsort(key)
    k = key[order]
    dup = k[1:] == k[:-1]
    if dup.any():
        tied = np.zeros(n, bool)
        tied[1:] = dup
        tied[:-1] |= dup
        pos = np.flatnonzero(tied)
        rows = order[pos]
        order[pos] = rows[np.lexsort((rows, -scores[rows], k[pos]))]
    return order
