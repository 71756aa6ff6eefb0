"""The follow graph as intervals, with point-in-time fan status, offline and (with events applied) online."""

from __future__ import annotations

import copy
import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.columns import OPEN, PAIR_BITS, int_column, ms_column, pair_key
from features.counts import sort_ids
from features.keyfilter import KeyFilter

#: Look-ups of at least this many pairs go through the key filter first (building it costs ~0.2 s at 10M pairs).
FILTER_MIN_QUERIES = 1 << 16


class FollowState:
    """Follow intervals [since, until) per (user, account) with point-in-time fan status.

    Fan status has the semantics of :class:`features.graph.FanIndex` (start inclusive, end exclusive; a test
    keeps them equal) with an index built for 20M-event lookups: pair keys sorted once, queries sorted
    before the binary search. Online, :meth:`apply` adds follow and unfollow events as they arrive: pairs
    they touch move to an overlay holding their whole interval list, so a batch never re-indexes the graph.
    """

    def __init__(self, user: np.ndarray, account: np.ndarray, since: np.ndarray, until: np.ndarray) -> None:
        self.user, self.account = np.asarray(user, np.int64), np.asarray(account, np.int64)
        self.since, self.until = np.asarray(since, np.int64), np.asarray(until, np.int64)
        # Built on first use (in the Dask worker, not the client): unique pair keys and where each one's rows
        # start; indexing puts the rows themselves in key order (no permuted copies of the columns).
        self._keys: np.ndarray | None = None
        self._n = 0
        self._starts = np.empty(0, np.int64)
        self._overlay: dict[int, list[list[int]]] = {}
        self._overlay_keys = np.empty(0, np.int64)
        self._filter: KeyFilter | None = None

    @classmethod
    def from_table(cls, follows: pa.Table) -> FollowState:
        until = pc.cast(follows.column("unfollowed_at"), pa.int64()).fill_null(OPEN)
        return cls(int_column(follows.column("user_id")), int_column(follows.column("account_id")),
                   ms_column(follows.column("followed_at")), until.to_numpy(zero_copy_only=False).astype(np.int64))

    def copy(self) -> FollowState:
        """An independent state over the same base intervals (each online updater applies events to its own)."""
        out = copy.copy(self)
        out._overlay = {k: [list(iv) for iv in ivs] for k, ivs in self._overlay.items()}
        return out

    def subset(self, keep: np.ndarray) -> FollowState:
        """The intervals of the rows where ``keep`` is true (a partition of users, for Dask)."""
        return FollowState(self.user[keep], self.account[keep], self.since[keep], self.until[keep])

    def _compact(self, users: np.ndarray, accounts: np.ndarray) -> np.ndarray:
        """user × (largest account + 1) + account: a narrower pair key than :func:`pair_key` (faster sorts);
        -1 for accounts the follows never mention."""
        users, accounts = np.asarray(users, np.int64), np.asarray(accounts, np.int64)
        known = (accounts >= 0) & (accounts < self._n) & (users >= 0)
        return np.where(known, users * self._n + accounts, -1)

    def _index(self) -> np.ndarray:
        if self._keys is None:
            self._n = int(self.account.max(initial=-1)) + 1
            key, rows = sort_ids(self._compact(self.user, self.account))
            if len(rows) and not bool((rows[1:] > rows[:-1]).all()):
                # The columns in key order, in place of the old ones: a worker holds one copy of the graph.
                self.user, self.account, self.since, self.until = (
                    a[rows] for a in (self.user, self.account, self.since, self.until))
            first = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]])) if len(key) else key
            self._starts = np.append(first, len(key)).astype(np.int64)
            self._keys = key[first]
        return self._keys

    def is_fan(self, users: np.ndarray, accounts: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Whether each user followed each account at each time (follow start inclusive, end exclusive)."""
        keys = self._index()
        key = self._compact(users, accounts)
        times = np.asarray(times, np.int64)
        fan = np.zeros(len(key), dtype=bool)
        if len(keys) and len(key):
            base, run = self._run_of(users, keys)
            if len(run) == len(keys) and len(key) >= FILTER_MIN_QUERIES:
                # Most events of a large batch are by non-fans: only keys the filter may hold are searched.
                at = np.flatnonzero(self._key_filter(keys).may_hold(key))
                fan[at] = self._base_fan(key[at], times[at], 0, keys, sort=True)
            else:
                fan[:] = self._base_fan(key, times, base, run, sort=len(run) == len(keys))
        if self._overlay:
            key = pair_key(users, accounts)
            # the overlay keys are kept sorted: a binary search beats np.isin, which sorts both sides per call
            for i in np.flatnonzero(_member(key, self._overlay_keys)):
                t = int(times[i])
                fan[i] = any(s <= t < u for s, u in self._overlay[int(key[i])])
        return fan

    def _base_fan(self, key: np.ndarray, times: np.ndarray, base: int, run: np.ndarray, *, sort: bool) -> np.ndarray:
        """Fan status in the base intervals of compact ``key`` at ``times``, searching the sorted pair keys
        ``run`` (which start at row ``base`` of the index), the queries sorted first if ``sort``."""
        fan = np.zeros(len(key), dtype=bool)
        if not len(key) or not len(run):
            return fan
        # Binary search is many times faster on sorted queries (cache), so sort them first, unless they
        # search one user's short run; intervals are stored in key order, so only the times and the result
        # move at random. Keys of -1 become one past the largest key and match nothing.
        qk = np.where(key >= 0, key, run[-1] + 1)
        q: np.ndarray | slice = slice(None)
        if sort:
            qk, q = sort_ids(qk)
        r = np.minimum(np.searchsorted(run, qk), len(run) - 1)
        found = run[r] == qk
        r = r + base
        lo = self._starts[r]
        fan[q] = self._holds(lo, np.where(found, self._starts[r + 1], lo), times[q])
        return fan

    def drop_filter(self) -> None:
        """Let go of the key filter (built for bulk look-ups, such as replaying history); the next bulk look-up
        builds it again. A serving worker, which then asks about one user at a time, would hold it for nothing."""
        self._filter = None

    def _key_filter(self, keys: np.ndarray) -> KeyFilter:
        """The bit filter of the base pair keys, built on the first large look-up (a serving worker, asking
        about one user at a time, never builds it)."""
        if self._filter is None:
            self._filter = KeyFilter(keys)
        return self._filter

    def followed(self, users: np.ndarray, at_ms: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """``(query, account)``: the accounts each ``users[i]`` follows at ``at_ms[i]``, each once, ordered by query
        then account (the candidate sources' question, answered from the live state, events included)."""
        users = np.asarray(users, np.int64)
        at = np.broadcast_to(np.asarray(at_ms, np.int64), users.shape)
        keys, n = self._index(), self._n
        ok = users >= 0
        # A user's pairs are one run of the sorted keys: [user × n, (user + 1) × n).
        lo = np.searchsorted(keys, np.where(ok, users * n, 0))
        count = np.where(ok, np.searchsorted(keys, np.where(ok, (users + 1) * n, 0)) - lo, 0)
        query, pair = _runs_of(lo, count)
        live = self._holds(self._starts[pair], self._starts[pair + 1], at[query])
        query, account = query[live], keys[pair[live]] - users[query[live]] * n
        if self._overlay:
            query, account = self._with_overlay(users, at, query, account)
        order = np.lexsort((account, query))
        return query[order], account[order]

    def _holds(self, first: np.ndarray, stop: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Whether any of the base intervals at rows ``first[i]:stop[i]`` holds ``t[i]``."""
        hit = np.zeros(len(first), dtype=bool)
        count = stop - first
        for j in range(int(count.max(initial=0))):  # pairs with several intervals: any may hold t
            m = np.flatnonzero(count > j)
            at = first[m] + j
            hit[m] |= (self.since[at] <= t[m]) & (t[m] < self.until[at])
        return hit

    def _with_overlay(self, users: np.ndarray, at: np.ndarray, query: np.ndarray,
                      account: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Replace the base answer of pairs the overlay holds by the overlay's intervals."""
        moved = _member(pair_key(users[query], account), self._overlay_keys)
        query, account = query[~moved], account[~moved]
        ok = users >= 0
        lo = np.searchsorted(self._overlay_keys, np.where(ok, users << PAIR_BITS, 0))
        count = np.where(ok, np.searchsorted(self._overlay_keys, np.where(ok, (users + 1) << PAIR_BITS, 0)) - lo, 0)
        q, pos = _runs_of(lo, count)
        extra = [(int(i), key & ((1 << PAIR_BITS) - 1)) for i, key in zip(q.tolist(), self._overlay_keys[pos].tolist(),
                                                                           strict=True)
                 if any(s <= int(at[i]) < u for s, u in self._overlay[key])]
        add = np.array(extra, dtype=np.int64).reshape(-1, 2)
        return np.concatenate([query, add[:, 0]]), np.concatenate([account, add[:, 1]])

    def _run_of(self, users: np.ndarray, keys: np.ndarray) -> tuple[int, np.ndarray]:
        """The pair keys a query can match, and their offset: for one user's queries (one request), only that
        user's pairs, a short run whose binary searches stay in cache; otherwise all of them."""
        users = np.asarray(users, np.int64)
        if len(users) < 2 or users[0] < 0 or not bool((users == users[0]).all()):
            return 0, keys
        lo, hi = np.searchsorted(keys, [int(users[0]) * self._n, (int(users[0]) + 1) * self._n])
        return int(lo), keys[lo:hi]

    def _intervals(self, key: int) -> list[list[int]]:
        if key in self._overlay:
            return self._overlay[key]
        keys = self._index()
        user, account = key >> PAIR_BITS, key & ((1 << PAIR_BITS) - 1)
        if account >= self._n:
            return []
        key = user * self._n + account
        r = int(np.searchsorted(keys, key))
        if r >= len(keys) or keys[r] != key:
            return []
        at = slice(self._starts[r], self._starts[r + 1])
        return sorted([int(a), int(b)] for a, b in zip(self.since[at], self.until[at], strict=True))

    def apply(self, users: np.ndarray, accounts: np.ndarray, times: np.ndarray,
              follow: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Apply follow (``follow`` true) and unfollow events in the given order.

        Returns the effective changes as (account, time, +1 or -1): a follow by a current fan or an unfollow
        without an open follow changes nothing, exactly as the ``follows`` table records them.
        """
        changes: list[tuple[int, int, int]] = []
        keys = pair_key(users, accounts)
        for key, account, t, f in zip(keys.tolist(), np.asarray(accounts).tolist(), np.asarray(times).tolist(),
                                      np.asarray(follow).tolist(), strict=True):
            if key < 0:
                continue
            ivs = self._intervals(key)
            if f and not any(s <= t < u for s, u in ivs):
                ivs.append([t, int(OPEN)])
                changes.append((account, t, 1))
            elif not f:
                open_ = [iv for iv in ivs if iv[1] == OPEN and iv[0] < t]
                if open_:
                    open_[-1][1] = t
                    changes.append((account, t, -1))
            self._overlay[key] = ivs
        self._overlay_keys = np.array(sorted(self._overlay), dtype=np.int64)
        if len(self._overlay) > max(50_000, len(self.user) // 20):
            self._fold()
        out = np.array(changes, dtype=np.int64).reshape(-1, 3)
        return out[:, 0], out[:, 1], out[:, 2]

    def _fold(self) -> None:
        """Move the overlay into the base intervals (and re-index), so fan look-ups stay vectorised (a query of
        a pair in the overlay is answered in Python). Done once the overlay grows large: each fold makes this
        state's own copy of the base arrays, which copies made by :meth:`copy` otherwise share."""
        if not self._overlay:
            return
        keep = ~np.isin(pair_key(self.user, self.account), self._overlay_keys)
        rows = [(k >> PAIR_BITS, k & ((1 << PAIR_BITS) - 1), s, u) for k, ivs in self._overlay.items() for s, u in ivs]
        extra = np.array(rows, dtype=np.int64).reshape(-1, 4)
        self.user, self.account, self.since, self.until = (
            np.concatenate([a[keep], extra[:, i]]) for i, a in enumerate((self.user, self.account, self.since,
                                                                         self.until)))
        self._keys, self._overlay, self._overlay_keys = None, {}, np.empty(0, np.int64)
        self._filter = None

    def deltas(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Follower changes (account, time, +1/-1) of the base intervals (the snapshot, before any
        :meth:`apply`): +1 at each start, -1 at each end."""
        ended = self.until != OPEN
        accounts = np.concatenate([self.account, self.account[ended]])
        times = np.concatenate([self.since, self.until[ended]])
        return accounts, times, np.concatenate([np.ones(len(self.since), np.int64), -np.ones(ended.sum(), np.int64)])

    def digest(self) -> str:
        """Hash of the base intervals (so a store is seeded with a snapshot once), taken in key order (indexing
        first), so that it is the same before and after a state answered its first question."""
        self._index()
        h = hashlib.sha256()
        for a in (self.user, self.account, self.since, self.until):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]


def _runs_of(lo: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query, position): ``lo[i], lo[i] + 1, … lo[i] + count[i] - 1`` for each i, labelled with i."""
    query = np.repeat(np.arange(len(lo), dtype=np.int64), count)
    start = np.cumsum(count) - count
    return query, np.arange(len(query), dtype=np.int64) - np.repeat(start - lo, count)


def _member(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Whether each value is in the sorted, non-empty ``sorted_keys``: a binary search per value (np.isin would
    sort both sides on every call, and a request asks about a few hundred pairs against tens of thousands)."""
    pos = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return sorted_keys[pos] == values
