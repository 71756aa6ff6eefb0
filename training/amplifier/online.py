"""The amplifier online: score each fans-only post once, when its early window closes, from the events so far.

A post's score is computed the first time it is asked for at or after its cut-off (publish time + early
hours) and kept: the features describe the early window, which no later event changes. Lockstep groups come
from an incremental detector fed with every batch (the groups known when the post is scored).
"""

from __future__ import annotations

import numpy as np

from ranking.gate.lockstep import LockstepDetector
from training.amplifier.features import LOCKSTEP_ACTIONS, cut_off, early_features
from training.amplifier.log import PostLog
from training.amplifier.model import AmplifierModel
from training.amplifier.settings import AmplifierSettings


class EarlyScorer:
    """Predicted public lift per post (NaN before the cut-off, for public posts, or when unknown).

    The scorer takes ``log`` over: :meth:`add` appends to it in place.
    """

    def __init__(self, model: AmplifierModel, log: PostLog, settings: AmplifierSettings) -> None:
        self.model, self.log, self.settings = model, log, settings
        n = len(log.cat.post_account)
        self.score_ = np.full(n, np.nan)
        self.done_ = log.cat.post_public.copy()  # public posts are never scored
        self.detector = LockstepDetector(int(settings.lockstep_window_s * 1000), settings.lockstep_min_posts)
        self._feed(log.user, log.post, log.action, log.time)

    def _feed(self, user: np.ndarray, post: np.ndarray, action: np.ndarray, time: np.ndarray) -> None:
        act = np.isin(action, LOCKSTEP_ACTIONS)
        self.detector.add(user[act], post[act], time[act])

    def add(self, user: np.ndarray, post: np.ndarray, action: np.ndarray, slot: np.ndarray, time: np.ndarray,
            dwell: np.ndarray, fan: np.ndarray,
            unfollows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> None:
        """Take a batch of post events (``fan``: the user followed the author then) and (user, account, time)
        unfollows."""
        z = np.zeros(0, np.int64)
        self.log.append(user, post, action, slot, time, dwell, fan, unfollows or (z, z, z))
        self._feed(np.asarray(user, np.int64), np.asarray(post, np.int64), np.asarray(action), np.asarray(time))

    def scores(self, posts: np.ndarray, now_ms: int) -> np.ndarray:
        """Scores of ``posts`` at ``now_ms``, computing those whose early window has just closed."""
        posts = np.asarray(posts, np.int64)
        due = np.unique(posts[~self.done_[posts] & (cut_off(self.log, posts, self.settings) <= now_ms)])
        if len(due):
            X = early_features(self.log, due, self.settings, flagged=self.detector.flagged)
            self.score_[due] = self.model.predict(X)
            self.done_[due] = True
        return self.score_[posts]
