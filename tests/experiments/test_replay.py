"""Replay (`experiments.replay`) on hand-built logged days whose answers are known by construction."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from experiments.replay.data import DAY_MS, HOUR_MS, PointInTime, ReplayInputError, Tables, day_bounds
from experiments.replay.gate import amplification
from experiments.replay.pages import add_candidates, hydrate, pages_from_events, pages_from_log
from experiments.replay.rankers import make_ranker, rerank
from experiments.replay.run import ReplayOptions, replay
from ranking.gate.settings import GateSettings

DAY = "2026-10-02"
LO = 1_790_899_200_000  # 2026-10-02T00:00:00Z
EPOCH = LO - 10 * DAY_MS


def ts(ms: int | list[int] | np.ndarray) -> pd.Series:
    """UTC timestamps from epoch milliseconds."""
    return pd.Series(pd.to_datetime(np.atleast_1d(np.asarray(ms, np.int64)), unit="ms", utc=True))


@dataclass
class Day:
    """Builder of a tiny world: accounts, posts, follows and events, turned into replay tables."""

    accounts: list[dict[str, Any]] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    follows: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def account(self, aid: int, kind: str = "shop", tier: str = "W2", state: str | None = "fair") -> int:
        self.accounts.append({"account_id": aid, "kind": kind, "tier": tier, "tier_state": state,
                              "preferred_shop": False, "category": 1, "created_at": EPOCH})
        return aid

    def post(self, pid: int, account: int, created_ms: int) -> int:
        self.posts.append({"post_id": pid, "account_id": account, "kind": "info", "format": "article",
                           "visibility": "private", "created_at": created_ms, "product_ids": []})
        return pid

    def follow(self, user: int, account: int, at_ms: int = EPOCH, until_ms: int | None = None) -> None:
        self.follows.append({"user_id": user, "account_id": account, "followed_at": at_ms, "unfollowed_at": until_ms})

    def event(self, user: int, post: int, action: str, at_ms: int, slot: str = "follow_feed", *,
              position: int | None = None, request: int | None = None, propensity: float | None = None,
              dwell: float | None = None) -> None:
        self.events.append({"event_id": len(self.events), "user_id": user, "target_type": "post", "target_id": post,
                            "action": action, "slot": slot, "source": "in_app", "event_time": at_ms,
                            "dwell_seconds": dwell, "position": position, "request_id": request,
                            "propensity": propensity, "amount": None})

    def page(self, user: int, request: int, at_ms: int, posts: list[int], *, propensity: float = 1.0,
             slot: str = "follow_feed") -> None:
        """Impressions of ``posts`` at positions 0.. on one request, a second apart."""
        for k, p in enumerate(posts):
            self.event(user, p, "impression", at_ms + 1000 * k, slot, position=k, request=request,
                       propensity=propensity)

    def tables(self) -> Tables:
        ev = pd.DataFrame(self.events)
        ev["event_time"] = ts(ev["event_time"].to_numpy())
        for col in ("position", "request_id"):
            ev[col] = ev[col].astype("Int64")
        ev["dwell_seconds"] = ev["dwell_seconds"].astype(float)
        ev["propensity"] = ev["propensity"].astype(float)
        posts = pd.DataFrame(self.posts)
        posts["created_at"] = ts(posts["created_at"].to_numpy())
        accounts = pd.DataFrame(self.accounts)
        accounts["created_at"] = ts(accounts["created_at"].to_numpy())
        follows = pd.DataFrame(self.follows, columns=["user_id", "account_id", "followed_at", "unfollowed_at"])
        follows["followed_at"] = ts(follows["followed_at"].to_numpy())
        until = follows["unfollowed_at"].astype("float").to_numpy()
        follows["unfollowed_at"] = pd.Series(pd.to_datetime(until, unit="ms", utc=True))
        products = pd.DataFrame({"product_id": pd.Series([], dtype=np.int64), "shop_id": pd.Series([], dtype=np.int64),
                                 "category": pd.Series([], dtype=np.int32), "price": pd.Series([], dtype=float),
                                 "launched_at": ts(np.array([], np.int64))})
        return Tables.of(ev, posts, products, accounts, follows)


def at(hour: float) -> int:
    """Milliseconds ``hour`` hours into the replayed day."""
    return LO + int(hour * HOUR_MS)


def options(**kw: Any) -> ReplayOptions:
    return ReplayOptions(day=DAY, reward_model="logistic", n_bootstrap=20, n_folds=2, **kw)


def two_pages() -> Day:
    """Page 1 (three posts) clicked at position 0; page 2 (four posts) clicked at position 1."""
    d = Day()
    for a in (1, 2, 3, 4):
        d.account(a)
        d.follow(100, a)
    for p, a in zip((10, 11, 12, 13), (1, 2, 3, 4), strict=True):
        d.post(p, a, at(-20 + 3 * a))
    d.page(100, 1, at(2), [10, 11, 12])
    d.event(100, 10, "click", at(2) + 5000, position=0, request=1)
    d.page(100, 2, at(5), [10, 11, 12, 13])
    d.event(100, 11, "click", at(5) + 5000, position=1, request=2)
    return d


def test_reversing_the_pages_changes_ndcg_by_the_known_amount() -> None:
    rng = np.random.default_rng(0)
    result = replay(two_pages().tables(), options(max_extra=0), rng, ranker=make_ranker("reversed", rng))
    s = result["slots"]["follow_feed"]
    # logged: gain at rank 1 and at rank 2; reversed: rank 3 on the first page, rank 3 on the second
    assert s["logged"]["ndcg"] == pytest.approx((1 + 1 / np.log2(3)) / 2)
    assert s["new"]["ndcg"] == pytest.approx((1 / np.log2(4) + 1 / np.log2(4)) / 2)
    assert s["logged"]["clicks_per_page"] == 1.0
    assert s["new"]["exact_pages"] == 0


def test_the_logged_order_is_replayed_exactly() -> None:
    rng = np.random.default_rng(0)
    result = replay(two_pages().tables(), options(max_extra=0), rng, ranker=make_ranker("logged", rng))
    new = result["slots"]["follow_feed"]["new"]
    assert new["exact_pages"] == 2 and new["estimator"] == "exact+dm"
    assert new["clicks_per_page"]["value"] == pytest.approx(1.0)  # observed, not estimated
    assert new["ndcg"] == result["slots"]["follow_feed"]["logged"]["ndcg"]


def exposure_day() -> Day:
    """A shop's two logged posts; the user also follows an influencer whose newer post was not shown."""
    d = Day()
    d.account(1, "shop", "W2")
    d.account(2, "influencer", "W3")
    d.account(3, "official", "W1", None)
    d.follow(100, 1)
    d.follow(100, 2)
    d.post(10, 1, at(-10))
    d.post(11, 1, at(-8))
    d.post(20, 2, at(-1))
    d.page(100, 1, at(3), [10, 11])
    return d


