"""The amplification gate on tiny hand-built signal tables whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest, norm

from ranking.gate.decide import decide
from ranking.gate.reasons import Reason, sentence
from ranking.gate.settings import GateSettings
from ranking.gate.signals import HOUR_MS, POOL1, POOL2, PRIVATE, PROBE, GateState, PostSignals, wilson_bounds

NOW = 1_000 * HOUR_MS


def signals(n: int, **over: object) -> PostSignals:
    """n healthy posts of distinct shop accounts, published an hour ago, nothing observed yet."""
    base = dict(
        post_id=np.arange(n), account=np.arange(n), account_kind=np.zeros(n, np.int64),
        tier=np.ones(n, np.int64), tier_state=np.ones(n, np.int64), preferred=np.zeros(n, bool),
        account_created_ms=np.full(n, NOW - 400 * 24 * HOUR_MS), created_ms=np.full(n, NOW - HOUR_MS),
        fan_imp=np.zeros(n), fan_eng=np.zeros(n), fan_baseline=np.full(n, 0.05),
        level_imp=np.zeros((n, 5)), level_eng=np.zeros((n, 5)), public_baseline=np.full(n, 0.02),
        lockstep=np.zeros(n), amplifier=np.full(n, np.nan))
    base.update(over)
    return PostSignals(**base)  # type: ignore[arg-type]


def test_wilson_bounds_match_the_textbook() -> None:
    lo, hi = wilson_bounds(np.array([5.0, 0.0]), np.array([50.0, 0.0]), float(norm.ppf(0.975)))
    ci = binomtest(5, 50).proportion_ci(confidence_level=0.95, method="wilson")
    assert lo[0] == pytest.approx(ci.low) and hi[0] == pytest.approx(ci.high)
    assert (lo[1], hi[1]) == (0.0, 1.0)


def test_strong_fan_signal_earns_the_probe_and_weak_one_does_not() -> None:
    s = GateSettings()
    sig = signals(3, fan_imp=np.array([100.0, 100.0, 3.0]), fan_eng=np.array([20.0, 1.0, 3.0]))
    state = GateState.empty(3)
    d = decide(state, sig, NOW, s)
    assert d.level.tolist() == [PROBE, PRIVATE, PRIVATE]
    assert [Reason(r) for r in d.reason] == [Reason.PROBED, Reason.FAN_SIGNAL_LOW, Reason.NEED_FAN_IMPRESSIONS]
    assert state.probed.tolist() == [True, False, False]


def test_probe_promotes_on_public_signal_and_ends_on_a_weak_one() -> None:
    s = GateSettings()
    imp = np.zeros((3, 5))
    eng = np.zeros((3, 5))
    imp[:, PROBE] = [s.min_probe_impressions, s.max_probe_impressions, s.min_probe_impressions - 1]
    eng[:, PROBE] = [0.1 * s.min_probe_impressions, 0.0, 50.0]
    state = GateState.empty(3)
    state.level[:] = PROBE
    d = decide(state, signals(3, level_imp=imp, level_eng=eng), NOW, s)
    assert d.level.tolist() == [POOL1, PRIVATE, PROBE]
    assert [Reason(r) for r in d.reason] == [Reason.PROMOTED, Reason.PROBE_ENDED, Reason.NEED_PROBE_IMPRESSIONS]
    assert state.first_public_ms[0] == NOW and state.first_public_ms[1] > NOW


def test_public_posts_move_up_and_down_with_their_pool_engagement() -> None:
    s = GateSettings(pools=3)
    imp = np.zeros((2, 5))
    eng = np.zeros((2, 5))
    imp[:, POOL1] = 1000
    eng[:, POOL1] = [100, 2]  # 10 % vs a 2 % baseline; 0.2 %
    state = GateState.empty(2)
    state.level[:] = POOL1
    d = decide(state, signals(2, level_imp=imp, level_eng=eng), NOW, s)
    assert d.level.tolist() == [POOL2, PRIVATE]
    assert [Reason(r) for r in d.reason] == [Reason.PROMOTED, Reason.DEMOTED]


def test_h1_farms_old_and_unknown_posts_never_go_public() -> None:
    s = GateSettings()
    strong = dict(fan_imp=np.full(4, 500.0), fan_eng=np.full(4, 200.0))
    sig = signals(4, tier=np.array([4, 1, 1, -1]), lockstep=np.array([0.0, 0.9, 0.0, 0.0]),
                  created_ms=np.array([NOW, NOW, NOW - 100 * HOUR_MS, NOW]), **strong)
    state = GateState.empty(4)
    state.level[:] = POOL1  # even when already public, they fall back (fail closed)
    d = decide(state, sig, NOW, s)
    assert d.level.tolist() == [PRIVATE] * 4
    assert [Reason(r) for r in d.reason] == [Reason.H1, Reason.LOCKSTEP, Reason.TOO_OLD, Reason.MISSING_DATA]


def test_probe_capacity_reserves_a_floor_for_new_creators() -> None:
    s = GateSettings(probe_per_hour=5, new_creator_probe_share=0.4)
    n = 10
    created = np.where(np.arange(n) < 2, NOW - 5 * 24 * HOUR_MS, NOW - 400 * 24 * HOUR_MS)
    # established accounts have the stronger fan signal; the two new creators are weaker but qualify
    eng = np.where(np.arange(n) < 2, 6.0, 30.0)
    sig = signals(n, account_created_ms=created, fan_imp=np.full(n, 60.0), fan_eng=eng)
    d = decide(GateState.empty(n), sig, NOW, s)
    probed = np.flatnonzero(d.level == PROBE)
    assert len(probed) == 5 and {0, 1} <= set(probed.tolist())
    assert Reason.PROBE_FULL in set(d.reason.tolist())


def test_preferred_shops_signal_weighs_twenty_percent_more() -> None:
    s = GateSettings()
    # a fan rate just below what is needed: the preferred weight lifts it over the bar
    lcb, _ = wilson_bounds(np.array([55.0]), np.array([2000.0]), s.z)
    base = lcb[0] / (0.95 * s.fan_lift_to_probe)  # unweighted lift 0.95 of the bar; ×1.2 clears it
    sig = signals(2, fan_imp=np.full(2, 2000.0), fan_eng=np.full(2, 55.0), preferred=np.array([True, False]),
                  fan_baseline=np.full(2, base))
    d = decide(GateState.empty(2), sig, NOW, s)
    assert d.level.tolist() == [PROBE, PRIVATE]


def test_author_cap_holds_across_the_public_pools() -> None:
    s = GateSettings(author_cap=1)
    imp = np.zeros((2, 5))
    eng = np.zeros((2, 5))
    imp[:, PROBE] = s.min_probe_impressions
    eng[:, PROBE] = 0.2 * s.min_probe_impressions
    state = GateState.empty(2)
    state.level[:] = PROBE
    d = decide(state, signals(2, account=np.array([7, 7]), level_imp=imp, level_eng=eng), NOW, s)
    assert sorted(d.level.tolist()) == [PROBE, POOL1]
    assert Reason.POOL_FULL in set(d.reason.tolist())


def test_every_reason_renders_as_a_sentence() -> None:
    numbers = dict(max_age=48, lockstep=0.5, lockstep_max=0.3, fan_imp=3, need=20, fan_rate=0.01, fan_lcb=0.005,
                   need_rate=0.02, probe_imp=10, pub_rate=0.01, pub_lcb=0.008, amplifier=-0.2, level="pool 1",
                   baseline=0.02, cap=2, pub_ucb=0.01)
    for reason in Reason:
        text = sentence(reason, **numbers)
        assert text and "{" not in text


def _one_probe_slot(**over: object) -> list[int]:
    """Four equally strong posts compete for one probe slot; the levels after the pass."""
    s = GateSettings(probe_per_hour=1, new_creator_probe_share=0.0)
    sig = signals(4, fan_imp=np.full(4, 200.0), fan_eng=np.full(4, 40.0), **over)
    return decide(GateState.empty(4), sig, NOW, s).level.tolist()


def test_tier_state_rewards_and_offsite_traffic_shape_the_probe_budget() -> None:
    assert _one_probe_slot() == [PROBE, PRIVATE, PRIVATE, PRIVATE]  # a tie goes to the first
    assert _one_probe_slot(tier_state=np.array([0, 1, 1, 2])) == [PRIVATE, PRIVATE, PRIVATE, PROBE]
    assert _one_probe_slot(reward=np.array([1.0, 1.0, 1.2, np.nan])) == [PRIVATE, PRIVATE, PROBE, PRIVATE]
    assert _one_probe_slot(offsite_share=np.array([0.0, 0.6, 0.0, 0.3])) == [PRIVATE, PROBE, PRIVATE, PRIVATE]
    # with the appeal posterior, the traffic inputs still weigh in (the tier state does not: see decide)
    bayes = {"appeal_mean": np.full(4, 3.0), "appeal_sd": np.full(4, 0.1)}
    assert _one_probe_slot(reward=np.array([1.0, 1.25, 1.0, 1.0]), **bayes) == [PRIVATE, PROBE, PRIVATE, PRIVATE]
    assert _one_probe_slot(tier_state=np.array([0, 1, 1, 2]), **bayes) == [PROBE, PRIVATE, PRIVATE, PRIVATE]
