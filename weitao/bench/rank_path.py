"""``weitao bench rank-path``: where one ``/rank`` spends its time in-process, stage by stage.

The service is built as ``weitao bench serve`` builds it (the bench world's settings, champions and data)
but driven without a network: each request body goes straight through the FastAPI application (request
validation, the handler, the ranker, the orjson response), so the figures hold the time the service spends
outside uvicorn and the HTTP floor. The model's own time on a request's rows is measured apart
(``predict_p50_ms``); ``non_model_p50_ms`` is what the service adds around it, the figure to drive down.
``batched_cpu_per_request_ms`` is the ranker's CPU per request when 1, 4 or 16 requests share a pass, as
they do in a busy worker (:mod:`serving.batcher`). ``after_idle`` times requests that each follow an idle
pause, as in the unloaded run of ``weitao bench serve`` (20 requests/s: 50 ms apart): back-to-back passes keep
caches warm, while a process that pauses between requests pays for refilling them, which is part of the gap
between this command's p50 and the HTTP one. It is the pause's length that costs, not sleeping: measured on
this 2-core virtual machine, a gap spent spinning in a tight loop (which keeps the CPU awake and touches almost
no memory) cost the ranker as much CPU as the same gap asleep, growing with the gap (3.45 ms back to back; a
further 0.1 ms after 0.2 ms, 0.3-0.4 after 3 ms, 0.6-1.0 after 10 ms, 1.0 after 50 ms): the request's data
leaves the caches the machine shares while the process is elsewhere.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psutil
from fastapi import FastAPI

from ranking.request import RankRequest
from serving.app import create_app
from serving.asgi import asgi_call
from serving.ranker import RankService
from serving.state import ServiceState
from weitao.bench.world import SLOT, BenchWorld, feature_matrix

#: Requests per pass for the batched figures (1: a request alone).
BATCHES = (1, 4, 16)
#: Idle pause before each request of the after-idle figure: the spacing of ``weitao bench serve``'s unloaded run.
IDLE_GAP_S = 0.05
#: Stages of the runner, in order (each component's own time is reported under its name too).
STAGES = ("sources", "filters", "scorer", "rules", "selectors")


def load_world(root: Path) -> BenchWorld:
    """A world prepared before (``weitao bench serve --workdir``, or :func:`prepare_world`) in ``root``."""
    bodies = root / "bodies.jsonl"
    if not (root / "weitao.toml").exists() or not bodies.exists():
        raise FileNotFoundError(f"{root}: no prepared bench world (weitao.toml and bodies.jsonl)")
    requests = [orjson.loads(line) for line in bodies.read_bytes().splitlines() if line.strip()]
    return BenchWorld(root, root / "data", root / "weitao.toml", requests)


class InProcessService:
    """The service's FastAPI app over a loaded :class:`ServiceState`, called as ASGI with no network."""

    def __init__(self, world: BenchWorld, served_dir: Path) -> None:
        config = world.service_config()
        serving = config.serving.model_copy(update={"page_log_dir": served_dir, "event_log_dir": served_dir / "ev",
                                                    "deadline_ms": 60_000.0})
        self.app: FastAPI = create_app(replace(config, serving=serving), background=False)
        self.state: ServiceState = self.app.state.service
        self.state.load()  # inline, and no background threads: only the request path runs
        if not self.state.ready:
            raise RuntimeError(f"service failed to load: {self.state.error}")
        self.loop = asyncio.new_event_loop()

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """Status and body of ``POST path`` with a JSON ``body``."""
        return self.loop.run_until_complete(asgi_call(self.app, "POST", path, body))

    def close(self) -> None:
        """Flush the page log and stop the loop."""
        self.state.close()
        self.loop.close()


def _timed(fn: Callable[[], Any], cpu: list[float] | None = None) -> tuple[Any, float]:
    """``fn()`` and its wall milliseconds; its CPU milliseconds (this thread's) appended to ``cpu``."""
    cpu_start, wall_start = time.thread_time_ns(), time.perf_counter_ns()
    out = fn()
    wall_ms = (time.perf_counter_ns() - wall_start) / 1e6
    if cpu is not None:
        cpu.append((time.thread_time_ns() - cpu_start) / 1e6)
    return out, wall_ms