def future(d: Day) -> Day:
    """Rows after the request at hour 3: a newer post, a later follow of an official account, later clicks."""
    d.post(21, 2, at(4))
    d.follow(100, 3, at(5))
    d.post(22, 3, at(-2))
    for u in range(5):
        d.event(200 + u, 10, "click", at(6) + u, slot="other")
    return d


def test_exposure_shares_by_kind_and_tier_are_known() -> None:
    rng = np.random.default_rng(0)
    result = replay(future(exposure_day()).tables(), options(max_extra=5), rng,
                    ranker=make_ranker("chronological", rng))
    kind, tier = result["exposure"]["account_kind"], result["exposure"]["tier"]
    # logged: both impressions the shop's; new page: the influencer's post 20, then the shop's post 11
    assert kind["shop"] == {"logged": 1.0, "new": 0.5, "difference": -0.5}
    assert kind["influencer"] == {"logged": 0.0, "new": 0.5, "difference": 0.5}
    assert kind["official"]["new"] == 0.0
    assert tier["W2"]["new"] == 0.5 and tier["W3"]["new"] == 0.5


def test_rows_after_the_request_do_not_change_the_replay() -> None:
    base, later = exposure_day().tables(), future(exposure_day()).tables()
    lo, hi = day_bounds(DAY, base)
    got = []
    for tables in (base, later):
        cands = hydrate(add_candidates(pages_from_events(tables, lo, hi), tables, 5), tables, PointInTime(tables))
        for name in ("chronological", "popularity"):
            cands[f"pos_{name}"] = rerank(cands, make_ranker(name, np.random.default_rng(0)).scores(cands))
        got.append(cands)
    assert sorted(got[1]["item_id"]) == [10, 11, 20]  # neither the later post nor the later follow's post
    assert got[1].loc[got[1]["item_id"] == 10, "clicks_before"].item() == 0  # the later clicks are not seen
    pd.testing.assert_frame_equal(got[0], got[1])


