"""The monthly tier job on tiny worlds where every transition and metric is known by construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from features.contract import ENUMS, TABLES, TIMESTAMP, enum_array, ms
from training.tiers import (
    TierError,
    assess,
    assessment_window,
    h1_months_served,
    month_folder,
    read_flags,
    transition_counts,
    write_assessments,
)
from training.tiers_metrics import Window, account_metrics, reward_multipliers
from training.tiers_settings import MetricGrade, TierRule, TierSettings

MONTH = "2026-11"
DAY, HOUR = 86_400_000, 3_600_000
T = assessment_window(MONTH).end_ms  # 2026-11-01T00:00Z
IN = T - 10 * DAY  # well inside the window
LONG_AGO = T - 400 * DAY


class Tiny:
    """A hand-built set of contract tables."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple]] = {n: [] for n in ("accounts", "follows", "posts", "products", "events")}

    def account(self, aid: int, tier: str, state: str | None = None, kind: str = "shop") -> int:
        self.rows["accounts"].append((aid, kind, tier, state))
        return aid

    def follow(self, user: int, aid: int, since: int = LONG_AGO, until: int | None = None) -> None:
        self.rows["follows"].append((user, aid, since, until))

    def post(self, aid: int, products: tuple[int, ...] = ()) -> int:
        self.rows["posts"].append((len(self.rows["posts"]) + 1000, aid, list(products)))
        return self.rows["posts"][-1][0]

    def product(self, aid: int) -> int:
        self.rows["products"].append((len(self.rows["products"]) + 5000, aid))
        return self.rows["products"][-1][0]

    def event(self, user: int, ttype: str, target: int, action: str, t: int = IN, source: str = "in_app",
              request: int | None = None) -> None:
        self.rows["events"].append((user, ttype, target, action, t, source, request))

    def tables(self) -> dict[str, pa.Table]:
        acc, fol, pst, prd, ev = (self.rows[n] for n in ("accounts", "follows", "posts", "products", "events"))

        def enum(name: str, values: list) -> pa.Array:
            return enum_array(name, np.array([-1 if v is None else ENUMS[name].index(v) for v in values]))

        def ids(rows: list[tuple], i: int) -> pa.Array:
            return pa.array([r[i] for r in rows], pa.int64())

        def times(rows: list[tuple], i: int) -> pa.Array:
            return ids(rows, i).cast(TIMESTAMP)

        return {
            "accounts": pa.table({
                "account_id": ids(acc, 0), "kind": enum("account_kind", [r[1] for r in acc]),
                "tier": enum("tier", [r[2] for r in acc]), "tier_state": enum("tier_state", [r[3] for r in acc]),
                "preferred_shop": [False] * len(acc), "category": pa.array([0] * len(acc), pa.int32()),
                "created_at": ms(np.full(len(acc), LONG_AGO))}, schema=TABLES["accounts"].schema),
            "follows": pa.table({"user_id": ids(fol, 0), "account_id": ids(fol, 1), "followed_at": times(fol, 2),
                                 "unfollowed_at": times(fol, 3)}, schema=TABLES["follows"].schema),
            "posts": pa.table({"post_id": ids(pst, 0), "account_id": ids(pst, 1),
                               "product_ids": pa.array([r[2] for r in pst], pa.list_(pa.int64()))}),
            "products": pa.table({"product_id": ids(prd, 0), "shop_id": ids(prd, 1)}),
            "events": pa.table({
                "user_id": ids(ev, 0), "target_type": enum("target_type", [r[1] for r in ev]),
                "target_id": ids(ev, 2), "action": enum("action", [r[3] for r in ev]), "event_time": times(ev, 4),
                "source": enum("source", [r[5] for r in ev]), "request_id": ids(ev, 6)}),
        }


