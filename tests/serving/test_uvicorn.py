"""`weitao serve` for real: uvicorn worker processes on loopback, champion models from an MLflow registry."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from features.storage import read_table
from serving.eventlog import EventLog
from tests.services import free_port, running
from tests.serving.conftest import ServedWorld
from training.registry import promote
from weitao.commands.train import train_and_register
from weitao.settings import load_settings


def _register(world: ServedWorld, root: Path, drain_s: float = 2.0) -> Path:
    """Train tiny rankers on the world, register them and make them champions; return the config file."""
    tracking = {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_root": str(root / "artifacts"),
                "model_cache": str(root / "cache")}
    settings = load_settings(None, tracking=tracking, rankers={"n_estimators": 5, "num_leaves": 4})
    tables = {n: read_table(world.data, n) for n in ("accounts", "users", "posts", "products", "follows", "events")}
    for slot in ("follow_feed", "new_arrival"):
        train_and_register(settings, tables, slot)
        assert promote(settings, slot, metric="ndcg_at_10", higher_is_better=True, min_delta=0.0).moved
    config = root / "weitao.toml"
    lines = ["[tracking]", *(f'{k} = "{v}"' for k, v in tracking.items()),
             "[serving]", f'page_log_dir = "{root / "served"}"', 'admin_token = "t0ken"',
             "events_per_account_per_minute = 1000000", "deadline_ms = 60000.0", f"drain_s = {drain_s}"]
    config.write_text("\n".join(lines) + "\n")
    return config


@pytest.mark.slow
def test_serve_answers_rank_from_registry_champions_and_stops_cleanly(served_world: ServedWorld,
                                                                      tmp_path: Path) -> None:
    config = _register(served_world, tmp_path)
    port = free_port()
    cmd = [sys.executable, "-m", "weitao", "--config", str(config), "serve", "--data", str(served_world.data),
           "--port", str(port), "--workers", "2"]
    with running(cmd, port, timeout=60, log=tmp_path / "serve.log") as proc:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, tmp_path / "serve.log", alive=lambda: proc.poll() is None)
        versions = httpx.get(f"{base}/ready").json()["model_versions"]
        assert versions["follow_feed"] == "weitao-follow_feed/1"
        users = read_table(served_world.data, "users").column("user_id").to_pylist()[:20]
        ok = 0
        for u in users:  # two workers: requests land on either, each loaded its own models after the fork
            r = post_when_loaded(f"{base}/rank", {"user_id": u, "slot": "follow_feed", "k": 5})
            assert r.status_code == 200, r.text
            ok += bool(r.json()["items"])
        assert ok > 0
        assert httpx.get(f"{base}/docs").status_code == 200
        answers = _sigterm_under_traffic(proc, base, served_world, users)
        assert proc.wait(timeout=40) == 0
    logged = list((tmp_path / "served").glob("pages-*.parquet"))
    assert logged, "served pages were not flushed on shutdown"
    # Every request that reached the service before SIGTERM was answered in full, none was cut off.
    statuses = [a for key, a in answers.items() if not isinstance(key, tuple)]
    assert len(statuses) == 33 and all(a == 200 or a == "not connected" for a in statuses), str(answers)
    accepted = sum(n for key, n in answers.items() if isinstance(key, tuple))
    on_disk = EventLog.read(sorted((tmp_path / "events").glob("*.arrow")))
    assert accepted > 0 and on_disk is not None and on_disk.num_rows == accepted  # no accepted event lost


@pytest.mark.slow
@pytest.mark.parametrize("drain_s", [3.0, 0.0])
def test_sigterm_drains_before_stopping(served_world: ServedWorld, tmp_path: Path, drain_s: float) -> None:
    """After SIGTERM the workers keep answering for ``serving.drain_s``, /ready saying "draining", then stop.

    With no drain (the control) a request sent just after SIGTERM is refused or reset, unanswered.
    """
    config = _register(served_world, tmp_path, drain_s=drain_s)
    port = free_port()
    cmd = [sys.executable, "-m", "weitao", "--config", str(config), "serve", "--data", str(served_world.data),
           "--port", str(port), "--workers", "2"]
    user = read_table(served_world.data, "users").column("user_id")[0].as_py()
    with running(cmd, port, timeout=60, log=tmp_path / "serve.log") as proc:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, tmp_path / "serve.log", alive=lambda: proc.poll() is None)
        assert post_when_loaded(f"{base}/rank", {"user_id": user, "slot": "follow_feed", "k": 5}).status_code == 200
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        time.sleep(0.5)  # uvicorn polls its stop flag every 0.1 s: without a drain the listener is closed by now
        try:
            with httpx.Client() as fresh:  # new connections, as a load balancer's would be
                ready = fresh.get(f"{base}/ready")
                ranked = fresh.post(f"{base}/rank", json={"user_id": user, "slot": "follow_feed", "k": 5})
            answered: object = (ready.status_code, ready.json()["detail"], ranked.status_code)
        except httpx.TransportError as e:
            answered = type(e).__name__
        within = time.monotonic() - sent
        assert proc.wait(timeout=40) == 0
        stopped_after = time.monotonic() - sent
    if drain_s:
        assert within < drain_s, "the probe came too late to test the drain"
        assert answered == (503, "draining", 200)
        assert stopped_after >= drain_s
    else:  # refused, or (ReadError) accepted by the kernel for a listener that closed: reset unanswered
        assert answered in ("ConnectError", "ReadError", "RemoteProtocolError"), answered


def wait_ready(base: str, log: Path, *, timeout: float = 60.0, in_a_row: int = 20,
               alive: Callable[[], bool] = lambda: True) -> None:
    """Poll ``/ready`` on fresh connections until ``in_a_row`` answers running are 200 (the log on failure).

    Each worker loads on its own and answers 503 meanwhile. Workers accept from one shared socket, whichever is
    quicker, so even many 200s in a row do not prove that a slow, still-loading worker is ready: requests that
    must reach every worker retry a 503 (:func:`post_when_loaded`).
    """
    deadline, streak = time.monotonic() + timeout, 0
    while streak < in_a_row:
        assert alive() and time.monotonic() < deadline, log.read_text()
        with httpx.Client() as fresh:
            streak = streak + 1 if fresh.get(f"{base}/ready").status_code == 200 else 0
        if not streak:
            time.sleep(0.2)


def post_when_loaded(url: str, body: dict[str, object], timeout: float = 60.0) -> httpx.Response:
    """POST ``body``, again while a worker still loading answers 503; any other answer is returned."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.post(url, json=body)
        if r.status_code != 503 or "loading" not in r.text or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def _sigterm_under_traffic(proc: subprocess.Popen[bytes], base: str, world: ServedWorld,
                           users: list[int]) -> dict[object, object]:
    """Send SIGTERM while event batches and pages are in flight; return each request's outcome.

    Keys: ("events", i) -> accepted rows (only when answered 200); i -> status or "not connected".
    """
    posts = read_table(world.data, "posts")
    post = int(posts.column("post_id")[0].as_py())
    end = int(read_table(world.data, "events").column("event_time").cast("int64").to_numpy().max())  # data clock
    out: dict[object, object] = {}

    def events(i: int) -> None:
        batch = [{"event_id": 10**15 + i * 10_000 + j, "user_id": users[j % len(users)], "target_type": "post",
                  "target_id": post, "action": "impression", "slot": "follow_feed", "source": "in_app",
                  "event_time": datetime.fromtimestamp((end - 10**6 + j) / 1000, UTC).isoformat()}
                 for j in range(3_000)]
        _call(out, f"e{i}", lambda: httpx.post(f"{base}/events", json={"events": batch}, timeout=60),
              lambda r: out.__setitem__(("events", i), r.json()["accepted"]))

    def rank(i: int) -> None:
        _call(out, i, lambda: httpx.post(f"{base}/rank", json={"user_id": users[i % len(users)],
                                                                "slot": "follow_feed", "k": 10}, timeout=60))

    threads = [threading.Thread(target=events, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=rank, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    time.sleep(0.3)  # the batches are being validated and written now
    proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(timeout=60)
    return out


def _call(out: dict[object, object], key: object, send: Callable[[], httpx.Response],
          on_ok: Callable[[httpx.Response], object] = lambda r: None) -> None:
    try:
        r = send()
    except httpx.ConnectError:  # sent after the listener closed: the client retries elsewhere
        out[key] = "not connected"
        return
    except httpx.HTTPError as e:  # a request the service accepted and then dropped
        out[key] = repr(e)
        return
    out[key] = r.status_code
    if r.status_code == 200:
        on_ok(r)