def gate_world() -> Day:
    """A shop post its fans liked before the day; 200 non-fans see it in the day's first hour, 8 read it."""
    d = Day()
    d.account(1, "shop", "W2")
    d.post(50, 1, at(-5))
    for u in range(30):
        d.follow(u, 1)
        d.event(u, 50, "impression", at(-4) + u, slot="follow_feed")
        if u < 12:
            d.event(u, 50, "dwell", at(-3.9) + u, slot="follow_feed", dwell=20.0)
    for u in range(1000, 1200):
        d.event(u, 50, "impression", at(0.5) + u, slot="other")
        if u < 1008:
            d.event(u, 50, "dwell", at(0.6) + u, slot="other", dwell=20.0)
    return d


def test_a_lower_public_threshold_amplifies_the_known_post() -> None:
    tables = gate_world().tables()
    lo, hi = day_bounds(DAY, tables)
    logged = GateSettings()
    new = GateSettings(public_lift_to_promote=0.5)
    amp = amplification(tables, PointInTime(tables), lo, hi, logged, new)
    assert (amp["logged_amplified"], amp["amplified_with_logged_settings"], amp["amplified_with_new_settings"]) == \
        (0, 0, 1)
    [row] = amp["would_be_amplified"]
    assert row["post_id"] == 50 and row["settings_effect"] and not row["logged"]
    assert row["reason"].startswith("Moved up to hotlist")
    assert "needed to reach the public pools" in row["reason_with_logged_settings"]
    assert amp["would_not_be_amplified"] == []


def test_nothing_to_replay_is_refused() -> None:
    with pytest.raises(ReplayInputError, match="--policy"):
        replay(two_pages().tables(), options(), np.random.default_rng(0))
    with pytest.raises(ReplayInputError, match="--day"):
        day_bounds("2026-13-01", two_pages().tables())


def test_pages_from_the_service_page_log(tmp_path: Path) -> None:
    d = two_pages()
    d.event(100, 12, "click", at(9), slot="follow_feed")  # hours after the page: not its reward
    tables = d.tables()
    served = at(1)
    rows = {"request_id": ["a", "a", "a"], "served_ms": [served] * 3, "user_id": [100] * 3,
            "slot": ["follow_feed"] * 3, "item_id": [12, 11, 10], "item_type": ["post"] * 3,
            "position": pa.array([0, 1, 2], pa.int16()), "score": [3.0, 2.0, 1.0], "propensity": [0.5] * 3,
            "model_version": ["m/1"] * 3}
    pq.write_table(pa.table(rows), tmp_path / "pages-1-x.parquet")
    lo, hi = day_bounds(DAY, tables)
    pages = pages_from_log(tmp_path, tables, lo, hi)
    # the logged clicks on 10 (hour 2) and 12 (hour 9) came more than 30 minutes after this page was served
    assert pages["clicked"].tolist() == [0, 0, 0]
    d.event(100, 10, "click", served + 60_000, slot="follow_feed")
    pages = pages_from_log(tmp_path, d.tables(), lo, hi)
    assert pages.set_index("item_id")["clicked"].to_dict() == {12: 0, 11: 0, 10: 1}
    rng = np.random.default_rng(0)
    result = replay(d.tables(), options(max_extra=0, page_log=tmp_path), rng, ranker=make_ranker("reversed", rng))
    s = result["slots"]["follow_feed"]
    assert result["pages_from"] == "page log"
    assert s["logged"]["ndcg"] == pytest.approx(1 / np.log2(4)) and s["new"]["ndcg"] == pytest.approx(1.0)


def test_logged_decisions_come_from_the_gate_log(tmp_path: Path) -> None:
    tables = gate_world().tables()
    lo, hi = day_bounds(DAY, tables)
    log = pa.table({"post_id": [50, 50], "at_ms": [at(-1), at(3)], "level_before": [0, 1], "level": [1, 2],
                    "reason": [9, 13]})
    pq.write_table(log, tmp_path / "gate.parquet")
    same = amplification(tables, PointInTime(tables), lo, hi, GateSettings(), GateSettings(public_lift_to_promote=0.5),
                         tmp_path)
    assert same["source"] == "gate log" and same["logged_amplified"] == 1
    assert same["would_be_amplified"] == [] and same["would_not_be_amplified"] == []  # the new gate agrees
    stricter = amplification(tables, PointInTime(tables), lo, hi, GateSettings(), GateSettings(), tmp_path)
    [row] = stricter["would_not_be_amplified"]
    assert row["post_id"] == 50 and row["logged"] and not row["settings_effect"]