def engage(w: Tiny, aid: int, fans: list[int], *, impressions: int, likes: int, revisits: int, purchases: int,
           t: int = IN) -> None:
    """Fan activity on one new post and product of ``aid``: each revisiting fan clicks, then visits the page."""
    post, product = w.post(aid), w.product(aid)
    for i in range(impressions):
        w.event(fans[i % len(fans)], "post", post, "impression", t)
    for i in range(likes):
        w.event(fans[i], "post", post, "like", t + 1000)
    for i in range(revisits):
        w.event(fans[i], "post", post, "click", t + 2000)
        w.event(fans[i], "account", aid, "click", t + DAY)
    for i in range(purchases):
        w.event(fans[i % len(fans)], "product", product, "purchase", t + 3000 + i)


def fans_of(w: Tiny, aid: int, n: int) -> list[int]:
    users = [aid * 100 + i for i in range(n)]
    for u in users:
        w.follow(u, aid)
    return users


FAIR = dict(impressions=4, likes=1, revisits=1, purchases=1)  # 25 %, 1 of 4 fans, 1 purchase


def excellent(n_fans: int) -> dict[str, int]:
    return dict(impressions=4, likes=2, revisits=(n_fans + 1) // 2, purchases=3)  # 50 %, half the fans, 3


def small_settings(**changes: object) -> TierSettings:
    """Every tier graded alike: interaction and revisit fair at 20 %, excellent at 50 %; purchases 1 and 3."""
    grades = dict(fan_activity=MetricGrade(weight=0), fan_interaction_rate=MetricGrade(fair=0.2, excellent=0.5),
                  fan_revisit_rate=MetricGrade(fair=0.2, excellent=0.5), fan_purchases=MetricGrade(fair=1, excellent=3))
    base = dict(w2=TierRule(min_fans=3, min_fan_interaction_rate=0.1, **grades),
                w3=TierRule(min_fans=5, min_fan_interaction_rate=0.1, **grades),
                w4=TierRule(min_fans=8, min_fan_interaction_rate=0.1, **grades),
                fair_min_score=1.0, excellent_min_score=2.0, h1_penalty_months=2, reward_top_share=0.0)
    return TierSettings(**(base | changes))


@pytest.fixture(scope="module")
def world() -> dict[str, pa.Table]:
    w = Tiny()
    fans_of(w, w.account(1, "W3", "fair"), 5)  # no activity at all: poor
    engage(w, w.account(2, "W2", "fair"), fans_of(w, 2, 4), **FAIR)
    engage(w, w.account(3, "W2", "fair"), fans_of(w, 3, 6), **excellent(6))  # W3 needs 5 fans
    engage(w, w.account(4, "W2", "excellent"), fans_of(w, 4, 4), **excellent(4))  # only 4
    engage(w, w.account(5, "W1"), fans_of(w, 5, 3), impressions=4, likes=1, revisits=0, purchases=0)
    engage(w, w.account(6, "W1"), fans_of(w, 6, 1), impressions=2, likes=0, revisits=0, purchases=0)
    engage(w, w.account(7, "H1"), fans_of(w, 7, 6), **excellent(6))
    engage(w, w.account(8, "H1"), fans_of(w, 8, 6), **excellent(6))
    engage(w, w.account(9, "W3", "excellent"), fans_of(w, 9, 6), **excellent(6))
    fans_of(w, w.account(10, "W4", "fair", kind="official"), 2)
    # Planted: everything that would make account 11 excellent happens at or after T, or before the window.
    fans11 = fans_of(w, w.account(11, "W2", "fair"), 4)
    engage(w, 11, fans11, **excellent(4), t=T)
    w.event(fans11[0], "account", 11, "click", T)  # exactly at T: already too late
    w.event(fans11[1], "post", w.post(11), "like", T)
    engage(w, 11, fans11, **excellent(4), t=T + HOUR)
    engage(w, 11, fans11, **excellent(4), t=T - 32 * DAY)
    for u in (1190, 1191, 1192):
        w.follow(u, 11, since=T + HOUR)
    w.follow(fans11[0], 11, since=LONG_AGO)  # a duplicate interval must not count twice
    return w.tables()


@pytest.fixture(scope="module")
def verdicts(world: dict[str, pa.Table]) -> dict[int, dict]:
    table = assess(world, MONTH, small_settings(), flags={9: "lockstep engagement"}, h1_served={7: 1, 8: 2})
    return {r["account_id"]: r for r in table.to_pylist()}


def test_w3_poor_is_demoted_and_the_reason_names_the_numbers(verdicts: dict[int, dict]) -> None:
    v = verdicts[1]
    assert (v["tier_after"], v["state_assessed"], v["transition"]) == ("W2", "poor", "demoted")
    assert v["reason"].startswith("W3 → W2: state poor (")
    assert "fan interaction rate 0.00 % vs 20.0 % needed for fair" in v["reason"]
    assert "fan purchases 0 vs 1 needed for fair" in v["reason"]


def test_w2_fair_stays(verdicts: dict[int, dict]) -> None:
    v = verdicts[2]
    assert (v["tier_after"], v["state_assessed"], v["state_after"], v["transition"]) == ("W2", "fair", "fair", "kept")
    assert v["fan_interaction_rate"] == pytest.approx(0.25) and v["fan_revisit_rate"] == pytest.approx(0.25)
    assert v["reason"].startswith("W2 stays W2: state fair (for excellent: fan interaction rate 25.0 % vs 50.0 %")


def test_w2_excellent_is_promoted_only_with_the_next_tiers_fans(verdicts: dict[int, dict],
                                                                world: dict[str, pa.Table]) -> None:
    up, held = verdicts[3], verdicts[4]
    assert (up["state_assessed"], up["tier_after"], up["transition"]) == ("excellent", "W3", "promoted")
    assert up["reason"] == "W2 → W3: state excellent and W3 entry met (6 fans, W3 needs 5)"
    assert (held["state_assessed"], held["tier_after"], held["transition"]) == ("excellent", "W2", "kept")
    assert held["reason"] == "W2 stays W2: state excellent but W3 needs 5 fans (you have 4)"
    big = assess(world, MONTH, small_settings(w3=TierRule(min_fans=2500), w4=TierRule(min_fans=3000)))
    reason = big.filter(pa.compute.equal(big.column("account_id"), 3)).column("reason")[0].as_py()
    assert reason == "W2 stays W2: state excellent but W3 needs 2,500 fans (you have 6)"


def test_w1_graduates_on_fans_and_interaction(verdicts: dict[int, dict]) -> None:
    up, held = verdicts[5], verdicts[6]
    assert (up["tier_after"], up["transition"], up["state_assessed"]) == ("W2", "promoted", None)
    assert up["reason"] == "W1 → W2: 3 fans (W2 needs 3) and fan interaction rate 25.0 % (W2 needs 10.0 %)"
    assert (held["tier_after"], held["transition"]) == ("W1", "kept")
    assert held["reason"] == ("W1 stays W1: W2 needs 3 fans (you have 1) and a fan interaction rate of 10.0 % "
                              "(you have 0.00 %)")


def test_h1_is_held_for_its_period_then_released(verdicts: dict[int, dict]) -> None:
    held, freed = verdicts[7], verdicts[8]
    assert (held["tier_after"], held["transition"]) == ("H1", "kept")
    assert held["reason"] == "H1 stays H1: 1 of 2 penalty months served with no abuse flag"
    assert (freed["tier_after"], freed["transition"], freed["state_after"]) == ("W1", "released", None)
    assert freed["reason"] == "H1 → W1: 2-month penalty period served with no abuse flag"


def test_flagged_account_goes_to_h1_whatever_its_metrics(verdicts: dict[int, dict], world: dict[str, pa.Table]) -> None:
    v = verdicts[9]
    assert (v["state_assessed"], v["tier_after"], v["transition"]) == ("excellent", "H1", "to_h1")
    assert v["reason"] == "W3 → H1: abuse flag (lockstep engagement)"
    assert v["abuse_flag"] == "lockstep engagement" and v["reward_multiplier"] == 1.0
    again = assess(world, MONTH, small_settings(), flags={8: ""}, h1_served={8: 5})
    row = again.filter(pa.compute.equal(again.column("account_id"), 8)).to_pylist()[0]
    assert (row["tier_after"], row["transition"]) == ("H1", "kept")
    assert row["reason"] == "H1 stays H1: abuse flag (flagged); the 2-month penalty period starts again"


def test_official_accounts_are_not_assessed(verdicts: dict[int, dict]) -> None:
    v = verdicts[10]
    assert (v["tier_after"], v["state_after"], v["transition"], v["state_assessed"]) == ("W4", "fair", "official", None)
    assert v["reason"] == "official account: not assessed, stays W4"


def test_events_at_or_after_the_assessment_time_do_not_count(verdicts: dict[int, dict]) -> None:
    v = verdicts[11]
    assert v["fans"] == 4 and v["new_follows"] == 0
    for metric in ("fan_activity", "fan_interaction_rate", "fan_purchases", "fan_revisit_rate", "lead_visits"):
        assert v[metric] == 0, metric
    assert (v["tier_after"], v["transition"]) == ("W1", "demoted")


def test_every_account_has_a_transition_and_the_counts_add_up(verdicts: dict[int, dict],
                                                              world: dict[str, pa.Table]) -> None:
    table = assess(world, MONTH, small_settings(), flags={9: "x"}, h1_served={7: 1, 8: 2})
    counts = transition_counts(table)
    assert sum(counts["all"].values()) == len(verdicts) == 11
    assert counts["W2"] == {"promoted": 1, "kept": 2, "demoted": 1, "to_h1": 0, "released": 0, "official": 0}
    assert counts["H1"]["released"] == 1 and counts["W3"]["to_h1"] == 1


def test_metric_definitions_on_a_hand_counted_account() -> None:
    w = Tiny()
    shop, infl = w.account(1, "W2", "fair"), w.account(2, "W2", "fair", kind="influencer")
    for u in (1, 2, 3):
        w.follow(u, shop)
    w.follow(4, shop, since=LONG_AGO, until=IN)  # an unfollow in the window
    w.follow(5, shop, since=IN)  # a new follow in the window
    for u in (1, 2, 6):
        w.follow(u, infl)
    q = w.product(shop)
    p1, p2 = w.post(shop), w.post(infl, products=(q,))
    for u in (1, 2, 3, 9):
        w.event(u, "post", p1, "impression")
    w.event(1, "post", p1, "like", IN + 1)
    w.event(9, "post", p1, "like", IN + 1)  # not a fan
    w.event(5, "post", p1, "impression", IN - HOUR)  # before 5 followed: not a fan impression
    w.event(5, "post", p1, "like", IN - HOUR)  # ... but 5 is a fan at T who acted
    w.event(1, "account", shop, "click", IN + 2 * DAY)  # 1 comes back after the like
    w.event(3, "account", shop, "click", IN)
    w.event(3, "account", shop, "click", IN + DAY)  # 3 visits twice
    w.event(9, "account", shop, "click", IN, source="offsite_search")
    w.event(8, "account", shop, "click", IN, source="offsite_social")
    w.event(1, "product", q, "purchase", IN + 5)
    w.event(1, "product", q, "purchase", IN + 6)
    w.event(9, "product", q, "purchase", IN + 7)
    w.event(1, "post", p2, "click", IN + 8, request=77)
    w.event(1, "product", q, "purchase", IN + 9, request=77)  # driven by the influencer's post
    w.event(6, "post", p2, "click", IN + 8, request=79)
    w.event(6, "product", q, "purchase", IN + 9, request=78)  # another page: the shop's only
    m = account_metrics(w.tables(), np.array([1, 2]), Window(T - 30 * DAY, T))
    expected_shop = dict(fans=4, fan_activity=3 / 4, fan_interaction_rate=1 / 3, fan_purchases=3,
                         fan_revisit_rate=2 / 4, engage_rate=2 / 4, lead_visits=5, offsite_share=2 / 5,
                         offsite_visits_offsite_search=1, offsite_visits_offsite_social=1, offsite_visits_offsite_ads=0,
                         new_follows=1, unfollows=1, interlock_rate=1 / 5, keep_rate=1 / 3)
    for name, value in expected_shop.items():
        assert m[name][0] == pytest.approx(value), name
    assert (m["fans"][1], m["fan_purchases"][1], m["keep_rate"][1]) == (3, 1, 0.0)
    assert m["fan_activity"][1] == pytest.approx(2 / 3)  # 1 and 6 clicked its post; 2 did nothing


def test_rewards_go_to_the_top_share_of_each_tier_only() -> None:
    n = 10
    rank = np.arange(n, dtype=float)  # account 9 is best on every private-domain metric
    metrics = {"fans": rank, "fan_activity": rank, "fan_interaction_rate": rank, "fan_purchases": rank}
    group = np.array([1] * n)
    eligible = np.ones(n, bool)
    eligible[8] = False  # not eligible (e.g. going to H1): never rewarded, and not counted
    score, mult = reward_multipliers(metrics, group, eligible, top_share=0.25, low=1.1, high=1.3)
    assert np.isnan(score[8])
    assert mult.tolist() == [1.0] * 7 + [1.1, 1.0, 1.3]  # floor(0.25 * 9) = 2 accounts
    both = reward_multipliers(metrics, np.array([1] * 5 + [2] * 5), np.ones(n, bool), top_share=0.2, low=1.1,
                              high=1.2)[1]
    assert both.tolist() == [1.0] * 4 + [1.2] + [1.0] * 4 + [1.2]


def test_h1_history_counts_consecutive_months_since_the_last_flag(tmp_path: Path) -> None:
    def month(name: str, rows: list[tuple[int, str, str | None]]) -> None:
        table = pa.table({"account_id": pa.array([r[0] for r in rows], pa.int64()),
                          "tier_after": enum_array("tier", np.array([ENUMS["tier"].index(r[1]) for r in rows])),
                          "abuse_flag": pa.array([r[2] for r in rows], pa.string())})
        write_assessments(table, month_folder(tmp_path, name))

    month("2026-10", [(1, "H1", None), (2, "H1", None), (3, "H1", "farm"), (4, "W2", None)])
    month("2026-09", [(1, "H1", None), (2, "H1", "farm"), (3, "H1", None), (4, "H1", None)])
    month("2026-08", [(1, "H1", None), (2, "H1", None), (3, "H1", None), (4, "H1", None)])
    assert h1_months_served(tmp_path, MONTH, 5) == {1: 3, 2: 2, 3: 1}
    assert h1_months_served(tmp_path, MONTH, 2) == {1: 2, 2: 2, 3: 1}
    assert h1_months_served(tmp_path / "none", MONTH, 3) == {}


def test_bad_inputs_are_named(tmp_path: Path) -> None:
    for bad in ("2026-13", "2026/11", "Nov"):
        with pytest.raises(TierError, match="month"):
            assessment_window(bad)
    assert assessment_window("2026-03").start_ms == assessment_window("2026-03").end_ms - 30 * DAY
    flags = tmp_path / "flags.csv"
    flags.write_text("account_id,reason\n7,lockstep engagement\n8,\n")
    assert read_flags(flags) == {7: "lockstep engagement", 8: ""}
    flags.write_text("account,why\n7,x\n")
    with pytest.raises(TierError, match=r"flags\.csv"):
        read_flags(flags)
    with pytest.raises(ValueError, match="excellent"):
        MetricGrade(fair=0.5, excellent=0.1)
