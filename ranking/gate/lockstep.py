"""Lockstep detection: groups of accounts that repeatedly engage with the same posts within seconds.

A click farm's members hit a client's post one after another, seconds apart, every time; ordinary users
sometimes land on a post within seconds of each other too, but not the same two users on post after post.
So pairs of users who engaged the same post within ``window_ms`` are counted per distinct post, and users
in a pair seen on at least ``min_posts`` posts are flagged. A post's lockstep share is the share of its
distinct engaging users who are flagged.
"""

from __future__ import annotations

import numpy as np

_KEY = np.int64(1) << np.int64(31)  # user ids below 2^31: a pair packs into one int64


class LockstepDetector:
    """Co-engagement pair counts kept incrementally, and the flagged users and per-post shares they imply."""

    def __init__(self, window_ms: int, min_posts: int, max_lag: int = 4) -> None:
        self.window_ms, self.min_posts, self.max_lag = window_ms, min_posts, max_lag
        self.pair_keys = np.zeros(0, np.int64)  # sorted distinct pairs (low user * 2^31 + high user)
        self.pair_counts = np.zeros(0, np.int64)  # distinct posts each pair co-engaged
        self.flagged = np.zeros(0, np.int64)  # sorted user ids in a frequent pair
        self.engaged_post = np.zeros(0, np.int64)  # distinct (post, user) engagements seen
        self.engaged_user = np.zeros(0, np.int64)

    def add(self, user: np.ndarray, post: np.ndarray, time_ms: np.ndarray) -> None:
        """Take a batch of engagement events (any order; batches should not split one burst much)."""
        if not len(user):
            return
        order = np.lexsort((time_ms, post))
        u, p, t = user[order].astype(np.int64), post[order].astype(np.int64), time_ms[order]
        keys, posts = [], []
        for lag in range(1, self.max_lag + 1):  # neighbours in time order: a burst's members are adjacent
            close = (p[lag:] == p[:-lag]) & (t[lag:] - t[:-lag] <= self.window_ms) & (u[lag:] != u[:-lag])
            a, b = u[lag:][close], u[:-lag][close]
            keys.append(np.minimum(a, b) * _KEY + np.maximum(a, b))
            posts.append(p[lag:][close])
        pairs = np.unique(np.stack([np.concatenate(keys), np.concatenate(posts)]), axis=1)[0]
        new_keys, new_counts = np.unique(pairs, return_counts=True)  # distinct posts per pair in this batch
        merged = np.concatenate([self.pair_keys, new_keys])
        self.pair_keys, inverse = np.unique(merged, return_inverse=True)
        self.pair_counts = np.bincount(inverse, weights=np.concatenate([self.pair_counts, new_counts]),
                                       minlength=len(self.pair_keys)).astype(np.int64)
        frequent = self.pair_keys[self.pair_counts >= self.min_posts]
        self.flagged = np.unique(np.concatenate([frequent // _KEY, frequent % _KEY]))
        seen = np.unique(np.concatenate([self.engaged_post * _KEY + self.engaged_user, p * _KEY + u]))
        self.engaged_post, self.engaged_user = seen // _KEY, seen % _KEY

    def shares(self, n_posts: int) -> np.ndarray:
        """Per post (ids below ``n_posts``): share of its distinct engaging users who are flagged (0 if none)."""
        total = np.bincount(self.engaged_post, minlength=n_posts)[:n_posts]
        bad = np.isin(self.engaged_user, self.flagged)
        flagged = np.bincount(self.engaged_post[bad], minlength=n_posts)[:n_posts]
        return flagged / np.maximum(total, 1)
