"""Group AUC, log loss, calibration, coverage/Gini/Lorenz, new-creator shares and amplification figures."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from experiments.metrics import (
    amplification_precision,
    calibration_bins,
    catalogue_coverage,
    expected_calibration_error,
    exposure_gini,
    group_auc,
    hours_to_amplify,
    log_loss,
    lorenz_curve,
    median_hours_to_amplify,
    new_creator_ratio,
    new_creator_share,
    truly_good_mask,
)

# --- group AUC ------------------------------------------------------------------------------------


def test_group_auc_hand_worked() -> None:
    # A: labels [1, 0, 0], scores [.8, .8, .1]: the positive ties one negative (1/2) and beats the other (1)
    #    -> AUC 0.75 over 3 impressions. B: [0, 1], [.3, .2] -> AUC 0 over 2. C: all positive -> skipped.
    # Weighted by size: (3 * 0.75 + 2 * 0) / 5 = 0.45.
    groups = np.array(["A", "A", "A", "B", "B", "C", "C"])
    labels = np.array([1, 0, 0, 0, 1, 1, 1])
    scores = np.array([0.8, 0.8, 0.1, 0.3, 0.2, 0.5, 0.9])
    assert group_auc(groups, labels, scores) == pytest.approx(0.45)


def test_group_auc_matches_sklearn_per_group() -> None:
    rng = np.random.default_rng(11)
    n = 3000
    groups = rng.integers(0, 60, n)
    labels = (rng.random(n) < 0.3).astype(int)
    scores = np.round(rng.random(n) + 0.3 * labels, 1)  # rounding makes many ties
    labels[groups == 0] = 0  # one single-class group, skipped
    total, weight = 0.0, 0
    for g in np.unique(groups):
        y, s = labels[groups == g], scores[groups == g]
        if 0 < y.sum() < len(y):
            total += roc_auc_score(y, s) * len(y)
            weight += len(y)
    assert group_auc(groups, labels, scores) == pytest.approx(total / weight, rel=1e-12)


def test_group_auc_without_two_class_groups_is_nan() -> None:
    assert math.isnan(group_auc(np.array([1, 1, 2]), np.array([1, 1, 0]), np.array([0.1, 0.2, 0.3])))
    with pytest.raises(ValueError, match=r"scores: length 2 != groups length 3"):
        group_auc(np.array([1, 1, 2]), np.array([1, 0, 0]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match=r"labels: labels must be 0 or 1"):
        group_auc(np.array([1, 1]), np.array([2, 0]), np.array([0.1, 0.2]))


# --- log loss -------------------------------------------------------------------------------------


def test_log_loss_hand_worked_and_sklearn() -> None:
    # -(ln 0.8 + ln(1 - 0.4)) / 2
    expected = -(math.log(0.8) + math.log(0.6)) / 2
    assert log_loss(np.array([1, 0]), np.array([0.8, 0.4])) == pytest.approx(expected)
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 500)
    probs = rng.uniform(0.01, 0.99, 500)
    assert log_loss(labels, probs) == pytest.approx(sk_log_loss(labels, probs), rel=1e-12)


def test_log_loss_clipping() -> None:
    labels, probs = np.array([1, 0, 1, 0]), np.array([0.0, 1.0, 1.0, 0.0])
    # Two confident misses clipped at eps, two confident hits ~0: mean = -2 ln(eps) / 4.
    assert log_loss(labels, probs) == pytest.approx(-math.log(1e-15) / 2)
    eps = float(np.finfo(np.float64).eps)  # the clip of scikit-learn >= 1.5
    reference = sk_log_loss(labels, probs, labels=[0, 1])
    assert log_loss(labels, probs, eps=eps) == pytest.approx(reference, rel=1e-12)
    with pytest.raises(ValueError, match=r"probs: probabilities must lie in \[0, 1\]"):
        log_loss(np.array([1]), np.array([1.2]))
    with pytest.raises(ValueError, match=r"probs: length 1 != labels length 2"):
        log_loss(np.array([1, 0]), np.array([0.5]))


# --- calibration ----------------------------------------------------------------------------------


def test_ece_hand_worked_right_closed_bins() -> None:
    # 2 uniform bins [0, .5] and (.5, 1]; 0.5 falls in the first bin.
    # bin 0: probs .2 .4 .5 (mean .3667), labels 0 0 1 (mean .3333) -> gap .0333, weight 3/5
    # bin 1: probs .7 .9 (mean .8), labels 1 1 (mean 1) -> gap .2, weight 2/5
    # ECE = .6 * .0333 + .4 * .2 = 0.10  (with 0.5 in bin 1 it would be .4 * .3 + .6 * .3 = 0.30)
    labels = np.array([0, 0, 1, 1, 1])
    probs = np.array([0.2, 0.4, 0.5, 0.7, 0.9])
    assert expected_calibration_error(labels, probs, n_bins=2) == pytest.approx(0.10)
    _, _, count = calibration_bins(np.array([0, 1, 0]), np.array([0.0, 0.1, 0.1000001]))
    assert count[:2].tolist() == [2, 1]  # 0 and 0.1 in bin 0, just above 0.1 in bin 1


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_calibration_bins_match_sklearn_calibration_curve(strategy: str) -> None:
    rng = np.random.default_rng(5)
    probs = np.round(rng.beta(2, 5, 2000), 2)  # rounding puts probabilities on bin edges
    labels = (rng.random(2000) < probs).astype(int)
    mean_label, mean_prob, count = calibration_bins(labels, probs, n_bins=8, strategy=strategy)
    prob_true, prob_pred = calibration_curve(labels, probs, n_bins=8, strategy=strategy)
    filled = count > 0
    np.testing.assert_allclose(mean_label[filled], prob_true, rtol=1e-12)
    np.testing.assert_allclose(mean_prob[filled], prob_pred, rtol=1e-12)
    if strategy == "uniform":  # independent count with the documented rule: (lo, hi], first bin with 0
        edges = np.linspace(0, 1, 9)
        expected = [np.sum((probs > lo) & (probs <= hi)) for lo, hi in itertools.pairwise(edges)]
        expected[0] += int(np.sum(probs == 0))
        assert count.tolist() == expected
    ece = np.sum(count[filled] * np.abs(prob_true - prob_pred)) / len(probs)
    assert expected_calibration_error(labels, probs, n_bins=8, strategy=strategy) == pytest.approx(ece)


def test_ece_validation() -> None:
    with pytest.raises(ValueError, match=r"^n_bins: "):
        expected_calibration_error(np.array([1]), np.array([0.5]), n_bins=0)
    with pytest.raises(ValueError, match=r"^strategy: "):
        expected_calibration_error(np.array([1]), np.array([0.5]), strategy="kmeans")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"probs: probabilities must lie in \[0, 1\]"):
        expected_calibration_error(np.array([1]), np.array([-0.1]))


# --- coverage, Gini, Lorenz -----------------------------------------------------------------------


def test_catalogue_coverage() -> None:
    assert catalogue_coverage(np.array([1, 1, 2, 5]), 10) == pytest.approx(0.3)  # {1, 2, 5} / 10
    assert catalogue_coverage(np.array([], dtype=int), 10) == 0.0
    with pytest.raises(ValueError, match=r"^catalogue_size: "):
        catalogue_coverage(np.array([1, 2, 3]), 2)
    with pytest.raises(ValueError, match=r"^catalogue_size: "):
        catalogue_coverage(np.array([1]), 0)


def test_gini_hand_worked() -> None:
    # [1, 2, 3, 4]: 2 * (1 + 4 + 9 + 16) / (4 * 10) - 5/4 = 0.25
    #  = sum_ij |xi - xj| / (2 n^2 mean) = 20 / 80.
    assert exposure_gini(np.array([4, 1, 3, 2])) == pytest.approx(0.25)
    assert exposure_gini(np.array([0, 0, 0, 9])) == pytest.approx(0.75)  # all to one of 4: 1 - 1/4
    assert exposure_gini(np.array([3, 3, 3])) == pytest.approx(0.0)
    assert exposure_gini(np.zeros(5)) == 0.0
    with pytest.raises(ValueError, match=r"exposure_counts: must be finite and >= 0"):
        exposure_gini(np.array([1.0, -1.0]))


def test_gini_matches_pairwise_formula_and_lorenz_area() -> None:
    x = np.random.default_rng(9).pareto(1.5, 300)
    pairwise = np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean())
    assert exposure_gini(x) == pytest.approx(pairwise, rel=1e-10)
    pop, share = lorenz_curve(x)
    area = np.sum(np.diff(pop) * (share[1:] + share[:-1]) / 2)
    assert exposure_gini(x) == pytest.approx(1 - 2 * area, rel=1e-10)


def test_lorenz_curve() -> None:
    pop, share = lorenz_curve(np.array([3, 1]))
    np.testing.assert_allclose(pop, [0, 0.5, 1])
    np.testing.assert_allclose(share, [0, 0.25, 1])
    pop, share = lorenz_curve(np.zeros(4))
    np.testing.assert_allclose(share, pop)


# --- new creators ---------------------------------------------------------------------------------


def test_new_creator_share_and_ratio() -> None:
    amplified = np.array([True, False, False, True])  # share 1/2
    good = np.array([True, False, False, False, False])  # share 1/5
    assert new_creator_share(amplified) == pytest.approx(0.5)
    assert new_creator_ratio(amplified, good) == pytest.approx(2.5)  # (1/2) / (1/5)
    assert math.isnan(new_creator_ratio(amplified, np.zeros(3, dtype=bool)))
    assert math.isnan(new_creator_share(np.array([], dtype=bool)))
    assert new_creator_share(np.array([1, 0, 0, 0])) == pytest.approx(0.25)


# --- amplification ----------------------------------------------------------------------------------


def test_amplification_precision() -> None:
    # distinct amplified {1, 2, 3, 4}; truly good among them {2, 4} -> 2/4
    assert amplification_precision(np.array([1, 2, 2, 3, 4]), np.array([2, 4, 7])) == pytest.approx(0.5)
    assert amplification_precision(np.array(["a", "b"]), np.array(["b"])) == pytest.approx(0.5)
    assert math.isnan(amplification_precision(np.array([], dtype=int), np.array([1])))
    with pytest.raises(ValueError, match=r"truly_good_post_ids: dtype"):
        amplification_precision(np.array([1]), np.array(["1"]))


def test_truly_good_mask() -> None:
    appeal = np.arange(30.0)[::-1]
    mask = truly_good_mask(appeal)  # top decile of 30: 3 posts
    assert mask.sum() == 3 and set(appeal[mask]) == {27.0, 28.0, 29.0}
    # 0.07 * 100 evaluates to 7.000000000000001: still 7 posts, not ceil(...) = 8
    assert truly_good_mask(np.arange(100.0), top_fraction=0.07).sum() == 7
    assert truly_good_mask(np.arange(25.0)).sum() == 3  # ceil(2.5)
    ties = np.array([5.0, 5.0, 5.0, 1, 1, 1, 1, 1, 1, 1])
    assert truly_good_mask(ties).tolist() == [True] * 3 + [False] * 7  # top 1 of 10, ties at 5 included
    assert truly_good_mask(np.array([1.0, 2.0]), top_fraction=1.0).all()
    with pytest.raises(ValueError, match=r"^top_fraction: "):
        truly_good_mask(appeal, top_fraction=0.0)


def test_hours_to_amplify_and_median() -> None:
    publish = np.array([0.0, 10.0, 5.0])
    amplified = np.array([2.0, np.nan, 5.0])
    np.testing.assert_array_equal(hours_to_amplify(publish, amplified), [2.0, np.inf, 0.0])
    assert median_hours_to_amplify(publish, amplified) == 2.0  # median of [0, 2, inf]
    assert median_hours_to_amplify(np.zeros(4), np.array([1.0, 2.0, 3.0, np.nan])) == 2.5  # [1, 2, 3, inf]
    assert median_hours_to_amplify(np.zeros(4), np.array([1.0, 2.0, np.nan, np.nan])) == math.inf
    assert median_hours_to_amplify(np.zeros(3), np.array([1.0, np.nan, np.nan])) == math.inf
    with pytest.raises(ValueError, match=r"amplified_time_h: earlier than publish_time_h"):
        hours_to_amplify(np.array([5.0]), np.array([4.0]))
    with pytest.raises(ValueError, match=r"amplified_time_h: length 1 != publish_time_h length 2"):
        hours_to_amplify(np.array([1.0, 2.0]), np.array([3.0]))
