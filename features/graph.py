"""Follow-graph look-ups that every feature needs: was this user a fan of that account at that time?"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_OPEN = np.iinfo(np.int64).max


class FanIndex:
    """Point-in-time fan status from the ``follows`` table (follow intervals per user and account)."""

    def __init__(self, follows: pa.Table) -> None:
        user = follows.column("user_id").to_numpy().astype(np.int64)
        account = follows.column("account_id").to_numpy().astype(np.int64)
        self._n = int(account.max()) + 1 if len(account) else 1
        since = pc.cast(follows.column("followed_at"), pa.int64()).to_numpy(zero_copy_only=False)
        until = pc.cast(follows.column("unfollowed_at"), pa.int64()).fill_null(_OPEN).to_numpy()
        key = user * self._n + account
        order = np.lexsort((since, key))
        self._key, self._since, self._until = key[order], since[order], until[order]

    def is_fan(self, users: np.ndarray, accounts: np.ndarray, times_ms: np.ndarray) -> np.ndarray:
        """True where ``users[i]`` followed ``accounts[i]`` at ``times_ms[i]`` (follow start inclusive)."""
        users, accounts = np.asarray(users, np.int64), np.asarray(accounts, np.int64)
        times_ms = np.asarray(times_ms, np.int64)
        out = np.zeros(len(users), dtype=bool)
        if not len(self._key):
            return out
        known = accounts < self._n
        key = users * self._n + np.where(known, accounts, 0)
        lo = np.searchsorted(self._key, key, side="left")
        hi = np.searchsorted(self._key, key, side="right")
        # Usually one interval per pair; check the latest that started before t, and the first.
        for idx in (np.maximum(hi - 1, 0), np.minimum(lo, len(self._key) - 1)):
            hit = (hi > lo) & known & (self._since[idx] <= times_ms) & (times_ms < self._until[idx])
            out |= hit
        return out
