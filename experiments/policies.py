"""Baseline policies that run inside the simulated world, and the oracle that reads its truth.

Each baseline ranks slots by one published rule and amplifies, every hour, the live private posts
its rule scores highest, up to the same capacity the world enforces for everyone.
"""

from __future__ import annotations

import numpy as np

from experiments.world.behaviour import Rows, expected_utility, probabilities
from experiments.world.params import HOUR_MS
from experiments.world.policy import AmplifyBatch, Batch, Observation

HN_GRAVITY = 1.8
REDDIT_EPOCH_S = 1134028003


def _age_hours(obs: Observation, created_ms: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, (obs.now_ms - created_ms) / HOUR_MS)


def _item_popularity(batch: Batch, obs: Observation) -> np.ndarray:
    c = obs.counters
    if batch.slot == "new_arrival":
        return c.product_click[batch.item] + 5 * c.product_buy[batch.item]
    return c.click_fan[batch.item] + c.click_nonfan[batch.item] + c.engagements()[batch.item]


class RulePolicy:
    """A policy defined by one scoring rule over posts, used for every slot and for amplification."""

    name = "rule"

    def item_scores(self, batch: Batch, obs: Observation) -> np.ndarray:
        raise NotImplementedError

    def post_scores(self, post: np.ndarray, created_ms: np.ndarray, obs: Observation) -> np.ndarray:
        fake = Batch("follow_feed", obs.now_ms, np.zeros(len(post), np.int64), np.zeros(len(post), np.int64),
                     post, obs.catalog.post_account[post], np.zeros(len(post), bool), created_ms,
                     obs.level[post])
        return self.item_scores(fake, obs)

    def score(self, batch: Batch, obs: Observation) -> np.ndarray:
        return self.item_scores(batch, obs)

    def amplify(self, batch: AmplifyBatch, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        priority = self.post_scores(batch.post, batch.created_ms, obs)
        return np.maximum(batch.level, 2), priority


class Chronological(RulePolicy):
    """Newest first."""

    name = "chronological"

    def item_scores(self, batch: Batch, obs: Observation) -> np.ndarray:
        return batch.item_ms.astype(np.float64)


class Popularity(RulePolicy):
    """Most clicks and engagements so far."""

    name = "popularity"

    def item_scores(self, batch: Batch, obs: Observation) -> np.ndarray:
        return _item_popularity(batch, obs) + 1e-15 * batch.item_ms


class FollowerCount(RulePolicy):
    """Posts of the accounts with the most followers first."""

    name = "follower_count"

    def item_scores(self, batch: Batch, obs: Observation) -> np.ndarray:
        return obs.followers[batch.author] + 1e-15 * batch.item_ms


class HackerNewsGravity(RulePolicy):
    """Hacker News: (points − 1) / (age_h + 2)^1.8, points = engagements + 1."""

    name = "hn_gravity"

    def item_scores(self, batch: Batch, obs: Observation) -> np.ndarray:
        points = _item_popularity(batch, obs) + 1
        return (points - 1) / (_age_hours(obs, batch.item_ms) + 2) ** HN_GRAVITY


class RedditHot(RulePolicy):
    """Reddit hot: sign(s)·log10(max(|s|, 1)) + (created − epoch) / 45000 s."""

    name = "reddit_hot"

    def item_scores(self, batch: Batch, obs: Observation) -> np.ndarray:
        s = _item_popularity(batch, obs)
        order = np.log10(np.maximum(np.abs(s), 1))
        return np.sign(s) * order + (batch.item_ms / 1000 - REDDIT_EPOCH_S) / 45000


class SzaboHuberman(RulePolicy):
    """Szabo–Huberman: log popularity at 48 h ≈ log popularity now + β(age), β fitted on past posts."""

    name = "szabo_huberman"
    horizon_h = 48

    def __init__(self) -> None:
        self._snapshots: dict[int, np.ndarray] = {}  # hour of age -> log1p(popularity) of every post
        self._beta = np.zeros(self.horizon_h + 1)
        self._last_hour = -1

    def _update(self, obs: Observation) -> None:
        hour = obs.now_ms // HOUR_MS
        if hour == self._last_hour:
            return
        self._last_hour = hour
        created = obs.catalog.post_created_ms
        pop = np.log1p(obs.counters.click_fan + obs.counters.click_nonfan + obs.counters.engagements())
        age = (obs.now_ms - created) // HOUR_MS
        done = age == self.horizon_h
        for a in range(1, self.horizon_h):
            at_age = age == a
            self._snapshots.setdefault(a, np.full(len(created), np.nan))[at_age] = pop[at_age]
            known = done & ~np.isnan(self._snapshots[a])
            if known.sum() >= 20:
                self._beta[a] = float(np.mean(pop[known] - self._snapshots[a][known]))

    def item_scores(self, batch: Batch, obs: Observation) -> np.ndarray:
        self._update(obs)
        pop = _item_popularity(batch, obs)
        age = np.clip((obs.now_ms - batch.item_ms) // HOUR_MS, 0, self.horizon_h).astype(np.int64)
        return np.log1p(pop) + self._beta[age]


class RandomPolicy(RulePolicy):
    """Uniformly random order and random amplification."""

    name = "random"

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def item_scores(self, batch: Batch, obs: Observation) -> np.ndarray:
        return self.rng.random(len(batch))


class LoggingPolicy(Chronological):
    """The policy that served the logged history: chronological feeds, amplification by fan engagement rate."""

    name = "logging"

    def amplify(self, batch: AmplifyBatch, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        c = obs.counters
        imp = c.imp_fan[batch.post]
        rate = (c.engage_fan[batch.post] + 1) / (imp + 20)
        target = np.where((imp >= 20) | (batch.level >= 2), np.maximum(batch.level, 2), batch.level)
        return target, rate


class Oracle:
    """Reads the hidden truth: ranks by true utility, amplifies exactly the truly top-decile posts at once."""

    name = "oracle"

    def __init__(self, world: object, good_threshold: float) -> None:
        self.world = world
        self.threshold = good_threshold

    def score(self, batch: Batch, obs: Observation) -> np.ndarray:
        w = self.world
        age = (batch.now_ms - batch.item_ms) / HOUR_MS
        rows = Rows(batch.user, batch.item, batch.author, batch.is_fan, age, batch.slot == "new_arrival")
        return expected_utility(probabilities(w.pop, rows, w.params), w.params)  # type: ignore[attr-defined]

    def amplify(self, batch: AmplifyBatch, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        appeal = self.world.pop.posts.appeal[batch.post]  # type: ignore[attr-defined]
        good = appeal >= self.threshold
        return np.where(good, np.maximum(batch.level, 2), 0), appeal


BASELINES = ("chronological", "popularity", "follower_count", "hn_gravity", "reddit_hot", "szabo_huberman", "random")


def make_baseline(name: str, rng: np.random.Generator) -> RulePolicy:
    """A fresh baseline policy by name."""
    classes: dict[str, type[RulePolicy]] = {
        c.name: c for c in (Chronological, Popularity, FollowerCount, HackerNewsGravity, RedditHot, SzaboHuberman)
    }
    if name == "random":
        return RandomPolicy(rng)
    if name not in classes:
        raise ValueError(f"policy: unknown baseline {name!r} (known: {', '.join(BASELINES)})")
    return classes[name]()
