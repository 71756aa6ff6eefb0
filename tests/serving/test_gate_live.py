"""The amplification gate live in the service: counts events, decides on a clock grid, feeds the hotlist."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from fastapi.testclient import TestClient

from features.columns import EventArrays
from features.contract import code
from ranking.gate.reasons import Reason
from ranking.gate.settings import GateSettings
from ranking.gate.signals import POOL1, PRIVATE, PROBE
from ranking.hotlist import BoardState
from serving.app import create_app
from serving.gate_live import LiveGate, PostFacts, gate_board
from serving.state import ServiceState
from tests.serving.conftest import ServedWorld
from tests.serving.test_safety import iso

HOUR = 3_600_000
NOW = 1_800_000_000_000
FANS = 1_000  # users below this id follow every account


def _facts() -> PostFacts:
    accounts = pa.table({"account_id": [1, 2, 3], "kind": ["shop", "shop", "influencer"],
                         "tier": ["W2", "H1", "W1"], "tier_state": ["fair", "fair", None],
                         "preferred_shop": [False, False, False], "category": [4, 4, 5],
                         "created_at": pa.array([0, 0, 0], pa.timestamp("ms", tz="UTC"))})
    ids = np.arange(10, 20)
    posts = pa.table({"post_id": ids, "account_id": [1, 1, 2, 3, 3, 3, 3, 3, 3, 1],
                      "kind": ["info"] * 10, "format": ["article"] * 10,
                      "visibility": ["private"] * 9 + ["public"],
                      "created_at": pa.array([NOW - 2 * HOUR] * 10, pa.timestamp("ms", tz="UTC"))})
    return PostFacts.from_tables(posts, accounts)


def _events(post: int, user0: int, n: int, engaged: int, t: int = NOW - HOUR) -> EventArrays:
    """``n`` impressions of ``post`` by users from ``user0`` on, the first ``engaged`` of whom click."""
    user = np.r_[np.arange(user0, user0 + n), np.arange(user0, user0 + engaged)]
    action = np.r_[np.full(n, code("action", "impression")), np.full(engaged, code("action", "click"))]
    m = len(user)
    return EventArrays(np.arange(m), user, np.zeros(m, np.int8), np.full(m, post), action.astype(np.int8),
                       np.zeros(m, np.int8), t + np.arange(m) * 60_000)  # a minute apart: no lockstep


def _gate(**settings: int) -> LiveGate:
    return LiveGate(_facts(), lambda users, accounts, at: np.asarray(users) < FANS, GateSettings(**settings))


def test_fans_engagement_earns_a_probe_and_the_probe_earns_the_hotlist() -> None:
    gate = _gate()
    for post, engaged in ((10, 45), (11, 3), (12, 45), (13, 12), (14, 12), (15, 12), (16, 12), (17, 12)):
        gate.add(_events(post, 0, 100, engaged))
    gate.add(_events(19, 5_000, 2_000, 100))  # the public post sets the public rate of its cell: 5 %
    gate.run(NOW)
    rows = gate.facts.rows(np.array([10, 11, 12, 19]))
    assert gate.state.level[rows[0]] == PROBE and gate.reason[rows[0]] == Reason.PROBED
    assert gate.state.level[rows[1]] == PRIVATE and gate.reason[rows[1]] == Reason.FAN_SIGNAL_LOW
    assert gate.state.level[rows[2]] == PRIVATE and gate.reason[rows[2]] == Reason.H1  # H1 never leaves private
    assert "Fans liked it" in gate.why(int(rows[0]))
    # non-fans who see the probe engage far above the public rate: it moves up to the hotlist
    gate.add(_events(10, 5_000, 200, 120, t=NOW + 60_000))
    gate.run(NOW + 2 * 60_000)
    assert gate.state.level[rows[0]] == POOL1 and gate.reason[rows[0]] == Reason.PROMOTED
    assert gate.level_imp[rows[0], PROBE] == 200  # counted at the level the post held
    board = gate_board(BoardState(np.array([19, 500]), np.array([3.0, 1.0]), np.array([False, True])), gate)
    assert 10 in board.post_ids and 12 not in board.post_ids and 500 in board.post_ids
    moves = [(m["post_id"], m["from"], m["to"]) for m in gate.recent]
    assert moves[0] == (10, "probe", "hotlist") and (10, "private", "probe") in moves


def test_a_probe_without_public_engagement_ends_and_leaves_the_board() -> None:
    gate = _gate(max_probe_impressions=300)
    for post, engaged in ((10, 45), (13, 12), (14, 12), (15, 12), (16, 12)):
        gate.add(_events(post, 0, 100, engaged))
    gate.run(NOW)
    gate.add(_events(19, 9_000, 2_000, 100))  # the public rate of the cell: 5 %
    gate.add(_events(10, 5_000, 150, 0, t=NOW + 60_000))  # nobody outside the fans cares
    gate.run(NOW + 2 * 60_000)
    row = int(gate.facts.rows(np.array([10]))[0])
    assert gate.reason[row] == Reason.PUBLIC_SIGNAL_LOW
    need = gate.logged(row)["baseline"] * gate.settings.public_lift_to_promote
    assert f"below the {need:.1%} needed" in gate.why(row)  # the public bar, not the fans' one
    gate.add(_events(10, 6_000, 250, 0, t=NOW + 3 * 60_000))
    gate.run(NOW + 4 * 60_000)
    assert gate.state.level[row] == PRIVATE and gate.reason[row] == Reason.PROBE_ENDED
    assert 10 not in gate_board(BoardState(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool)), gate).post_ids


def test_passes_fall_on_one_clock_grid() -> None:
    gate = _gate()
    assert gate.due(NOW + 59_999, 60_000) == NOW + 59_999 - (NOW + 59_999) % 60_000
    gate.run(gate.due(NOW + 59_999, 60_000) or 0)
    assert gate.due(NOW + 59_999, 60_000) is None  # this grid point is done
    assert gate.due(NOW + 60_000 * 2, 60_000) is not None


def test_the_service_amplifies_from_posted_events_and_shows_it_to_operators(served_world: ServedWorld) -> None:
    app = create_app(served_world.config(events_per_account_per_minute=100_000), load_models=served_world.loader(),
                     background=False)
    with TestClient(app) as c:
        s: ServiceState = c.app.state.service
        gate, now = s.data.gate, s.now_ms()
        body = c.get("/amplification").json()
        assert sum(lv["posts"] for lv in body["levels"]) == body["live_posts"] > 0
        assert all(lv["fill"] is None or lv["fill"] <= 1 for lv in body["levels"])  # capacity holds from the start
        assert body["hotlist_size"] == len(s.data.board.state.post_ids)
        f = gate.facts
        fresh = np.flatnonzero(f.private & (f.tier >= 0) & (f.tier < 4) & (f.kind < 2)
                               & (gate.state.level == PRIVATE) & (now - f.created_ms < 6 * HOUR))
        row = int(fresh[0])
        post, author = int(f.post_id[row]), int(f.account_id[row])
        fans = np.flatnonzero(s.data.catalog.is_fan(s.data.known_users, np.full(len(s.data.known_users), author),
                                                    now))
        assert len(fans) >= 1
        users = s.data.known_users[fans]
        events = [{"event_id": 10**15 + i, "user_id": int(users[i % len(users)]), "target_type": "post",
                   "target_id": post, "action": "impression" if i < 300 else "click", "slot": "follow_feed",
                   "source": "in_app", "event_time": iso(now - 1000 + i)} for i in range(450)]
        r = c.post("/events", json={"events": events})
        assert r.status_code == 200 and r.json()["accepted"] == 450, r.text
        assert gate.fan_imp[row] >= 300
        assert post not in s.data.board.state.post_ids
        assert s.gate_pass(now + 120_000)
        assert gate.state.level[row] == PROBE, gate.why(row)
        assert post in [i["id"] for i in c.get("/hotlist").json()["items"]]
        ops = c.get("/amplification", params={"limit": 500}).json()
        mine = [h for h in ops["hotlist"] if h["post_id"] == post]
        assert mine and mine[0]["level"] == "probe" and "non-fans" in mine[0]["reason"]
        assert any(m["post_id"] == post and m["to"] == "probe" for m in ops["transitions"])
        assert not s.gate_pass(now + 120_000)  # the same grid point is not decided twice


def test_the_operator_page_is_html_for_browsers_and_json_for_programs(served_world: ServedWorld) -> None:
    app = create_app(served_world.config(), load_models=served_world.loader(), background=False)
    with TestClient(app) as c:
        page = c.get("/amplification", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        body = c.get("/amplification").json()
        assert page.text.count('class="chart"') == 2 and 'http-equiv="refresh"' in page.text
        for level in body["levels"]:
            assert f'data-level="{level["level"]}"' in page.text
        first = body["hotlist"][0]
        assert f"<td>{first['post_id']}</td>" in page.text
        assert "<script" not in page.text


def test_a_click_farm_acting_in_lockstep_keeps_its_post_private() -> None:
    gate = _gate()
    for post, engaged in ((13, 12), (14, 12), (15, 12), (16, 12)):
        gate.add(_events(post, 0, 100, engaged))
    farm = np.arange(700, 710)
    for post in (10, 17, 18):  # the same ten accounts click three posts within seconds of each other
        gate.add(_events(post, 0, 100, 0))
        m = len(farm)
        gate.add(EventArrays(np.arange(m), farm, np.zeros(m, np.int8), np.full(m, post),
                             np.full(m, code("action", "click"), np.int8), np.zeros(m, np.int8),
                             NOW - HOUR + np.arange(m) * 1_000))
    gate.run(NOW)
    row = int(gate.facts.rows(np.array([10]))[0])
    assert gate.lockstep_peak[row] == 1.0
    assert gate.state.level[row] == PRIVATE and gate.reason[row] == Reason.LOCKSTEP
    assert "lockstep" in gate.why(row)
    clean = int(gate.facts.rows(np.array([13]))[0])
    assert gate.lockstep_peak[clean] == 0.0  # engagers a minute apart are not a farm


def test_the_newest_tier_assessment_feeds_the_probe_budget(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pyarrow.parquet as pq

    from serving.gate_live import latest_assessment

    for month, reward in (("2026-09", 1.1), ("2026-10", 1.2)):
        folder = tmp_path / "assessments" / f"month={month}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"account_id": [1, 3], "reward_multiplier": [reward, 1.0],
                                 "offsite_share": [0.5, 0.0], "tier_after": ["W2", "W1"]}), folder / "part-0.parquet")
    assessment = latest_assessment(tmp_path)
    facts = _facts().with_budget(assessment)
    rows = facts.rows(np.array([10, 12, 13]))  # accounts 1, 2 (not assessed) and 3
    assert facts.reward is not None and facts.offsite is not None
    assert facts.reward[rows[0]] == 1.2 and np.isnan(facts.reward[rows[1]]) and facts.reward[rows[2]] == 1.0
    assert facts.offsite[rows[0]] == 0.5
    assert latest_assessment(tmp_path / "nowhere") is None
    gate = LiveGate(facts, lambda users, accounts, at: np.asarray(users) < FANS, GateSettings())
    sig = gate._signals(rows)
    assert sig.reward is not None and sig.reward[0] == 1.2  # what decide weighs the probe budget with


def test_seeding_keeps_the_top_level_within_its_capacity() -> None:
    gate = LiveGate(_facts(), lambda users, accounts, at: np.asarray(users) < FANS,
                    GateSettings(pool_capacity=(2, 15, 6)))
    ids = np.array([13, 14, 15, 19])  # 19 is public: not the gate's to hold
    gate.seed(_events(13, 0, 1, 0), ids, np.array([1.0, 3.0, 2.0, 9.0]))
    level = dict(zip(ids.tolist(), gate.state.level[gate.facts.rows(ids)].tolist(), strict=True))
    assert level == {14: POOL1, 15: POOL1, 13: PROBE, 19: PRIVATE}  # the two heaviest keep the hotlist


def test_the_service_ranks_every_slot_once_before_it_opens(served_world: ServedWorld, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import serving.state as state_module

    warmed: list[tuple[str, ...]] = []
    real = state_module.warm_up

    def spy(engines, data, runner, now_ms):  # type: ignore[no-untyped-def]
        warmed.append(tuple(sorted(name for e in engines.values() for name in e.slots)))
        real(engines, data, runner, now_ms)

    monkeypatch.setattr(state_module, "warm_up", spy)
    app = create_app(served_world.config(), load_models=served_world.loader(), background=False)
    with TestClient(app) as c:
        assert warmed == [("follow_feed", "hotlist", "new_arrival")]  # before /ready said yes
        s: ServiceState = c.app.state.service
        assert s.reload()[0] and len(warmed) == 2  # a reloaded engine is warmed before it is swapped in
        user = int(s.data.known_users[0])
        assert c.post("/rank", json={"user_id": user, "slot": "hotlist", "k": 5}).json()["fallback"] is None


def test_decision_figures_are_kept_for_fans_only_posts_only() -> None:
    gate = _gate()
    gate.add(_events(10, 0, 100, 45))
    gate.run(NOW)
    private = gate.facts.private
    assert 0 < private.sum() < len(private)  # the world has both kinds
    assert all(len(v) == private.sum() for v in gate.numbers.values())
    decided = int(gate.facts.rows(np.array([10]))[0])
    assert gate.logged(decided)["fan_imp"] == 100
    public = int(np.flatnonzero(~private)[0])
    assert all(np.isnan(x) for x in gate.logged(public).values())
