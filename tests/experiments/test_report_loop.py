"""Closed-loop detail for reports on the small world: the probe changes nothing, its per-user values add up to
the run's own figures, and a report folder round-trips and compares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments.closed_loop import LoopResult, Prepared, baseline_factory, oracle_factory, prepare_world, run_one
from experiments.reports.artifacts import ReportError, read_folder
from experiments.reports.compare import compare_reports, write_comparison
from experiments.reports.folder import write_report
from experiments.settings import SimulatorSettings
from experiments.world.events import ACTION, TARGET_POST, Events
from experiments.world.tables import truly_good_threshold


@pytest.fixture(scope="module")
def prep(sim_settings: SimulatorSettings) -> Prepared:
    return prepare_world(sim_settings, "small", 5, eval_days=2)


@pytest.fixture(scope="module")
def results(prep: Prepared) -> list[LoopResult]:
    return [run_one(prep, 0, "oracle", oracle_factory), run_one(prep, 1, "random", baseline_factory("random", 5))]


def test_the_probe_changes_nothing_the_world_sees(prep: Prepared, results: list[LoopResult]) -> None:
    twin = prep.world.branch(prep.seed * 7919 + 1)  # the branch seed run_one uses for index 1
    twin.metrics = {}
    twin.run(baseline_factory("random", 5)(twin, truly_good_threshold(prep.world)), prep.eval_days * 24)
    assert {s: m.summary() for s, m in twin.metrics.items()} == results[1].slots
    # The detail's exposure is every post impression of the run, by the post's account.
    ev = Events.concat(twin.parts)
    imp = (ev.action == ACTION["impression"]) & (ev.target_type == TARGET_POST)
    accounts = prep.world.pop.posts.account[ev.target[imp]]
    assert results[1].detail is not None
    assert np.array_equal(results[1].detail.exposure, np.bincount(accounts, minlength=len(results[1].detail.exposure)))


def test_per_user_sums_add_up_to_the_slot_figures(results: list[LoopResult]) -> None:
    for r in results:
        assert r.detail is not None
        for slot, figures in r.slots.items():
            u = r.detail.units[slot]
            assert u.sessions.sum() == figures["sessions"]
            assert u.ndcg.sum() / u.sessions.sum() == pytest.approx(figures["ndcg_at_10"])
            assert u.realised.sum() / u.sessions.sum() == pytest.approx(figures["realised_actions"])
            assert len(np.unique(u.user)) == len(u.user) and (u.activity >= 0).all()
    oracle = results[0].detail
    assert oracle is not None
    assert np.allclose(oracle.units["follow_feed"].ndcg, oracle.units["follow_feed"].sessions)  # oracle = 1


def test_funnel_exposure_and_coverage_agree_with_the_run(prep: Prepared, results: list[LoopResult]) -> None:
    for r in results:
        d = r.detail
        assert d is not None
        posts = prep.world.pop.posts
        published = np.sum(~posts.public & (posts.created_ms >= prep.window_start_ms))
        assert d.funnel[0] == published
        assert (np.diff(d.funnel) <= 0).all()  # a funnel only narrows
        assert d.funnel[2] == r.amplification["amplified"]  # public pool 1 = made public
        assert len(d.exposure) == len(prep.world.pop.accounts.kind) and 0 <= d.coverage <= 1
        assert 0 <= d.new_creator_share <= 1


def test_shown_sample_joins_observed_clicks(results: list[LoopResult]) -> None:
    d = results[1].detail
    assert d is not None
    sample = d.shown["follow_feed"]
    assert len(sample.score) > 100 and sample.clicked.any() and not sample.clicked.all()
    assert np.isnan(sample.p_click).all()  # a baseline has no model probabilities


def test_report_folder_round_trips_and_compares(results: list[LoopResult], tmp_path: Path) -> None:
    md, report = write_report(tmp_path / "a", [results], {"kind": "test"}, np.random.default_rng(0), resamples=200)
    text = md.read_text()
    for section in ("Per-slot metrics", "nDCG@10 by past actions", "Amplification funnel", "exposure Gini"):
        assert section in text
    for name in report["figures"]:
        assert (tmp_path / "a" / name).read_bytes()[:4] == b"\x89PNG"
    loaded, arrays = read_folder(tmp_path / "a")
    assert loaded["slots"]["follow_feed"]["oracle"]["ndcg_at_10"]["value"] == pytest.approx(1.0)
    assert arrays["follow_feed.random.unit"].dtype == np.int64
    diffs = compare_reports((loaded, arrays), (loaded, arrays), np.random.default_rng(0), resamples=200)
    nd = [d for d in diffs if d.metric == "ndcg_at_10" and d.slot == "follow_feed"]
    assert {d.policy for d in nd} == {"oracle", "random"}
    assert all(d.paired_users > 0 and d.diff.value == 0 and d.diff.lo == d.diff.hi == 0 for d in nd)
    out = write_comparison(tmp_path / "cmp", ("a", "a"), (loaded, arrays), (loaded, arrays), diffs)
    assert "paired" in out.read_text()
    with pytest.raises(ReportError, match=r"report\.json"):
        read_folder(tmp_path / "cmp")


def test_runs_on_different_worlds_compare_independently(results: list[LoopResult], sim_settings: SimulatorSettings,
                                                        tmp_path: Path) -> None:
    other = prepare_world(sim_settings, "small", 6, eval_days=2)
    theirs = [run_one(other, 0, "oracle", oracle_factory), run_one(other, 1, "random", baseline_factory("random", 6))]
    write_report(tmp_path / "a", [results], {}, np.random.default_rng(0), resamples=200)
    write_report(tmp_path / "b", [theirs], {}, np.random.default_rng(0), resamples=200)
    a, b = read_folder(tmp_path / "a"), read_folder(tmp_path / "b")
    diffs = compare_reports(a, b, np.random.default_rng(1), resamples=200)
    d = next(d for d in diffs if (d.slot, d.policy, d.metric) == ("follow_feed", "random", "ndcg_at_10"))
    assert d.paired_users == 0  # seed 5's users are not seed 6's
    assert d.diff.value == pytest.approx(theirs[1].slots["follow_feed"]["ndcg_at_10"]
                                         - results[1].slots["follow_feed"]["ndcg_at_10"])
    assert d.diff.lo < d.diff.value < d.diff.hi
