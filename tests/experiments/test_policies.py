"""Baseline scoring rules on hand-made observations with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.policies import BASELINES, HackerNewsGravity, Popularity, RedditHot, make_baseline
from experiments.world.events import Events
from experiments.world.policy import Batch, Catalog, Counters, Observation

HOUR = 3_600_000


def _obs(engagements: list[float], now_ms: int) -> Observation:
    n = len(engagements)
    c = Counters(n, 1)
    c.engage_fan[:] = engagements
    zeros = np.zeros(n, np.int64)
    cat = Catalog(zeros, zeros, zeros, zeros, zeros[:1], zeros[:1], zeros[:1], zeros[:1].astype(bool), zeros[:1],
                  zeros[:1], zeros[:1], zeros[:1], np.zeros(1))
    return Observation(now_ms, cat, np.array([5]), c, np.zeros(n, np.int8), Events())


def _batch(created_ms: list[int], now_ms: int) -> Batch:
    n = len(created_ms)
    z = np.zeros(n, np.int64)
    return Batch("follow_feed", now_ms, z, z, np.arange(n), z, np.ones(n, bool), np.array(created_ms), z)


def test_hn_gravity_matches_the_formula() -> None:
    now = 100 * HOUR
    obs = _obs([10, 10, 40], now)
    scores = HackerNewsGravity().score(_batch([now - 1 * HOUR, now - 10 * HOUR, now - 10 * HOUR], now), obs)
    expected = np.array([10 / 3**1.8, 10 / 12**1.8, 40 / 12**1.8])
    np.testing.assert_allclose(scores, expected)


def test_reddit_hot_trades_one_order_of_magnitude_for_12_5_hours() -> None:
    now = 100 * HOUR
    obs = _obs([10, 100], now)
    scores = RedditHot().score(_batch([now, now - 45_000_000], now), obs)
    assert scores[0] == pytest.approx(scores[1])


def test_popularity_orders_by_engagement() -> None:
    obs = _obs([3, 9, 1], 0)
    assert list(np.argsort(-Popularity().score(_batch([0, 0, 0], 0), obs))) == [1, 0, 2]


def test_every_baseline_is_constructible_and_unknown_names_are_refused() -> None:
    rng = np.random.default_rng(0)
    assert {make_baseline(n, rng).name for n in BASELINES} == set(BASELINES)
    with pytest.raises(ValueError, match="unknown baseline 'hn'"):
        make_baseline("hn", rng)
