"""Operations: the durable event log (restart, other workers), the online store going away and coming back,
the registry watch and ``/admin/promote``."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
from fastapi.testclient import TestClient

from features.settings import FeatureSettings
from features.storage import read_table
from serving.app import create_app
from serving.config import ServiceConfig
from serving.state import Promotion, ServiceState
from tests.services import free_port, running
from tests.serving.conftest import TOKEN, ServedWorld, models_of
from tests.serving.test_safety import _private_posts, iso

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _fan_with_private_posts(client: TestClient) -> tuple[int, int, list[int]]:
    """A user who follows an account with fans-only posts: (user, account, those posts)."""
    ids, authors = _private_posts(client)
    follows = read_table(client.app.state.service.config.serving.data_dir, "follows")
    live = pc.is_null(follows.column("unfollowed_at")).to_numpy(zero_copy_only=False)
    fan_user, account = (follows.column(c).to_numpy()[live] for c in ("user_id", "account_id"))
    pick = next(i for i in range(len(fan_user)) if np.any(authors == account[i]))
    return int(fan_user[pick]), int(account[pick]), ids[authors == account[pick]].tolist()


def _visible(client: TestClient, user: int, posts: list[int], now: int) -> set[int]:
    r = client.post("/rank", json={"user_id": user, "slot": "follow_feed", "k": 50, "candidates": posts,
                                   "context": {"now_ms": now}})
    assert r.status_code == 200, r.text
    return {i["id"] for i in r.json()["items"]} & set(posts)


def _unfollow(user: int, account: int, now: int, event_id: int) -> dict[str, object]:
    return {"event_id": event_id, "user_id": user, "target_type": "account", "target_id": account,
            "action": "unfollow", "slot": "other", "source": "in_app", "event_time": iso(now - 1000)}


def _app(world: ServedWorld, config: ServiceConfig) -> TestClient:
    return TestClient(create_app(config, load_models=world.loader(), background=False))


def test_accepted_events_survive_a_restart(served_world: ServedWorld) -> None:
    config = served_world.config()
    with _app(served_world, config) as c:
        user, account, theirs = _fan_with_private_posts(c)
        now = c.app.state.service.now_ms()
        assert _visible(c, user, theirs, now)
        assert c.post("/events", json={"events": [_unfollow(user, account, now, 10**15 + 7)]}).json()["accepted"] == 1
    assert list(config.serving.event_log_dir.glob("*.arrow"))  # on disk, one file per accepted batch
    with _app(served_world, config) as c:  # a new process over the same log: the unfollow was not lost
        assert not _visible(c, user, theirs, now)
        again = c.post("/events", json={"events": [_unfollow(user, account, now, 10**15 + 7)]}).json()
        assert (again["accepted"], again["duplicates"]) == (0, 1)  # and it is known, so a resend is a duplicate
    with _app(served_world, served_world.config()) as c:  # control: a fresh log forgets it
        assert _visible(c, user, theirs, now)


def test_an_unfollow_sent_to_one_worker_reaches_the_others(served_world: ServedWorld) -> None:
    config = served_world.config(sync_interval_s=3600)  # the test runs the maintenance pass itself
    with _app(served_world, config) as first, _app(served_world, config) as second:
        user, account, theirs = _fan_with_private_posts(first)
        now = first.app.state.service.now_ms()
        first.post("/events", json={"events": [_unfollow(user, account, now, 10**15 + 8)]})
        assert not _visible(first, user, theirs, now)
        assert _visible(second, user, theirs, now)  # control: not yet applied by the other worker
        second.app.state.service.maintain()
        assert not _visible(second, user, theirs, now)


def _follow(user: int, account: int, now: int, event_id: int) -> dict[str, object]:
    return _unfollow(user, account, now, event_id) | {"action": "follow"}


def test_a_follow_brings_the_accounts_posts_into_the_next_page(served_world: ServedWorld) -> None:
    with _app(served_world, served_world.config()) as c:
        service = c.app.state.service
        now = service.now_ms()
        data = service.data
        window = int(service.config.ranking.follow_feed_window_hours * 3_600_000)
        posts = data.tables["posts"]
        author, created = posts.column("account_id").to_numpy(), posts.column("created_at").cast("int64").to_numpy()
        public = pc.equal(posts.column("visibility"), "public").to_numpy(zero_copy_only=False)
        recent = public & (created >= now - window) & (created < now)
        busiest = np.bincount(author[recent]).argsort()[::-1]
        user = int(data.known_users[0])
        follows = set(data.catalog.followed(np.array([user]), now)[1].tolist())
        account = int(next(a for a in busiest if int(a) not in follows))
        theirs = set(posts.column("post_id").to_numpy()[recent & (author == account)].tolist())

        def page() -> set[int]:
            r = c.post("/rank", json={"user_id": user, "slot": "follow_feed", "k": 100, "context": {"now_ms": now}})
            assert r.status_code == 200 and r.json()["fallback"] is None, r.text
            return {i["id"] for i in r.json()["items"]}

        assert not page() & theirs  # control: not followed, not a follow-feed candidate
        assert c.post("/events", json={"events": [_follow(user, account, now, 10**15 + 9)]}).json()["accepted"] == 1
        assert page() & theirs
        assert account in data.catalog.followed(np.array([user]), now)[1].tolist()


@contextmanager
def _redis(workdir: Path) -> Iterator[tuple[str, int]]:
    """A real redis-server on loopback; yields its URL and pid (so the test can stop and resume it)."""
    port = free_port()
    cmd = [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
           "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    with running(cmd, port, 20, workdir / "redis.log") as proc:
        try:
            yield f"redis://127.0.0.1:{port}/0", proc.pid
        finally:
            os.kill(proc.pid, signal.SIGCONT)


@pytest.mark.slow
def test_redis_down_degrades_and_recovers_by_itself(served_world: ServedWorld, tmp_path: Path) -> None:
    with _redis(tmp_path) as (url, pid):
        config = served_world.config(sync_interval_s=3600)
        features = FeatureSettings(online_store="redis", redis_url=url, redis_prefix="ops", redis_timeout_s=0.3)
        config = ServiceConfig(config.serving, config.ranking, features, config.tracking_uri, config.registry_prefix,
                               config.model_cache)
        with _app(served_world, config) as c:
            s: ServiceState = c.app.state.service
            user, account, theirs = _fan_with_private_posts(c)
            now = s.now_ms()
            page = {"user_id": user, "slot": "follow_feed", "k": 10, "context": {"now_ms": now}}
            assert c.post("/rank", json=page).json()["fallback"] is None
            os.kill(pid, signal.SIGSTOP)  # Redis stops answering (connections hang until the timeout)
            s.maintain()
            ready = c.get("/ready")
            assert ready.status_code == 200 and ready.json()["degraded"], ready.text
            cached = c.post("/rank", json=page)  # counts read within this hour are remembered: still personalised
            assert cached.status_code == 200 and cached.json()["fallback"] is None
            other = {**page, "user_id": int(next(u for u in s.data.known_users if u != user))}
            down = c.post("/rank", json=other)  # a user whose counts must come from the store
            assert down.status_code == 200 and down.json()["items"]
            assert down.json()["fallback"] in ("recency", "stale", "popular")
            sent = c.post("/events", json={"events": [_unfollow(user, account, now, 10**15 + 9)]}).json()
            assert sent["accepted"] == 1 and sent["pending"] == 1  # logged, waiting for the store
            os.kill(pid, signal.SIGCONT)
            s.maintain()
            ready = c.get("/ready").json()
            assert not ready["degraded"], ready
            assert c.post("/rank", json=page).json()["fallback"] is None
            assert not _visible(c, user, theirs, now)  # the waiting unfollow was applied


def test_registry_watch_reloads_when_the_alias_moves(served_world: ServedWorld) -> None:
    with _app(served_world, served_world.config(sync_interval_s=3600, registry_poll_s=1e-9)) as c:
        s: ServiceState = c.app.state.service
        loads = []
        loader = s.load_models
        s.load_models = lambda config: (loads.append(1), loader(config))[1]
        s.probe_versions = lambda config: dict(s.engine.versions)
        s.maintain()
        assert loads == []  # nothing moved: nothing reloaded
        s.probe_versions = lambda config: {**s.engine.versions, "follow_feed": "weitao-follow_feed/99"}
        s.maintain()
        assert loads == [1]


def test_admin_promote_moves_the_alias_then_reloads(served_world: ServedWorld) -> None:
    calls: list[tuple[str, str]] = []

    def promoter(slot: str, action: str) -> Promotion:
        calls.append((slot, action))
        return Promotion(True, "challenger beats champion", 1, 2)

    app = create_app(served_world.config(), load_models=served_world.loader(), background=False, promoter=promoter)
    with TestClient(app) as c:
        before = models_of(c)["follow_feed"]
        assert c.post("/admin/promote", json={"slot": "follow_feed"}).status_code == 401
        assert c.post("/admin/promote", json={"slot": "follow_feed"},
                      headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert calls == []
        r = c.post("/admin/promote", json={"slot": "follow_feed", "action": "rollback"}, headers=AUTH)
        assert r.status_code == 200 and r.json()["moved"] and r.json()["reloaded"], r.text
        assert calls == [("follow_feed", "rollback")]
        assert models_of(c)["follow_feed"] is not before  # this worker reloaded
        bad = c.post("/admin/promote", json={"slot": "hotlist"}, headers=AUTH)
        assert bad.status_code == 422 and "slot" in bad.text
    with _app(served_world, served_world.config()) as c:
        r = c.post("/admin/promote", json={"slot": "follow_feed"}, headers=AUTH)
        assert r.status_code == 503 and "registry" in r.text


def test_an_event_flood_is_shed_with_429_and_ranking_goes_on(served_world: ServedWorld) -> None:
    from concurrent.futures import ThreadPoolExecutor

    limit = 50
    with _app(served_world, served_world.config(events_per_account_per_minute=limit)) as c:
        s: ServiceState = c.app.state.service
        posts = s.data.tables["posts"]
        post, author = int(posts.column("post_id")[0].as_py()), int(posts.column("account_id")[0].as_py())
        now, user = s.now_ms(), int(s.data.known_users[0])

        def flood(i: int) -> tuple[int, int]:  # ten times the account's limit, in batches of 10
            batch = [{"event_id": 10**16 + i * 10 + j, "user_id": user, "target_type": "post", "target_id": post,
                      "action": "click", "slot": "follow_feed", "source": "in_app", "event_time": iso(now - 9000 + j)}
                     for j in range(10)]
            r = c.post("/events", json={"events": batch})
            if r.status_code == 429:
                assert f"account {author}" in r.json()["detail"] and r.headers["retry-after"]
            return r.status_code, r.json().get("accepted", 0) if r.status_code == 200 else 0

        def rank(i: int) -> tuple[int, str | None]:
            r = c.post("/rank", json={"user_id": int(s.data.known_users[i]), "slot": "follow_feed", "k": 10})
            return r.status_code, r.json().get("fallback")

        with ThreadPoolExecutor(8) as pool:
            sent = pool.map(flood, range(10 * limit // 10))
            pages = list(pool.map(rank, range(40)))
            sent = list(sent)
    assert sum(n for _, n in sent) == limit  # exactly the limit got through; the rest was refused whole
    assert {code for code, _ in sent} == {200, 429}
    assert all(code == 200 and fallback is None for code, fallback in pages)  # ranking was not disturbed


def test_a_request_past_its_deadline_is_answered_by_the_fallback_chain(served_world: ServedWorld) -> None:
    page = {"slot": "follow_feed", "k": 10}
    with _app(served_world, served_world.config()) as c:  # control: the default deadline is met
        user = int(c.app.state.service.data.known_users[3])
        assert c.post("/rank", json={**page, "user_id": user}).json()["fallback"] is None
    with _app(served_world, served_world.config(deadline_ms=1e-6)) as c:
        r = c.post("/rank", json={**page, "user_id": user}).json()
        assert r["fallback"] in ("stale", "popular") and r["items"], r
        metrics = c.get("/metrics").text
        assert 'kind="over_deadline",route="rank"} 1.0' in metrics


def test_account_insights_show_reach_status_and_why(served_world: ServedWorld) -> None:
    with _app(served_world, served_world.config()) as c:
        s: ServiceState = c.app.state.service
        account = int(_private_posts(c)[1][0])
        r = c.get(f"/accounts/{account}/insights", params={"posts": 200})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["account"]["account_id"] == account and body["account"]["tier"] in ("W1", "W2", "W3", "W4", "H1")
        posts = s.data.tables["posts"]
        theirs = set(posts.column("post_id").to_numpy()[posts.column("account_id").to_numpy() == account].tolist())
        assert {p["post_id"] for p in body["posts"]} == theirs  # every post of the account, none of another's
        created = [p["created_ms"] for p in body["posts"]]
        assert created == sorted(created, reverse=True)
        fans_only = [p for p in body["posts"] if p["visibility"] == "fans_only" and p["status"] == "fans only"]
        assert fans_only and all(p["why"] for p in fans_only)
        assert any(p["post_fan_impressions"] for p in body["posts"])  # reach comes from the online features
        follows = read_table(s.config.serving.data_dir, "follows")
        open_ = pc.is_null(follows.column("unfollowed_at")).to_numpy(zero_copy_only=False)
        fans = int(np.sum(open_ & (follows.column("account_id").to_numpy() == account)))
        assert body["account"]["acct_followers"] == fans  # the live count of open follows
        assert len(c.get(f"/accounts/{account}/insights", params={"posts": 1}).json()["posts"]) == 1
        missing = c.get("/accounts/999999999/insights")
        assert missing.status_code == 404 and "account_id" in missing.text
        assert c.get(f"/accounts/{account}/insights", params={"posts": 0}).status_code == 422


def test_a_row_that_does_not_fit_the_page_log_is_dropped_alone(tmp_path: Path) -> None:
    from serving.pagelog import PageLog, read_pages

    log = PageLog(tmp_path, batch=10)
    good = ("r1", 1_000, 7, "follow_feed", 11, "post", 0, 0.5, 1.0, "m/1", "fs", "", "", ["fresh"])
    log.add([good, ("r2", 2**63, *good[2:]), good])  # the second row's time does not fit int64
    log.close()
    pages = read_pages(tmp_path)
    assert pages.num_rows == 2 and log.rows_dropped == 1 and set(pages.column("request_id").to_pylist()) == {"r1"}


def test_exploring_pages_carry_exact_propensities(served_world: ServedWorld) -> None:
    from ranking.request import RankRequest
    from serving.ranker import Exploration

    e = Exploration(share=0.3, pool=2)
    shown: dict[tuple[int, int], int] = {}
    explored, trials = 0, 4000
    for t in range(trials):
        order, propensity = e.arrange(RankRequest(5, "follow_feed", 3, 1_000 + t), 6)
        explored += not np.array_equal(order, np.arange(3))
        assert len(set(order.tolist())) == 3 and order.max() < 6
        for p, i in enumerate(order.tolist()):
            shown[(i, p)] = shown.get((i, p), 0) + 1
            assert propensity[p] == pytest.approx(0.7 * (i == p) + 0.3 / 6)
    for (i, p), n in shown.items():  # the logged propensity is the frequency the policy really has
        assert n / trials == pytest.approx(0.7 * (i == p) + 0.3 / 6, abs=0.02)
    assert 0.25 < explored / trials < 0.35
    again = e.arrange(RankRequest(5, "follow_feed", 3, 1_000), 6)
    assert np.array_equal(again[0], e.arrange(RankRequest(5, "follow_feed", 3, 1_000), 6)[0])  # replayable
    off = Exploration(0.0, 1).arrange(RankRequest(5, "follow_feed", 3, 1_000), 6)
    assert off[0].tolist() == [0, 1, 2] and off[1].tolist() == [1.0, 1.0, 1.0]
    with _app(served_world, served_world.config(explore_share=1.0)) as c:
        user = int(c.app.state.service.data.known_users[4])
        items = c.post("/rank", json={"user_id": user, "slot": "follow_feed", "k": 5}).json()["items"]
        assert items and all(i["propensity"] < 1 for i in items)
        assert [i["position"] for i in items] == list(range(len(items)))


def test_experiment_arms_pick_their_models_and_are_logged(served_world: ServedWorld, tmp_path: Path) -> None:
    from dataclasses import replace

    from serving.pagelog import read_pages
    from serving.settings import LayerSettings

    base = served_world.loader()

    def loader(config: ServiceConfig) -> dict:
        models = base(config)
        if config.serving.model_alias == "challenger":  # the treatment arm's models, told apart by version
            models = {slot: replace(m, version=f"challenger-{slot}") for slot, m in models.items()}
        return models

    layers = {"ranker": LayerSettings(arms={"control": {"share": 0.5}, "new": {"share": 0.5,
                                                                                "model_alias": "challenger"}}),
              "explore": LayerSettings(arms={"off": {"share": 0.7}, "on": {"share": 0.3, "explore_share": 1.0}})}
    config = served_world.config(experiments=layers, page_log_dir=tmp_path / "served")
    with TestClient(create_app(config, load_models=loader, background=False)) as c:
        s: ServiceState = c.app.state.service
        arms = {}
        for user in s.data.known_users[:60].tolist():
            r = c.post("/rank", json={"user_id": user, "slot": "follow_feed", "k": 5}).json()
            arm = s.ranker.experiments.assign(user)
            arms[user] = arm.label
            assert r["model_version"] == ("challenger-follow_feed" if "ranker=new" in arm.label
                                          else s.engine.versions["follow_feed"])
            if r["items"] and "explore=on" in arm.label:
                assert all(i["propensity"] < 1 for i in r["items"])
    assert {"ranker=control", "ranker=new"} <= {lab.split(";")[1] for lab in arms.values()}
    pages = read_pages(tmp_path / "served").to_pylist()
    assert pages and all(p["experiments"] == arms[p["user_id"]] for p in pages)
