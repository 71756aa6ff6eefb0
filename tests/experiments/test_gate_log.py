"""The gate's decision log and `weitao explain`: transitions kept with their figures, told as sentences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from ranking.gate.decide import decide
from ranking.gate.explain import explain
from ranking.gate.log import GateLog, read_post
from ranking.gate.reasons import Reason
from ranking.gate.settings import GateSettings
from ranking.gate.signals import HOUR_MS, PRIVATE, PROBE, GateState
from tests.ranking.test_gate import NOW, signals
from weitao.cli import app


def _three_hours(log: GateLog) -> None:
    """Post 0 is probed in hour 1; post 1 waits for fan views in hour 1 and 2, then its fans are lukewarm."""
    s, state = GateSettings(), GateState.empty(2)
    fan_imp = [np.array([100.0, 3.0]), np.array([100.0, 5.0]), np.array([100.0, 100.0])]
    fan_eng = [np.array([20.0, 0.0]), np.array([20.0, 0.0]), np.array([20.0, 1.0])]
    for hour in range(3):
        sig = signals(2, fan_imp=fan_imp[hour], fan_eng=fan_eng[hour])
        before = state.level.copy()
        log.add(NOW + hour * HOUR_MS, before, decide(state, sig, NOW + hour * HOUR_MS, s), sig)


def test_the_log_keeps_changes_only_with_their_figures(tmp_path: Path) -> None:
    log = GateLog()
    _three_hours(log)
    rows = log.table().to_pylist()
    post1 = [(r["at_ms"], Reason(r["reason"])) for r in rows if r["post_id"] == 1]
    assert post1 == [(NOW, Reason.NEED_FAN_IMPRESSIONS), (NOW + 2 * HOUR_MS, Reason.FAN_SIGNAL_LOW)]  # hour 1 same
    post0 = [r for r in rows if r["post_id"] == 0]
    assert (post0[0]["level_before"], post0[0]["level"], Reason(post0[0]["reason"])) == (PRIVATE, PROBE,
                                                                                          Reason.PROBED)
    assert post0[0]["fan_imp"] == 100 and post0[0]["fan_lcb"] > post0[0]["need_rate"] > 0
    path = log.write(tmp_path / "log" / "seed-1.parquet")
    no_score = ["amplifier", "p_top"]  # no model score or posterior: NaN, never equal
    back = read_post(path.parent, 1).drop_columns(no_score).to_pylist()
    assert back == [{k: v for k, v in r.items() if k not in no_score} for r in rows if r["post_id"] == 1]


def test_explanations_name_the_figures_and_the_thresholds() -> None:
    s = GateSettings()
    text = explain(Reason.NEED_FAN_IMPRESSIONS, PRIVATE, {"fan_imp": 3.0}, s)
    assert "3 times" in text and f"{s.min_fan_impressions} views" in text
    text = explain(Reason.FAN_SIGNAL_LOW, PRIVATE, {"fan_rate": 0.01, "fan_lcb": 0.002, "need_rate": 0.03}, s)
    assert "1.0%" in text and "3.0%" in text and "details unavailable" not in text
    for reason in Reason:  # every reason renders; missing figures say so instead of failing
        assert explain(reason, PROBE, {}, s)


def test_weitao_explain_tells_a_posts_story(tmp_path: Path) -> None:
    log = GateLog()
    _three_hours(log)
    log.write(tmp_path / "seed-1.parquet")
    result = CliRunner().invoke(app, ["explain", "1", "--log", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "not amplified" in result.output and "expected for this account" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["explain", "99", "--log", str(tmp_path)])
    assert result.exit_code != 0 and "post 99" in result.output
