"""The appeal posterior, the lockstep detector and the gate's posterior path, on constructed cases."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.gate.appeal import ChannelStats, fit, posterior, prob_top
from ranking.gate.decide import decide
from ranking.gate.lockstep import LockstepDetector
from ranking.gate.reasons import Reason
from ranking.gate.settings import GateSettings
from ranking.gate.signals import HOUR_MS, POOL1, PRIVATE, PROBE, GateState
from tests.ranking.test_gate import NOW, signals


def one_factor_posts(n: int, rng: np.random.Generator) -> tuple[ChannelStats, np.ndarray]:
    """Posts whose dwell and click rate follow a latent appeal ``a`` with known loadings 0.3 and 0.7."""
    a = rng.standard_normal(n)
    exam = np.full(n, 400.0)
    clicks = rng.poisson(exam * np.exp(-3.0 + 0.7 * a)).astype(float)
    fan_clicks = np.full(n, 60.0)
    reads = [rng.normal(2.5 + 0.3 * x, 0.6, int(c)) for x, c in zip(a, clicks, strict=True)]
    log_dwell = np.array([r.sum() for r in reads])
    sq = np.array([(r ** 2).sum() for r in reads])
    fan = rng.normal(2.5 + 0.2 * (0.6 * a + 0.8 * rng.standard_normal(n)), 0.6 / np.sqrt(60)) * fan_clicks
    return ChannelStats(exam, clicks, log_dwell, sq, fan_clicks, fan), a


def test_fit_recovers_the_loadings_of_a_one_factor_population() -> None:
    st, a = one_factor_posts(3000, np.random.default_rng(0))
    model = fit(st)
    assert model.posts > 2000
    assert model.loading[0] == pytest.approx(0.3, abs=0.05)
    assert model.loading[1] == pytest.approx(0.7, abs=0.1)
    mean, sd = posterior(st, model)
    assert np.corrcoef(mean, a)[0, 1] > 0.8
    top = prob_top(mean, sd, 0.9) > 0.5
    assert np.mean(a[top] > 1.2816) > 0.6  # most posts the posterior calls top decile are


def test_posterior_ranks_longer_reads_higher_and_knows_what_it_has_not_seen() -> None:
    st, _ = one_factor_posts(500, np.random.default_rng(1))
    model = fit(st)
    two = ChannelStats(np.array([400.0, 400.0, 0.0]), np.array([20.0, 20.0, 0.0]),
                       np.array([20 * 3.2, 20 * 2.3, 0.0]), np.zeros(3), np.zeros(3), np.zeros(3))
    mean, sd = posterior(two, model)
    assert mean[0] > mean[1]
    assert (mean[2], sd[2]) == (0.0, 1.0)  # nothing observed: the population prior


def test_lockstep_flags_a_group_that_keeps_acting_together_and_not_a_crowd() -> None:
    rng = np.random.default_rng(2)
    farm = np.arange(100, 120)
    users, posts, times = [], [], []
    for post in range(5):  # the farm hits five posts, members 2 s apart
        users.append(farm)
        posts.append(np.full(len(farm), post))
        times.append(post * HOUR_MS + 2000 * np.arange(len(farm)))
    for post in range(5, 40):  # ordinary users: a few random engagers per post, minutes apart
        u = rng.choice(5000, 6, replace=False) + 1000
        users.append(u)
        posts.append(np.full(6, post))
        times.append(post * HOUR_MS + np.sort(rng.integers(0, 3_600_000, 6)))
    det = LockstepDetector(window_ms=10_000, min_posts=3)
    det.add(np.concatenate(users), np.concatenate(posts), np.concatenate(times))
    assert set(det.flagged.tolist()) == set(farm.tolist())
    share = det.shares(40)
    assert share[:5].tolist() == [1.0] * 5 and share[5:].max() == 0.0


def test_the_posterior_promotes_ends_and_holds_probes() -> None:
    s = GateSettings()
    imp = np.zeros((3, 5))
    imp[:, PROBE] = s.min_probe_impressions
    state = GateState.empty(3)
    state.level[:] = PROBE
    sig = signals(3, level_imp=imp, appeal_mean=np.array([2.5, -1.0, 1.28]), appeal_sd=np.array([0.2, 0.2, 0.3]))
    d = decide(state, sig, NOW, s)
    assert d.level.tolist() == [POOL1, PRIVATE, PROBE]
    assert [Reason(r) for r in d.reason] == [Reason.PROMOTED, Reason.PROBE_ENDED, Reason.PUBLIC_SIGNAL_LOW]


def test_the_fan_posterior_decides_who_is_probed() -> None:
    s = GateSettings()
    fan_imp = np.full(2, 100.0)
    sig = signals(2, fan_imp=fan_imp, fan_eng=np.array([1.0, 1.0]), appeal_mean=np.array([1.0, -2.0]),
                  appeal_sd=np.array([0.8, 0.8]))
    d = decide(GateState.empty(2), sig, NOW, s)
    assert d.level.tolist() == [PROBE, PRIVATE]  # weak fan rate, but the posterior still gives it a chance
    assert Reason(d.reason[1]) == Reason.FAN_SIGNAL_LOW


def test_selection_offset_lowers_the_bar_of_a_population_chosen_from_the_better_posts() -> None:
    from ranking.gate.appeal import selection_offset

    assert selection_offset(1.0, 0.9) == pytest.approx(0.0)
    # Half the posts hold the whole top decile: it is their top fifth, whose bar is Φ⁻¹(0.8) = 0.8416.
    assert selection_offset(0.5, 0.9) == pytest.approx(1.2816 - 0.8416, abs=1e-3)
    assert selection_offset(0.01, 0.9) == pytest.approx(1.2816, abs=1e-3)  # never call over half of it top


def test_click_offsets_remove_a_format_click_habit_but_keep_its_appeal() -> None:
    from ranking.gate.appeal import click_offsets

    rng = np.random.default_rng(3)
    n = 4000
    fmt = rng.integers(0, 2, n)
    a = rng.standard_normal(n) + 0.5 * fmt  # format 1 has more appeal (+0.5) and a click habit (+0.6 log rate)
    exam = np.full(n, 2000.0)
    clicks = rng.poisson(exam * np.exp(-3.0 + 0.7 * a + 0.6 * fmt)).astype(float)
    log_dwell = rng.normal((2.5 + 0.3 * a) * clicks, 0.6 * np.sqrt(np.maximum(clicks, 1)))
    fan_clicks = np.full(n, 60.0)
    fan = rng.normal(2.5 + 0.2 * a, 0.1) * fan_clicks
    st = ChannelStats(exam, clicks, log_dwell, np.zeros(n), fan_clicks, fan)
    offsets = click_offsets(st, np.eye(2)[fmt], np.ones(n, bool), ridge=1.0)
    habit = offsets[fmt == 1].mean() - offsets[fmt == 0].mean()
    assert habit == pytest.approx(0.6, abs=0.12)  # the habit, not the 0.6 + 0.35 raw difference


def test_fdr_threshold_spends_the_slack_of_sure_promotions() -> None:
    from ranking.gate.decide import fdr_threshold

    assert fdr_threshold(np.array([]), 0.1, 0.5) == pytest.approx(0.9)
    assert fdr_threshold(np.array([1.0, 1.0]), 0.1, 0.5) == pytest.approx(0.7)
    assert fdr_threshold(np.array([0.9] * 5), 0.1, 0.5) == pytest.approx(0.9)
    assert fdr_threshold(np.array([1.0] * 20), 0.1, 0.6) == 0.6  # never below the floor
    assert fdr_threshold(np.array([0.5] * 3), 0.1, 0.6) == 1.0  # over budget: nothing more


def test_new_creators_leave_the_probe_on_a_weaker_posterior() -> None:
    s = GateSettings(new_creator_promote_probability=0.6)
    imp = np.zeros((2, 5))
    imp[:, PROBE] = s.min_probe_impressions
    # P(top decile) ≈ 0.7 for both: between the new creators' bar and everyone else's.
    mean = np.full(2, 1.2816 + 0.5244 * 0.3)
    created = np.array([NOW - 5 * 24 * HOUR_MS, NOW - 400 * 24 * HOUR_MS])  # a new creator, an old account
    for floor, expected in ((s.new_creator_promote_probability, [POOL1, PROBE]), (1.0, [PROBE, PROBE])):
        state = GateState.empty(2)
        state.level[:] = PROBE
        sig = signals(2, level_imp=imp, appeal_mean=mean, appeal_sd=np.full(2, 0.3), account_created_ms=created)
        d = decide(state, sig, NOW, s.model_copy(update={"new_creator_promote_probability": floor}))
        assert d.level.tolist() == expected