def rank_path_figures(world: BenchWorld, served_dir: Path, repeats: int = 3, *, cpu_clock: bool = True,
                      on_step: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Per-stage and whole-request p50 over ``repeats`` passes of the world's requests (after one warm pass).

    With ``cpu_clock`` the runner times stages in this thread's CPU time: on a machine shared with other
    work, wall time mostly measures the neighbours.
    """
    svc = InProcessService(world, served_dir)
    try:
        data, ranker = svc.state.data, svc.state.ranker
        assert data is not None and ranker is not None  # loaded above
        if cpu_clock:
            ranker.runner.clock = time.thread_time_ns
        now = data.data_end_ms + 1_000  # pinned: every pass ranks the same pages
        bodies = [orjson.dumps({**r, "context": {"now_ms": now}}) for r in world.requests]
        requests = [RankRequest(r["user_id"], r["slot"], r["k"], now, r["candidates"], {"now_ms": now})
                    for r in world.requests]
        for body in bodies:  # warm-up: first calls pay for lazy imports and cold caches
            svc.post("/rank", body)
        on_step(f"timing {repeats} passes of {len(bodies)} requests in-process")
        app_ms: list[float] = []
        app_cpu: list[float] = []
        rank_ms: list[float] = []
        rank_cpu: list[float] = []
        stages: dict[str, list[float]] = {}
        for _ in range(repeats):  # interleaved, so a busy moment of the machine hits both alike
            for body, request in zip(bodies, requests, strict=True):
                (status, _), ms = _timed(partial(svc.post, "/rank", body), app_cpu)
                if status != 200:
                    raise RuntimeError(f"/rank answered {status}")
                app_ms.append(ms)
                served, ms = _timed(partial(ranker.rank, request), rank_cpu)
                rank_ms.append(ms)
                for name, value in served.timings_ms.items():
                    stages.setdefault(name, []).append(value)
        predict = _predict_p50(svc.state, world)
        after_idle = _after_idle(svc, bodies, IDLE_GAP_S)
        batched = {str(b): _batched_cpu_per_request(ranker, requests, b) for b in BATCHES}
    finally:
        svc.close()
    app_p50 = float(np.median(app_ms))
    return {"requests": len(bodies), "repeats": repeats, "candidates": len(world.requests[0]["candidates"]),
            "stage_clock": "thread CPU" if cpu_clock else "wall",
            "app_p50_ms": app_p50, "app_p99_ms": float(np.percentile(app_ms, 99)),
            # CPU time of the request's thread: less moved by other processes on a shared machine than wall time
            "app_cpu_p50_ms": float(np.median(app_cpu)),
            "rank_p50_ms": float(np.median(rank_ms)), "rank_cpu_p50_ms": float(np.median(rank_cpu)),
            "predict_p50_ms": predict, "non_model_p50_ms": float(np.median(app_cpu)) - predict,
            "stage_p50_ms": {k: float(np.median(v)) for k, v in stages.items() if k in STAGES},
            "component_p50_ms": {k: float(np.median(v)) for k, v in stages.items() if k not in STAGES},
            "batched_cpu_per_request_ms": batched, "after_idle": after_idle,
            "rss_mb": psutil.Process().memory_info().rss / 2**20}


def _after_idle(svc: InProcessService, bodies: list[bytes], gap_s: float) -> dict[str, float]:
    """p50 wall and CPU milliseconds of ``/rank`` when each request follows ``gap_s`` of sleep (one pass).

    CPU time that grows with the pause is refilling caches; wall time that grows beyond it is waiting to run.
    """
    wall: list[float] = []
    cpu: list[float] = []
    for body in bodies:
        time.sleep(gap_s)
        (status, _), ms = _timed(partial(svc.post, "/rank", body), cpu)
        if status != 200:
            raise RuntimeError(f"/rank answered {status}")
        wall.append(ms)
    return {"gap_ms": gap_s * 1e3, "app_p50_ms": float(np.median(wall)), "app_cpu_p50_ms": float(np.median(cpu))}


def _batched_cpu_per_request(ranker: RankService, requests: list[RankRequest], size: int) -> float:
    """p50 over passes of this thread's CPU milliseconds per request when ``size`` requests share a pass
    (``RankService.rank_many``, as a busy worker ranks what arrived meanwhile)."""
    ranker.rank_many(requests[:size])  # warm
    cpu: list[float] = []
    for start in range(0, len(requests) - size + 1, size):
        _timed(partial(ranker.rank_many, requests[start:start + size]), cpu)
    return float(np.median(cpu)) / size if cpu else float("nan")


def _predict_p50(state: ServiceState, world: BenchWorld, repeats: int = 200) -> float:
    """CPU milliseconds of the slot model alone (compiled when the service compiles) on the first request's rows
    (one thread: lleaves and LightGBM are called with one)."""
    engine = state.engine
    assert engine is not None and state.data is not None
    model = engine.models[SLOT]
    X = feature_matrix(state.data, model.affinity, world.requests[0])
    predict = getattr(model, "predict", None) or model.head.predict
    cpu: list[float] = []
    for _ in range(repeats + 10):
        _timed(lambda: predict(X), cpu)
    return float(np.median(cpu[10:]))
