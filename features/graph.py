"""Follow-graph look-ups that every feature needs: was this user a fan of that account at that time?"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from features.follows import FollowState


class FanIndex:
    """Point-in-time fan status from the ``follows`` table (follow start inclusive, end exclusive).

    A thin view over :class:`features.follows.FollowState`, so that every part of the engine answers the
    question the same way, for any number of follow intervals per pair.
    """

    def __init__(self, follows: pa.Table) -> None:
        self._state = FollowState.from_table(follows)

    def is_fan(self, users: np.ndarray, accounts: np.ndarray, times_ms: np.ndarray) -> np.ndarray:
        """True where ``users[i]`` followed ``accounts[i]`` at ``times_ms[i]``."""
        return self._state.is_fan(np.asarray(users, np.int64), np.asarray(accounts, np.int64),
                                  np.asarray(times_ms, np.int64))
