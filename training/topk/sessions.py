"""Sessions: a user's interactions split wherever the time between two of them exceeds a gap.

Items consumed in one sitting say more about each other than items of one long history, so a session ×
item matrix is a second view of co-occurrence beside the user × item one (see :class:`training.topk.ease.EASE`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from training.embeddings_interactions import Interactions


def session_matrix(interactions: Interactions, gap_ms: float) -> sp.csr_matrix:
    """0/1 sessions × items: a new session starts at a user's first interaction and after every gap > ``gap_ms``.

    Sessions are numbered by user row, then by time; ties in time stay in one session. Needs times.
    """
    if interactions.times is None:
        raise ValueError("interactions: sessions need interaction times")
    if gap_ms < 0:
        raise ValueError(f"gap_ms: must be >= 0, got {gap_ms}")
    t = interactions.times.tocoo()
    order = np.lexsort((t.col, t.data, t.row))
    user, item, time = t.row[order], t.col[order], t.data[order]
    new = np.r_[True, (user[1:] != user[:-1]) | (np.diff(time) > gap_ms)] if len(user) else np.zeros(0, bool)
    session = np.cumsum(new) - 1
    n_sessions = int(session[-1]) + 1 if len(session) else 0
    return sp.csr_matrix((np.ones(len(item)), (session, item)), shape=(n_sessions, interactions.shape[1]))
