"""Sessions and the session-aware EASE: known answers on histories small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.embeddings_interactions import Interactions
from training.topk import EASE, default_generators
from training.topk.reranker import SESSION_GAP_MS
from training.topk.sessions import session_matrix

MIN = 60_000.0


def timed(rows: list[tuple[int, int, float]]) -> Interactions:
    frame = pd.DataFrame(rows, columns=["user", "item", "time"]).assign(weight=1.0)
    return Interactions.from_pairs(frame)


@pytest.fixture
def history() -> Interactions:
    # user 1: items 10, 20 within a minute, then 30 and 40 an hour later (two sessions);
    # user 2: 10 and 30 at the same instant (one session), then 20 a day later.
    return timed([(1, 10, 0.0), (1, 20, 30_000.0), (1, 30, 60 * MIN), (1, 40, 60 * MIN + 1),
                  (2, 30, 5 * MIN), (2, 10, 5 * MIN), (2, 20, 5 * MIN + 1440 * MIN)])


def test_sessions_split_each_user_at_long_gaps(history: Interactions) -> None:
    s = session_matrix(history, gap_ms=MIN).toarray()
    # columns are items 10, 20, 30, 40; sessions by user, then time
    assert s.tolist() == [[1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0], [0, 1, 0, 0]]
    assert session_matrix(history, gap_ms=0.0).shape[0] == 6  # 30 s apart is already a new session
    assert session_matrix(history, gap_ms=1e12).shape[0] == 2  # one session per user
    with pytest.raises(ValueError, match="times"):
        session_matrix(Interactions(history.matrix, history.user_ids, history.item_ids), gap_ms=MIN)
    with pytest.raises(ValueError, match="gap_ms"):
        session_matrix(history, gap_ms=-1.0)


def test_session_ease_is_ease_on_users_and_sessions_stacked(history: Interactions) -> None:
    x = history.binary().toarray().astype(np.float64)
    s = session_matrix(history, gap_ms=MIN).toarray()
    gram = x.T @ x + 0.5 * s.T @ s + 2.0 * np.eye(4)
    p = np.linalg.inv(gram)
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    model = EASE(l2=2.0, session_gap_ms=MIN, session_weight=0.5).fit(history)
    np.testing.assert_allclose(model.score(np.arange(2)), x @ b)
    plain = EASE(l2=2.0).fit(history).score(np.arange(2))
    assert not np.allclose(plain, x @ b)  # the sessions change the weights


def test_the_reranker_adds_session_ease_only_when_there_are_times() -> None:
    with_times = dict(default_generators(sequential=True))
    assert isinstance(with_times["sessease"], EASE) and with_times["sessease"].session_gap_ms == SESSION_GAP_MS
    assert "sessease" not in dict(default_generators(sequential=False))
