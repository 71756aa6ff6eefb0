"""The report's curves and intervals on tiny inputs whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.reports import figures as fg
from experiments.reports.bootstrap import aligned, independent_difference, paired_difference, ratio_interval


def test_gain_and_lift_of_a_known_ranking() -> None:
    # Ranked by score: clicks at ranks 1 and 3 of 4.
    share, gain = fg.gain_curve([4.0, 3.0, 2.0, 1.0], [1, 0, 1, 0])
    assert share.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert gain.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    share, lift = fg.lift_curve([4.0, 3.0, 2.0, 1.0], [1, 0, 1, 0])
    assert lift == pytest.approx([2.0, 1.0, 4 / 3, 1.0])


def test_gain_sorts_by_score_not_by_input_order() -> None:
    _, gain = fg.gain_curve([1.0, 9.0, 5.0], [0, 0, 1])
    assert gain.tolist() == [0.0, 0.0, 1.0, 1.0]


def test_gain_without_any_outcome_is_the_diagonal_and_bad_input_is_named() -> None:
    share, gain = fg.gain_curve([3.0, 2.0, 1.0], [0, 0, 0])
    assert gain.tolist() == share.tolist()
    with pytest.raises(ValueError, match="scores"):
        fg.gain_curve([1.0, np.nan], [0, 1])
    with pytest.raises(ValueError, match="one length"):
        fg.gain_curve([1.0, 2.0], [0])


def test_calibration_of_a_known_set() -> None:
    # Two quantile bins: p = 0.1 (observed 1 of 2) and p = 0.9 (observed 2 of 2).
    c = fg.calibration_curve([0.1, 0.1, 0.9, 0.9], [0, 1, 1, 1], bins=2)
    assert c.predicted == pytest.approx([0.1, 0.9])
    assert c.observed == pytest.approx([0.5, 1.0])
    assert c.count.tolist() == [2, 2]
    assert c.ece == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)


def test_perfect_calibration_has_zero_error() -> None:
    c = fg.calibration_curve([0.25] * 4 + [0.75] * 4, [1, 0, 0, 0, 1, 1, 1, 0], bins=2)
    assert c.ece == pytest.approx(0.0)


def test_lorenz_of_equal_exposure_is_the_diagonal_with_gini_zero() -> None:
    lz = fg.lorenz([5, 5, 5, 5])
    assert lz.population.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert lz.exposure == pytest.approx(lz.population)
    assert lz.gini == pytest.approx(0.0)


def test_lorenz_when_one_account_gets_everything() -> None:
    lz = fg.lorenz([0, 0, 0, 12])
    assert lz.exposure.tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert lz.gini == pytest.approx(0.75)  # 1 - 1/n


def test_thin_keeps_the_ends_and_bounds_the_points() -> None:
    x = np.linspace(0, 1, 1001)
    tx, ty = fg.thin(x, x ** 2, points=11)
    assert len(tx) == 11 and tx[0] == 0.0 and tx[-1] == 1.0
    assert ty == pytest.approx(tx ** 2)


def test_activity_quartiles_buckets_and_labels() -> None:
    activity = np.arange(8)  # quartile edges 1.75, 3.5, 5.25
    edges = fg.activity_edges(activity)
    assert edges == pytest.approx([1.75, 3.5, 5.25])
    assert fg.bucket_of(activity, edges).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert fg.bucket_labels(edges) == ["≤1", "2–3", "4–5", ">5"]


def test_ties_in_activity_merge_buckets() -> None:
    edges = fg.activity_edges([0, 0, 0, 0, 0, 0, 0, 9])
    assert edges.tolist() == [0.0]
    assert fg.bucket_labels(edges) == ["≤0", ">0"]


def test_ndcg_by_bucket_is_the_session_mean_within_each_bucket() -> None:
    num, den = np.array([1.0, 3.0, 2.0, 2.0]), np.array([2.0, 4.0, 2.0, 4.0])
    out = fg.by_bucket(num, den, np.array([0, 0, 1, 1]), 2, np.random.default_rng(0), resamples=200)
    assert [iv.value for iv in out] == pytest.approx([4 / 6, 4 / 6])


def test_funnel_rates() -> None:
    rates = fg.funnel_rates([10, 5, 0, 0])
    assert rates[:2].tolist() == [0.5, 0.0] and np.isnan(rates[2])


def test_ratio_interval_is_the_session_mean_and_brackets_it() -> None:
    rng = np.random.default_rng(3)
    num, den = rng.random(300) * 4, rng.integers(1, 5, 300).astype(float)
    iv = ratio_interval(num, den, np.random.default_rng(1), resamples=500)
    assert iv.value == pytest.approx(num.sum() / den.sum())
    assert iv.lo < iv.value < iv.hi
    again = ratio_interval(num, den, np.random.default_rng(1), resamples=500)
    assert (again.lo, again.hi) == (iv.lo, iv.hi)  # seeded: the same interval


def test_a_constant_ratio_has_a_degenerate_interval() -> None:
    den = np.array([1.0, 2.0, 3.0, 4.0])
    iv = ratio_interval(0.5 * den, den, np.random.default_rng(0), resamples=200)
    assert (iv.value, iv.lo, iv.hi) == pytest.approx((0.5, 0.5, 0.5))


def test_pairing_removes_the_between_user_spread() -> None:
    rng = np.random.default_rng(7)
    den = rng.integers(1, 4, 200).astype(float)
    num_a = rng.random(200) * den
    num_b = num_a + 0.1 * den  # every user gains exactly 0.1 per session
    paired = paired_difference((num_a, den), (num_b, den), np.random.default_rng(0), resamples=300)
    assert (paired.value, paired.lo, paired.hi) == pytest.approx((0.1, 0.1, 0.1))
    unpaired = independent_difference((num_a, den), (num_b, den), np.random.default_rng(0), resamples=300)
    assert unpaired.value == pytest.approx(0.1)
    assert unpaired.lo < 0.1 - 0.01 and unpaired.hi > 0.1 + 0.01


def test_paired_difference_needs_the_same_units_and_aligned_finds_them() -> None:
    with pytest.raises(ValueError, match="same units"):
        paired_difference((np.ones(3), np.ones(3)), (np.ones(2), np.ones(2)), np.random.default_rng(0))
    ia, ib = aligned(np.array([5, 1, 9]), np.array([9, 2, 5]))
    assert ia.tolist() == [0, 2] and ib.tolist() == [2, 0]
