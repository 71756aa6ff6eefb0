"""Off-policy estimators on logs small enough to check by hand, and on a synthetic bandit with a known value."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.closed_loop import prepare_world
from experiments.ope.estimators import (
    Factual,
    bootstrap_interval,
    check_logged,
    estimate,
    estimate_all,
    factual,
    round_rewards,
)
from experiments.ope.reward import CrossFitted, fold_ids, q_hat_by_action
from experiments.ope.sim import Shadow, evaluate_in_world, logged_factual, served
from experiments.policies import Chronological, LoggingPolicy
from experiments.settings import SimulatorSettings

# Four rows, two actions, two positions; the evaluation policy is the same for every row:
# position 0 → (0.8, 0.2), position 1 → (0.4, 0.6).
REWARD = np.array([1.0, 0.0, 1.0, 0.0])
ACTION = np.array([0, 1, 1, 0])
POSITION = np.array([0, 0, 1, 1])
PSCORE = np.array([0.5, 0.25, 0.5, 0.8])
PI = np.array([[0.8, 0.4], [0.2, 0.6]])  # [action, position]
Q = np.array([[0.5, 0.3], [0.1, 0.2]])  # q̂[action, position]


def _tiny(q: np.ndarray | None = Q) -> Factual:
    dist = np.broadcast_to(PI, (4, 2, 2)).copy()
    q_hat = None if q is None else np.broadcast_to(q, (4, 2, 2)).copy()
    return factual(REWARD, ACTION, POSITION, PSCORE, dist, q_hat)


def test_known_answers_on_four_rows() -> None:
    data = _tiny()
    # π_e at the logged (action, position): 0.8, 0.2, 0.6, 0.4 → weights 1.6, 0.8, 1.2, 0.5
    np.testing.assert_allclose(data.weight, [1.6, 0.8, 1.2, 0.5])
    assert round_rewards("ipw", data).mean() == pytest.approx((1.6 + 1.2) / 4)  # 0.7
    assert round_rewards("snipw", data).mean() == pytest.approx(0.7 / (4.1 / 4))  # 28/41
    # DR: Σ_a π_e q̂ is 0.42 at position 0 and 0.24 at position 1; the corrections are
    # 1.6·(1−0.5), 0.8·(0−0.1), 1.2·(1−0.2), 0.5·(0−0.3)
    np.testing.assert_allclose(round_rewards("dr", data), [1.22, 0.34, 1.20, 0.09])
    assert round_rewards("dr", data).mean() == pytest.approx(0.7125)


def test_dr_with_a_zero_reward_model_is_ipw() -> None:
    data = _tiny(np.zeros((2, 2)))
    np.testing.assert_array_equal(round_rewards("dr", data), round_rewards("ipw", data))


def test_snipw_equals_ipw_when_weights_average_one() -> None:
    # weights 2, 0.5, 0.5, 1 (mean 1): self-normalising changes nothing
    data = Factual(np.array([1.0, 1.0, 0.0, 1.0]), np.array([0.25, 0.8, 0.4, 0.3]), np.array([0.5, 0.4, 0.2, 0.3]))
    assert data.weight.mean() == pytest.approx(1.0)
    np.testing.assert_allclose(round_rewards("snipw", data), round_rewards("ipw", data))


def test_on_policy_weights_give_the_mean_reward() -> None:
    data = Factual(REWARD, PSCORE, PSCORE.copy(), np.full(4, 0.3), np.full(4, 0.3))
    values = {name: e.value for name, e in estimate_all(data, np.random.default_rng(0)).items()}
    assert values == pytest.approx({"ipw": 0.5, "snipw": 0.5, "dr": 0.5})


def _synthetic(rng: np.random.Generator, n: int) -> tuple[Factual, float, np.ndarray]:
    """A 5-action bandit: logging policy π_b, click rates q, evaluation policy π_e; truth Σ π_e q."""
    pi_b = np.array([0.4, 0.3, 0.15, 0.1, 0.05])
    pi_e = np.array([0.05, 0.1, 0.15, 0.3, 0.4])
    q = np.array([0.02, 0.05, 0.1, 0.2, 0.3])
    action = rng.choice(5, size=n, p=pi_b)
    reward = (rng.random(n) < q[action]).astype(np.float64)
    dist = np.broadcast_to(pi_e[None, :, None], (n, 5, 1))
    wrong_q = np.broadcast_to(np.full(5, 0.5)[None, :, None], (n, 5, 1))  # a bad model: DR must stay unbiased
    data = factual(reward, action, np.zeros(n, np.int64), pi_b[action], dist, wrong_q)
    return data, float(pi_e @ q), reward


def test_estimates_cover_the_known_value_of_a_synthetic_bandit() -> None:
    data, truth, reward = _synthetic(np.random.default_rng(42), 100_000)
    assert truth == pytest.approx(0.201)
    assert reward.mean() < 0.1  # the logging policy's own value is far from the truth
    for name, e in estimate_all(data, np.random.default_rng(1), n_bootstrap_samples=200).items():
        assert e.ci_low <= truth <= e.ci_high, (name, e)
        assert e.ci_low <= e.value <= e.ci_high, (name, e)
        assert e.value == pytest.approx(truth, abs=0.01), name


def test_ipw_is_unbiased_over_replications() -> None:
    rng = np.random.default_rng(7)
    values = [round_rewards("ipw", _synthetic(rng, 2_000)[0]).mean() for _ in range(200)]
    # the mean of 200 replications is within 3 standard errors of the truth
    assert abs(np.mean(values) - 0.201) < 3 * np.std(values) / np.sqrt(len(values))


def test_bootstrap_interval_is_the_percentiles_of_resampled_means() -> None:
    assert bootstrap_interval(np.full(50, 0.25), np.random.default_rng(0)) == (0.25, 0.25)
    samples = np.arange(10.0)
    rng, twin = np.random.default_rng(3), np.random.default_rng(3)
    means = [samples[twin.integers(0, 10, size=10)].mean() for _ in range(100)]
    assert bootstrap_interval(samples, rng) == (np.percentile(means, 2.5), np.percentile(means, 97.5))
    wide = estimate("ipw", _tiny(), np.random.default_rng(0), alpha=0.5)
    narrow = estimate("ipw", _tiny(), np.random.default_rng(0), alpha=0.01)
    assert narrow.ci_low <= wide.ci_low <= wide.ci_high <= narrow.ci_high


def test_estimators_share_the_bootstrap_draw() -> None:
    data = Factual(REWARD, PSCORE, PSCORE.copy())  # IPW and SNIPW terms are identical here
    got = estimate_all(data, np.random.default_rng(5))
    assert got["ipw"] == got["snipw"]


@pytest.mark.parametrize(("change", "field"), [
    ({"pscore": np.array([0.5, 0.0, 0.5, 0.8])}, "pscore"),
    ({"pscore": np.array([0.5, 0.25, 0.5])}, "pscore"),
    ({"reward": REWARD.reshape(2, 2)}, "reward"),
    ({"action": np.array([0, 1, 2, 0])}, "action"),
    ({"action": np.array([0.0, 1.0, 1.0, 0.0])}, "action"),
    ({"position": np.array([0, 0, 2, 1])}, "position"),
    ({"action_dist": np.full((4, 2, 2), 0.4)}, "action_dist"),
    ({"action_dist": np.full((4, 2), 0.5)}, "action_dist"),
    ({"q_hat": np.zeros((4, 2, 3))}, "q_hat"),
])
def test_bad_inputs_name_the_field(change: dict, field: str) -> None:
    args = {"reward": REWARD, "action": ACTION, "position": POSITION, "pscore": PSCORE,
            "action_dist": np.broadcast_to(PI, (4, 2, 2)), "q_hat": None} | change
    with pytest.raises(ValueError, match=f"^{field}"):
        check_logged(**args)


def test_factual_form_checks_too() -> None:
    with pytest.raises(ValueError, match=r"^pscore"):
        Factual(REWARD, np.array([0.5, -0.1, 0.5, 0.8]), PSCORE)
    with pytest.raises(ValueError, match=r"^pi_e"):
        Factual(REWARD, PSCORE, np.array([0.5, 1.5, 0.5, 0.8]))
    with pytest.raises(ValueError, match=r"^q_hat"):
        round_rewards("dr", Factual(REWARD, PSCORE, PSCORE))
    with pytest.raises(ValueError, match=r"^estimator"):
        round_rewards("dm", Factual(REWARD, PSCORE, PSCORE))


def test_folds_partition_the_rows() -> None:
    fold = fold_ids(10, 3, np.random.default_rng(0))
    assert sorted(np.bincount(fold).tolist()) == [3, 3, 4]
    with pytest.raises(ValueError, match=r"^n_folds"):
        fold_ids(2, 3, np.random.default_rng(0))


def test_reward_model_learns_and_is_cross_fitted() -> None:
    rng = np.random.default_rng(0)
    n, n_actions = 3_000, 3
    context = rng.normal(size=(n, 2))
    action = rng.integers(0, n_actions, n)
    position = rng.integers(0, 2, n)
    action_context = np.eye(n_actions)
    # clicks depend on the action only: 5 %, 20 %, 60 %
    reward = (rng.random(n) < np.array([0.05, 0.2, 0.6])[action]).astype(np.int64)
    q_hat = q_hat_by_action(context, action, reward, position, action_context, 2, "logistic",
                            np.random.default_rng(1))
    assert q_hat.shape == (n, n_actions, 2)
    np.testing.assert_allclose(q_hat.mean(axis=(0, 2)), [0.05, 0.2, 0.6], atol=0.03)
    # a row's own reward never informs its prediction (it is predicted by models of the other folds)
    flipped = reward.copy()
    flipped[17] = 1 - flipped[17]
    again = q_hat_by_action(context, action, flipped, position, action_context, 2, "logistic",
                            np.random.default_rng(1))
    np.testing.assert_array_equal(again[17], q_hat[17])
    assert not np.array_equal(again, q_hat)


def test_a_fold_with_one_reward_value_predicts_it() -> None:
    x = np.zeros((6, 1))
    model = CrossFitted("lightgbm", n_folds=2).fit(x, np.zeros(6), np.zeros(6, np.int64),
                                                   np.array([0, 1, 0, 1, 0, 1]), np.random.default_rng(0))
    np.testing.assert_array_equal(model.predict(x, np.zeros(6, np.int64), np.zeros(6, np.int64)), 0.0)


def test_shadow_of_the_logging_ranker_agrees_exactly_on_greedy_rows(sim_settings: SimulatorSettings) -> None:
    prep = prepare_world(sim_settings, "small", 5, 1)
    twin = prep.world.branch(1)
    shadow = Shadow(twin, LoggingPolicy(), Chronological())  # the logging policy ranks chronologically
    twin.run(shadow, 12, explore=0.2)
    log = served(twin)
    data = logged_factual(shadow, log, twin.page_size, "logistic", np.random.default_rng(0))
    # propensity = 0.8·[greedy page has the item there] + 0.2 / candidates: π_e is that bracket
    np.testing.assert_array_equal(data.pi_e == 1, log.propensity >= 0.8)
    assert 0 < (data.pi_e == 0).sum() < len(log.clicked) / 2
    assert data.q_factual is not None and np.all((data.q_factual >= 0) & (data.q_factual <= 1))
    np.testing.assert_array_equal(data.q_factual[data.pi_e == 1], data.q_policy[data.pi_e == 1])


def test_estimate_of_the_greedy_logging_ranker_matches_its_closed_loop_value(sim_settings: SimulatorSettings) -> None:
    result = evaluate_in_world(sim_settings, "small", 3, 1, "chronological", "logistic", 0.2,
                               np.random.default_rng(0))
    figures = result.as_json()
    for name in ("ipw", "snipw", "dr"):
        e = figures[name]
        assert e["ci_low"] <= result.truth <= e["ci_high"], (name, e, result.truth)
        assert abs(figures["relative_error"][name]) < 0.1, name
    assert figures["logged_value"] < result.truth  # exploration costs clicks: the estimate must undo that
