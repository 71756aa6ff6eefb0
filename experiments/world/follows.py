"""The follow graph as it evolves: follow rows with start and end times, and a daily snapshot of active follows.

The snapshot is kept up to date from the few rows that started or ended since the previous rebuild
(a few thousand a day) instead of re-sorting every follow (millions) each simulated day. The initial
follows are read from the population in place; only later follows and the sparse end times are stored.
"""

from __future__ import annotations

import numpy as np

from experiments.world.population import Population, sorted_unique

NEVER = np.iinfo(np.int64).max


def expand(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ragged expansion: for each owner i, the indices starts[i] .. starts[i] + counts[i] - 1."""
    counts = np.maximum(counts, 0)
    owner = np.repeat(np.arange(len(counts)), counts)
    offsets = np.cumsum(counts) - counts
    pos = starts[owner] + np.arange(len(owner)) - offsets[owner]
    return owner, pos.astype(np.int64)


def _member(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Whether each of ``keys`` occurs in ``sorted_keys``."""
    if not len(sorted_keys):
        return np.zeros(len(keys), bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[pos] == keys


class FollowRows:
    """Every follow row (user, account, since, until); row ids are initial rows first, then additions."""

    def __init__(self, user: np.ndarray, account: np.ndarray, since: np.ndarray, n_accounts: int) -> None:
        self.n_accounts = n_accounts
        self._base = {"user": user, "account": account, "since": since}
        self.n_base = len(user)
        key = user.astype(np.int64) * n_accounts + account
        self.base_row: np.ndarray | None = None
        if not _ascending(key, strict=False):  # the population sorts its follows; be safe anyway
            self.base_row = np.argsort(key, kind="stable")
            key = key[self.base_row]
        self.base_key = key  # initial keys, ascending
        self.base_unique = _ascending(key, strict=True)
        self._added = {c: np.zeros(0, np.int64) for c in self._base}
        self._n_added = 0
        self._added_key = np.zeros(0, np.int64)  # keys of added rows, ascending, and their rows
        self._added_row = np.zeros(0, np.int64)
        self._ended_row = np.zeros(0, np.int64)  # rows with an end time, ascending, and that time
        self._ended_at = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return self.n_base + self._n_added

    def get(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Column ``name`` (user, account or since) of ``rows``."""
        base = self._base[name]
        if not len(rows) or rows.max() < self.n_base:
            return base[rows]
        added = self._added[name]
        return np.where(rows < self.n_base, base[np.minimum(rows, self.n_base - 1)],
                        added[np.maximum(rows - self.n_base, 0)])

    def base_column(self, name: str) -> np.ndarray:
        """Column ``name`` (user, account or since) of the initial rows: the population's own array."""
        return self._base[name]

    def keys(self, rows: np.ndarray) -> np.ndarray:
        """Keys user * n_accounts + account of ``rows``."""
        return self.get("user", rows).astype(np.int64) * self.n_accounts + self.get("account", rows)

    def until(self, rows: np.ndarray) -> np.ndarray:
        """End time of ``rows`` (NEVER while open)."""
        if not len(self._ended_row):
            return np.full(len(rows), NEVER, np.int64)
        pos = np.minimum(np.searchsorted(self._ended_row, rows), len(self._ended_row) - 1)
        return np.where(self._ended_row[pos] == rows, self._ended_at[pos], NEVER)

    @property
    def pristine(self) -> bool:
        """Only the initial rows, none ended: their columns are the population's."""
        return not self._n_added and not len(self._ended_row)

    def column(self, name: str) -> np.ndarray:
        """A whole column (a copy), ``until`` included."""
        if name == "until":
            out = np.full(len(self), NEVER, np.int64)
            out[self._ended_row] = self._ended_at
            return out
        return np.concatenate([self._base[name], self._added[name][: self._n_added]])

    def append(self, users: np.ndarray, accounts: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Append open rows; returns their row ids."""
        k, n = len(users), self._n_added
        if n + k > len(self._added["user"]):  # grow geometrically so that daily additions are amortised
            cap = max(n + k, 1024, int(len(self._added["user"]) * 1.5))
            self._added = {c: np.concatenate([a[:n], np.empty(cap - n, np.int64)]) for c, a in self._added.items()}
        for col, values in (("user", users), ("account", accounts), ("since", times)):
            self._added[col][n:n + k] = values
        self._n_added = n + k
        rows = np.arange(self.n_base + n, self.n_base + n + k)
        key = self.keys(rows)
        order = np.argsort(key, kind="stable")
        at = np.searchsorted(self._added_key, key[order], side="right")
        self._added_key = np.insert(self._added_key, at, key[order])
        self._added_row = np.insert(self._added_row, at, rows[order])
        return rows

    def end(self, rows: np.ndarray, times: np.ndarray) -> None:
        """Set the end time of open ``rows`` (distinct)."""
        row = np.concatenate([self._ended_row, rows])
        order = np.argsort(row, kind="stable")
        self._ended_row, self._ended_at = row[order], np.concatenate([self._ended_at, times])[order]

    def order(self) -> np.ndarray:
        """Row ids by (user, account, since), ties in row order: ``np.lexsort((since, account, user))``.

        The initial rows are in that order already, so the few added rows are merged in.
        """
        if self.base_row is not None or not self.base_unique:
            return np.lexsort((self.column("since"), self.column("account"), self.column("user")))
        rows = np.arange(self.n_base, len(self))
        rows = rows[np.lexsort((rows, self.get("since", rows), self.keys(rows)))]
        key, since = self.keys(rows), self.get("since", rows)
        at = np.searchsorted(self.base_key, key)
        base = np.minimum(at, max(self.n_base - 1, 0))
        same = (at < self.n_base) & (self.base_key[base] == key) & (self._base["since"][base] <= since)
        return np.insert(np.arange(self.n_base), at + same, rows)

    def with_keys(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index into ``keys``, row) for every row whose key is one of ``keys``."""
        qa, pa = _ranges(self.base_key, keys)
        qb, pb = _ranges(self._added_key, keys)
        ra = pa if self.base_row is None else self.base_row[pa]
        return np.concatenate([qa, qb]), np.concatenate([ra, self._added_row[pb]])


def _ascending(key: np.ndarray, strict: bool, chunk: int = 1 << 22) -> bool:
    """Whether ``key`` is (strictly) ascending, checked in chunks to spare a full-length temporary."""
    for lo in range(0, max(len(key) - 1, 0), chunk):
        a, b = key[lo:lo + chunk], key[lo + 1:lo + chunk + 1]
        if np.any(b <= a[:len(b)]) if strict else np.any(b < a[:len(b)]):
            return False
    return True


def _ranges(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index into ``keys``, position in ``sorted_keys``) of every match."""
    lo = np.searchsorted(sorted_keys, keys, side="left")
    hi = np.searchsorted(sorted_keys, keys, side="right")
    return expand(lo, hi - lo)


class FollowGraph:
    """Follow rows with start and end times; a CSR snapshot of the follows active at the last rebuild.

    ``fan_keys`` holds the distinct active keys user * n_accounts + account in ascending order, so a
    user's followed accounts are the slice ``fan_keys[indptr[u]:indptr[u + 1]]``.
    """

    def __init__(self, pop: Population) -> None:
        self.n_users, self.n_accounts = len(pop.users.activity), len(pop.accounts.kind)
        self.rows = FollowRows(pop.follow_user, pop.follow_account, pop.follow_ms, self.n_accounts)
        self._at: int | None = None
        self.rebuild(pop.start_ms)

    user = property(lambda self: self.rows.column("user"))
    account = property(lambda self: self.rows.column("account"))
    since = property(lambda self: self.rows.column("since"))
    until = property(lambda self: self.rows.column("until"))

    def add(self, users: np.ndarray, accounts: np.ndarray, times: np.ndarray) -> None:
        """Append open follows (they join the snapshot at the first rebuild at or after their time)."""
        self._waiting = np.concatenate([self._waiting, self.rows.append(users, accounts, times)])

    def end(self, users: np.ndarray, accounts: np.ndarray, times: np.ndarray) -> None:
        """End the open follows of each (user, account) pair at its time (the pair's first request wins)."""
        if not len(users):
            return
        qkey = users.astype(np.int64) * self.n_accounts + accounts
        order = np.argsort(qkey, kind="stable")
        qkey, qtime = qkey[order], np.asarray(times)[order]
        first = np.concatenate([[True], qkey[1:] != qkey[:-1]])
        qkey, qtime = qkey[first], qtime[first]
        qi, row = self.rows.with_keys(qkey)
        hit = (self.rows.until(row) == NEVER) & (qtime[qi] > self.rows.get("since", row))
        self.rows.end(row[hit], qtime[qi[hit]])
        self._ending = np.concatenate([self._ending, row[hit]])

    def rebuild(self, now_ms: int) -> None:
        """Snapshot the follows active at ``now_ms`` (since <= now < until)."""
        if self._at is None or now_ms < self._at:
            self._full_rebuild(now_ms)
            return
        starting = self.rows.get("since", self._waiting) <= now_ms
        stopping = self.rows.until(self._ending) <= now_ms
        changed = np.concatenate([self._waiting[starting], self._ending[stopping]])
        self._waiting, self._ending, self._at = self._waiting[~starting], self._ending[~stopping], now_ms
        if len(changed):
            self._apply(sorted_unique(self.rows.keys(changed)), now_ms)

    def _full_rebuild(self, now_ms: int) -> None:
        rows = self.rows
        if rows.pristine and rows.base_row is None and rows.base_unique:  # the world's start
            since = rows.base_column("since")
            self.fan_keys = rows.base_key[since <= now_ms]  # sorted and distinct already
            self._waiting = np.flatnonzero(since > now_ms)
            self._ending = np.zeros(0, np.int64)
        else:
            since, until = self.since, self.until
            self.fan_keys = sorted_unique(rows.keys(np.flatnonzero((since <= now_ms) & (until > now_ms))))
            self._waiting = np.flatnonzero(since > now_ms)
            self._ending = np.flatnonzero((until != NEVER) & (until > now_ms))
        # users' slices: where each user's keys begin (a sorted search, cheaper than dividing every key)
        bounds = np.arange(self.n_users + 1, dtype=np.int64) * self.n_accounts
        self.indptr = np.searchsorted(self.fan_keys, bounds)
        self.followers = np.bincount(self.fan_keys % self.n_accounts, minlength=self.n_accounts)
        self._at = now_ms

    def _apply(self, keys: np.ndarray, now_ms: int) -> None:
        """Bring the snapshot up to date for the pairs ``keys``: a pair is in it iff one of its rows is active."""
        qi, row = self.rows.with_keys(keys)
        live = (self.rows.get("since", row) <= now_ms) & (self.rows.until(row) > now_ms)
        active = np.bincount(qi[live], minlength=len(keys)) > 0
        present = _member(self.fan_keys, keys)
        on, off = keys[active & ~present], keys[~active & present]
        self.fan_keys = np.delete(self.fan_keys, np.searchsorted(self.fan_keys, off))
        self.fan_keys = np.insert(self.fan_keys, np.searchsorted(self.fan_keys, on), on)
        delta = (np.bincount(on // self.n_accounts, minlength=self.n_users)
                 - np.bincount(off // self.n_accounts, minlength=self.n_users))
        self.indptr = self.indptr + np.concatenate([[0], np.cumsum(delta)])
        self.followers = (self.followers + np.bincount(on % self.n_accounts, minlength=self.n_accounts)
                          - np.bincount(off % self.n_accounts, minlength=self.n_accounts))

    def followed(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row of ``users``, account) for every account each user follows in the snapshot."""
        row, pos = expand(self.indptr[users], self.indptr[users + 1] - self.indptr[users])
        return row, self.fan_keys[pos] - users[row].astype(np.int64) * self.n_accounts

    def is_fan(self, users: np.ndarray, accounts: np.ndarray) -> np.ndarray:
        """Whether each user follows the account in the snapshot.

        The keys of the queried users are gathered into a small sorted array first: searching it stays
        in cache, searching all follows does not.
        """
        if not len(users):
            return np.zeros(0, bool)
        who = sorted_unique(np.asarray(users, np.int64))
        _, pos = expand(self.indptr[who], self.indptr[who + 1] - self.indptr[who])
        return _member(self.fan_keys[pos], users.astype(np.int64) * self.n_accounts + accounts)

    def session_fans(self, users: np.ndarray, session: np.ndarray, accounts: np.ndarray) -> np.ndarray:
        """``is_fan(users[session], accounts)`` for rows grouped by ascending session (searches stay local)."""
        row, followed = self.followed(users)
        return _member(row * self.n_accounts + followed, session.astype(np.int64) * self.n_accounts + accounts)

    def records(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """All follow rows: (user, account, since, until) in row order."""
        return self.user, self.account, self.since, self.until

    def sorted_records(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``records()`` ordered by (user, account, since)."""
        order = self.rows.order()
        return tuple(column[order] for column in self.records())  # type: ignore[return-value]
