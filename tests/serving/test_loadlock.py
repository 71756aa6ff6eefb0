"""Workers load one at a time: a service's load waits while another holds the load lock."""

from __future__ import annotations

import fcntl
import multiprocessing as mp
import threading
import time
from pathlib import Path

from serving.app import create_app
from serving.loadlock import one_at_a_time
from serving.state import LOAD_LOCK
from tests.serving.conftest import ServedWorld


def _hold(path: str, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    with one_at_a_time(Path(path)):
        start = time.monotonic()
        time.sleep(seconds)
        out.put((start, time.monotonic()))


def test_two_processes_hold_the_lock_one_after_the_other(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_hold, args=(str(tmp_path / "run" / LOAD_LOCK), 0.4, out)) for _ in range(2)]
    for p in procs:
        p.start()
    spans = sorted(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    assert all(p.exitcode == 0 for p in procs)
    (_, first_end), (second_start, _) = spans
    assert second_start >= first_end  # no overlap: the second waited for the first


def test_a_dead_holder_does_not_block(tmp_path: Path) -> None:
    path = tmp_path / LOAD_LOCK
    f = path.open("a+b")
    fcntl.flock(f, fcntl.LOCK_EX)
    f.close()  # as when a loading worker dies: its file closes and the lock goes with it
    with one_at_a_time(path):
        pass


def test_the_service_loads_only_once_the_lock_is_free(served_world: ServedWorld) -> None:
    config = served_world.config()
    app = create_app(config, load_models=served_world.loader(), background=False)
    state = app.state.service
    lock = config.serving.page_log_dir.parent / LOAD_LOCK
    with lock.open("a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # another worker is loading
        loader = threading.Thread(target=state.load)
        loader.start()
        time.sleep(1.0)
        assert not state.ready and state.error is None and state.data is None
        fcntl.flock(f, fcntl.LOCK_UN)
        loader.join(timeout=120)
    assert state.ready, state.error
    state.close()
