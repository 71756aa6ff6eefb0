"""Layered experiments: deterministic, proportional and independent bucketing."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.bucketing import Layer, unit_hash


def test_arms_get_their_shares_and_the_same_user_always_the_same_arm() -> None:
    users = np.arange(200_000)
    layer = Layer("ranker", ("control", "a", "b"), (0.5, 0.3, 0.2))
    arms = layer.assign(users)
    assert np.bincount(arms, minlength=3) / len(users) == pytest.approx([0.5, 0.3, 0.2], abs=0.005)
    assert np.array_equal(arms, layer.assign(users))  # a pure function: every worker and replay agrees
    assert layer.arm_of(12345) == layer.arms[arms[12345]]
    assert not np.array_equal(arms, Layer("other", layer.arms, layer.shares).assign(users))


def test_layers_are_independent() -> None:
    users = np.arange(100_000)
    a = Layer("ranker", ("c", "t"), (0.5, 0.5)).assign(users)
    b = Layer("rules", ("c", "t"), (0.5, 0.5)).assign(users)
    joint = np.bincount(a * 2 + b, minlength=4) / len(users)
    assert joint == pytest.approx([0.25] * 4, abs=0.01)  # P(a, b) = P(a) P(b)
    same = Layer("ranker", ("c", "t"), (0.5, 0.5)).assign(users)
    assert np.bincount(a * 2 + same, minlength=4)[[1, 2]].sum() == 0  # control: one layer with itself is not


def test_hash_is_uniform_and_shares_are_checked() -> None:
    u = unit_hash(np.arange(50_000), "x")
    assert u.min() >= 0 and u.max() < 1 and np.histogram(u, 10)[0] == pytest.approx([5_000] * 10, rel=0.06)
    with pytest.raises(ValueError, match="sum to 1"):
        Layer("bad", ("a", "b"), (0.5, 0.6))
