"""Seller insights on a hand-built world where every answer is known (see ``tests/serving/insights_world.py``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from features.settings import FeatureSettings
from ranking.gate.reasons import Reason
from ranking.gate.settings import GateSettings
from ranking.settings import RankingSettings
from ranking.tier_rules import H1, W1, W4
from ranking.tier_settings import TierSettings
from serving.data import ServiceData, load_service_data
from serving.insights import PeerCache, UnknownAccount, account_insights
from serving.insights.hours import best_probabilities, posting_hours
from serving.insights.tier import tier_progress
from serving.schemas import InsightsResponse
from tests.serving.insights_world import NOW, P10, P11, P12, P20, A, B, write_world


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> ServiceData:
    return load_service_data(write_world(tmp_path_factory.mktemp("insights") / "data"), FeatureSettings(),
                             RankingSettings())


@pytest.fixture(scope="module")
def body(tiny: ServiceData) -> dict:
    out = account_insights(tiny, GateSettings(), A, NOW, 20)
    InsightsResponse.model_validate(out)  # what the route declares
    return out


def test_link_funnel_counts_and_rates(body: dict) -> None:
    stages = {s["stage"]: s for s in body["funnel"]}
    assert [s["stage"] for s in body["funnel"]] == ["LEAD", "INTERLOCK", "ENGAGE", "KEEP"]
    assert stages["LEAD"]["count"] == 10  # six non-fan visits and four by fans
    assert stages["INTERLOCK"]["count"] == 2  # 150 and 151 followed after visiting
    assert stages["ENGAGE"]["count"] == 2  # fan 100's second and third visits
    assert stages["KEEP"]["count"] is None
    # declared rates: (num + 0) / (den + 1); KEEP: one repeat purchase of three
    assert stages["INTERLOCK"]["rate"] == pytest.approx(2 / 11, rel=1e-6)
    assert stages["ENGAGE"]["rate"] == pytest.approx(2 / 13, rel=1e-6)
    assert stages["KEEP"]["rate"] == pytest.approx(1 / 4, rel=1e-6)


def test_fan_revisit_rate_30d(body: dict) -> None:
    r = body["fan_revisit"]
    assert (r["fans"], r["fan_visits_30d"]) == (12, 4)
    assert r["rate_30d"] == pytest.approx(4 / 13, rel=1e-6)


def test_best_posting_hour_with_wilson_intervals(body: dict) -> None:
    h = body["posting_hours"]
    by_hour = {r["hour"]: r for r in h["hours"] if r["posts"]}
    assert set(by_hour) == {3, 9, 20} and h["posts_used"] == 4
    assert (by_hour[9]["fan_engagements"], by_hour[9]["fan_impressions"]) == (4, 200)
    assert by_hour[20]["rate"] == pytest.approx(0.10) and by_hour[3]["rate"] == 0.0
    for r in by_hour.values():  # the interval is Wilson's, as scipy computes it
        ci = stats.binomtest(int(r["fan_engagements"]), int(r["fan_impressions"])).proportion_ci(0.95, "wilson")
        assert (r["low"], r["high"]) == pytest.approx((ci.low, ci.high), abs=1e-6)
    assert h["best_hour"] == 20 and h["p_best"] > 0.8
    assert sum(r["p_best"] for r in h["hours"]) == pytest.approx(1.0)
    assert "20:00" in h["summary"]


def test_best_probabilities_agree_with_sampling_and_symmetry() -> None:
    eng, imp = np.array([3.0, 6.0, 0.0, 2.0]), np.array([100.0, 120.0, 0.0, 40.0])
    exact = best_probabilities(eng, imp)
    rng = np.random.default_rng(7)
    draws = rng.beta(1 + eng[[0, 1, 3]], 1 + imp[[0, 1, 3]] - eng[[0, 1, 3]], size=(200_000, 3))
    sampled = np.bincount(draws.argmax(axis=1), minlength=3) / len(draws)
    assert exact[2] == 0.0
    assert exact[[0, 1, 3]] == pytest.approx(sampled, abs=0.01)
    assert best_probabilities(np.array([5.0, 5.0]), np.array([100.0, 100.0])) == pytest.approx([0.5, 0.5], abs=1e-6)
    weak = best_probabilities(np.array([0.0, 1.0, 0.0]), np.array([3.0, 50.0, 400.0]), prior=(0.2, 99.8))
    assert np.isfinite(weak).all() and weak.sum() == pytest.approx(1.0)  # a prior below 1: density infinite at 0
    assert weak[1] > weak[2]


def test_an_hour_with_few_views_is_not_called_best_over_a_well_measured_good_one() -> None:
    hours = np.array([3, 20])
    h = posting_hours(hours, np.array([0.0, 10.0]), np.array([5.0, 100.0]), prior_rate=0.03)
    assert h["best_hour"] == 20
    none = posting_hours(hours, np.zeros(2), np.zeros(2), prior_rate=0.03)
    assert none["best_hour"] is None and "No fan impressions" in none["summary"]


def test_tier_progress_names_what_the_next_tier_needs(body: dict) -> None:
    t = body["tier_progress"]
    assert (t["tier"], t["state"], t["next_tier"]) == ("W2", "fair", "W3")
    fans = next(c for c in t["conditions"] if c["metric"] == "fans")
    assert (fans["need"], fans["have"], fans["met"], fans["for"]) == (100, 12, False, "W3 entry")
    assert "fans 12 of 100 needed" in t["summary"]
    activity = next(c for c in t["conditions"] if c["metric"] == "fan_activity")
    assert activity["have"] is None and activity["met"] is None  # only the monthly job measures it


def test_tier_thresholds_come_from_the_settings(tiny: ServiceData) -> None:
    settings = TierSettings(w2={"min_fans": 5}, w3={"min_fans": 10, "min_fan_interaction_rate": 0.003})
    t = account_insights(tiny, GateSettings(), A, NOW, 1, tiers=settings)["tier_progress"]
    assert next(c for c in t["conditions"] if c["metric"] == "fans")["met"] is True
    assert "conditions are met" in t["summary"]


def test_tier_progress_of_w1_w4_and_h1() -> None:
    figures = {"acct_followers": 30.0, "acct_fan_engagement_rate_30d": 0.01, "acct_fan_revisit_rate_30d": 0.001}
    w1 = tier_progress(W1, None, figures, TierSettings())
    assert w1["next_tier"] == "W2" and [c["for"] for c in w1["conditions"]] == ["W2 entry", "W2 entry"]
    assert all(c["met"] for c in w1["conditions"])  # 30 fans ≥ 25, 1 % ≥ 0.5 %
    w4 = tier_progress(W4, "poor", figures, TierSettings())
    assert w4["next_tier"] is None and {c["for"] for c in w4["conditions"]} == {"W4 state fair"}
    assert "demotes" in w4["summary"] and "fan revisit rate" in w4["summary"]  # 0.1 % < 0.2 % for fair
    h1 = tier_progress(H1, None, figures, TierSettings(h1_penalty_months=2))
    assert h1["next_tier"] == "W1" and "2 monthly" in h1["summary"]


class _Undecided:
    """A gate that has decided nothing: every reason comes from the figures."""

    @staticmethod
    def decision(post_id: int) -> None:
        return None


def test_the_live_gates_own_reason_is_shown_where_it_decided(tiny: ServiceData, body: dict) -> None:
    shown = 0
    for p in body["amplification"]["posts"]:
        own = tiny.gate.decision(p["post_id"])
        if own is not None:
            assert (p["reason_code"], p["reason"]) == own
            shown += 1
    assert shown >= 2  # the fans-only posts the gate saw live


def test_amplification_history_with_the_gate_reasons(tiny: ServiceData) -> None:
    body = account_insights(replace(tiny, gate=_Undecided()), GateSettings(), A, NOW, 20)
    posts = body["amplification"]["posts"]
    assert [p["post_id"] for p in posts] == [P10, P20, P11, P12]  # oldest first
    got = {p["post_id"]: (p["level"], p["reason_code"]) for p in posts}
    assert got == {P10: ("fans only", Reason.TOO_OLD), P20: ("hotlist (amplified)", Reason.PROMOTED),
                   P11: ("fans only", Reason.FAN_SIGNAL_LOW), P12: ("fans only", Reason.NEED_FAN_IMPRESSIONS)}
    reasons = {p["post_id"]: p["reason"] for p in posts}
    assert "5 times; 20 views" in reasons[P12] and "2.0%" in reasons[P11] and "5 times" in reasons[P20]
    assert body["amplification"]["counts"]["hotlist (amplified)"] == 1
    assert body["amplification"]["counts"]["fans only"] == 3


def test_every_figure_beside_its_tier_and_category_peers(body: dict) -> None:
    peers = body["peers"]
    assert (peers["tier"], peers["category"]) == ("W2", 7)
    fans = next(f for f in peers["figures"] if f["field"] == "acct_followers")
    # W2 peers B (4 fans) and D (20), not A itself; category 7 peers: B only
    assert fans["value"] == 12
    assert (fans["tier"]["peers"], fans["tier"]["q1"], fans["tier"]["median"], fans["tier"]["q3"]) == (2, 8, 12, 16)
    assert fans["tier"]["share_below"] == 0.5
    assert (fans["category"]["peers"], fans["category"]["median"], fans["category"]["share_below"]) == (1, 4, 1.0)
    assert {f["field"] for f in peers["figures"]} >= {"acct_fan_revisit_rate_30d", "link_lead_visits_30d"}


def test_peer_cache_reuses_a_bucket_and_recomputes_the_next(tiny: ServiceData) -> None:
    cache = PeerCache(bucket_ms=3_600_000)
    first = cache.get(tiny, NOW)
    assert cache.get(tiny, NOW + 1_000) is first
    later = cache.get(tiny, NOW + 3_600_000)
    assert later is not first
    assert later.figures[list(later.account_ids).index(B), 0] == 4  # B's fans


def test_posts_list_keeps_the_original_fields(body: dict, tiny: ServiceData) -> None:
    assert [p["post_id"] for p in body["posts"]] == [P12, P11, P20, P10]  # newest first
    status = {p["post_id"]: p["status"] for p in body["posts"]}
    assert status[P20] == "hotlist (amplified)" and status[P11] == "fans only"
    assert body["posts"][0]["why"] and not next(p for p in body["posts"] if p["post_id"] == P20)["why"]
    assert len(account_insights(tiny, GateSettings(), A, NOW, 2)["posts"]) == 2
    with pytest.raises(UnknownAccount, match="account_id"):
        account_insights(tiny, GateSettings(), 999, NOW, 2)


def test_cli_writes_the_report_with_one_plot_per_insight(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from weitao.cli import app

    data = write_world(tmp_path / "data")
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["insights", str(A), "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "20:00" in result.output and "LINK+" in result.output
    report = (out / "insights.md").read_text()
    for name in ("funnel", "posting_hours", "tier", "amplification", "peers"):
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000
        assert f"({name}.png)" in report
    assert "| LEAD | visitors brought in | 10 |" in report
    missing = CliRunner().invoke(app, ["insights", "999", "--data", str(data), "--out", str(out)])
    assert missing.exit_code == 2 and "account_id" in missing.output
