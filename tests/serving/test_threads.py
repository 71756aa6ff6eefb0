"""64 threads scoring and ranking at once get bitwise the same scores and pages as one thread.

Each check compares every concurrent result with a single-threaded reference; the control plugs in a
predictor that shares one output buffer between calls and shows the same comparison catches the race.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ranking.base import RankContext
from ranking.request import RankRequest
from serving.app import create_app
from serving.models import Engine, SlotModel
from serving.ranker import RankService, Served
from serving.state import ServiceState
from tests.serving.conftest import ServedWorld, users

THREADS = 64
MODEL_SLOTS = ("follow_feed", "new_arrival")
T = TypeVar("T")
R = TypeVar("R")


def run_concurrently(fn: Callable[[T], R], inputs: Sequence[T], *, threads: int = THREADS,
                     per_thread: int | None = None) -> list[tuple[int, R]]:
    """``fn`` over ``inputs`` from ``threads`` threads released together by a barrier.

    Thread ``t`` takes ``per_thread`` inputs (default: all) starting at input ``t``, so at any moment the
    threads work on different inputs. Returns (input index, result) pairs; a thread's exception is raised.
    """
    n = len(inputs)
    per_thread = per_thread or n
    barrier = threading.Barrier(threads)

    def work(t: int) -> list[tuple[int, R]]:
        barrier.wait()
        return [((t + j) % n, fn(inputs[(t + j) % n])) for j in range(per_thread)]

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(work, t) for t in range(threads)]
        return [pair for f in futures for pair in f.result()]


def mismatches(reference: Sequence[Hashable], results: Sequence[tuple[int, Hashable]]) -> int:
    """How many concurrent results differ from the single-threaded result of the same input."""
    return sum(result != reference[i] for i, result in results)


def score_bytes(scores: np.ndarray) -> tuple[str, tuple[int, ...], bytes]:
    """Scores as dtype, shape and raw bytes: equal only if bitwise identical."""
    return str(scores.dtype), scores.shape, scores.tobytes()


def page_key(served: Served) -> tuple[Any, ...]:
    """Everything a page says except its random request id, scores as their float64 bit patterns."""
    return (served.model_version, served.fallback,
            tuple((i.id, i.type, struct.pack("<d", i.score), i.position, struct.pack("<d", i.propensity), i.reasons,
                   i.author_id, i.private) for i in served.items))


def model_predict(model: SlotModel) -> Callable[[np.ndarray], np.ndarray]:
    """What the service scores with: the compiled predictor when the model has one, else the LightGBM heads."""
    return getattr(model, "predict", None) or model.head.predict


def predictors(model: SlotModel) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """The served predictor and, when it is a compiled one, also the LightGBM heads it stands in for."""
    return {"served": model_predict(model), "lightgbm": model.head.predict}


class SharedBufferPredict:
    """A deliberately thread-unsafe predictor (the control): every call writes its scores into one buffer
    shared by all calls, lets other threads run, then reads the buffer back."""

    def __init__(self, inner: Callable[[np.ndarray], np.ndarray]) -> None:
        self.inner = inner
        self.buffer = np.zeros(1 << 16)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        scores = np.asarray(self.inner(X), dtype=np.float64)
        self.buffer[:len(scores)] = scores
        time.sleep(0)  # a thread switch between the write and the read, as in any unguarded shared buffer
        return self.buffer[:len(scores)].copy()


# ---------------------------------------------------------------- fixtures


@pytest.fixture()
def client(served_world: ServedWorld) -> Iterator[TestClient]:
    """The service with its per-request deadline out of reach.

    64 threads on a couple of cores take longer than ``serving.deadline_ms`` per request, and a request past
    its deadline is answered by the fallback chain by design: the pages would differ for timing reasons.
    What is compared here is the computation, so the deadline must never fire.
    """
    app = create_app(served_world.config(deadline_ms=1e9), load_models=served_world.loader(), background=False)
    with TestClient(app) as c:
        assert c.get("/ready").status_code == 200
        yield c


def _state(client: TestClient) -> ServiceState:
    return client.app.state.service


@pytest.fixture()
def now(client: TestClient) -> int:
    """One pinned request time for every call, so pages depend only on the request."""
    return _state(client).now_ms()


@pytest.fixture()
def feature_matrices(client: TestClient, now: int) -> dict[str, list[np.ndarray]]:
    """Real feature matrices of both model slots, captured from the service's own scorer while ranking."""
    s = _state(client)
    engine = s.engine
    out: dict[str, list[np.ndarray]] = {}
    for slot in MODEL_SLOTS:
        captured: list[np.ndarray] = []
        definition = engine.slots[slot]
        inner = definition.scorer.predict

        def record(X: np.ndarray, inner: Callable[[np.ndarray], np.ndarray] = inner,
                   captured: list[np.ndarray] = captured) -> np.ndarray:
            captured.append(np.array(X, copy=True))
            return inner(X)

        recording = replace(definition, scorer=replace(definition.scorer, predict=record))
        ctx = RankContext(s.data.catalog, s.data.seen)
        for user in users(client)[:60]:
            s.ranker.runner.run(recording, [RankRequest(int(user), slot, 50, now)], ctx)
        matrices = [X for X in captured if len(X)]
        assert len(matrices) >= 8, f"{slot}: only {len(matrices)} users had candidates to score"
        out[slot] = [*matrices[:23], np.concatenate(matrices)]  # small batches and one large one
    return out


@pytest.fixture()
def rank_requests(client: TestClient, now: int) -> list[RankRequest]:
    """Requests of the three slots whose pages are personalised and not empty (the model decides them)."""
    s = _state(client)
    picked: list[RankRequest] = []
    for slot in ("follow_feed", "new_arrival", "hotlist"):
        mine = []
        for user in users(client)[:80]:
            request = RankRequest(int(user), slot, 20, now, None, {"now_ms": now})
            served = s.ranker.rank(request)
            if served.fallback is None and len(served.items) >= 2:
                mine.append(request)
            if len(mine) == 8:
                break
        assert len(mine) >= 4, f"{slot}: too few users with a personalised page"
        picked += mine
    return picked


def _racy_engine(engine: Engine) -> Engine:
    slots = dict(engine.slots)
    for slot in MODEL_SLOTS:
        scorer = slots[slot].scorer
        slots[slot] = replace(slots[slot], scorer=replace(scorer, predict=SharedBufferPredict(scorer.predict)))
    return replace(engine, slots=slots)


# ---------------------------------------------------------------- the model's predict


@pytest.mark.parametrize("kind", ["served", "lightgbm"])
def test_64_threads_predict_bitwise_the_same_scores_as_one(client: TestClient, kind: str,
                                                           feature_matrices: dict[str, list[np.ndarray]]) -> None:
    for slot, matrices in feature_matrices.items():
        predict = predictors(_state(client).engine.models[slot])[kind]
        reference = [score_bytes(np.asarray(predict(X))) for X in matrices]
        assert reference == [score_bytes(np.asarray(predict(X))) for X in matrices]  # deterministic at all
        assert all(dtype == "float64" for dtype, _, _ in reference)
        assert len({r[2] for r in reference}) > 1  # the inputs differ, so a mixed-up answer is visible
        results = run_concurrently(lambda X, p=predict: score_bytes(np.asarray(p(X))), matrices, per_thread=12)
        assert len(results) == THREADS * 12
        assert mismatches(reference, results) == 0, slot


def test_control_a_predictor_sharing_a_buffer_is_caught(client: TestClient,
                                                        feature_matrices: dict[str, list[np.ndarray]]) -> None:
    matrices = feature_matrices["follow_feed"]
    racy = SharedBufferPredict(model_predict(_state(client).engine.models["follow_feed"]))
    reference = [score_bytes(racy(X)) for X in matrices]  # one thread: the shared buffer does no harm
    results = run_concurrently(lambda X: score_bytes(racy(X)), matrices, per_thread=12)
    assert mismatches(reference, results) > 0


# ---------------------------------------------------------------- RankService.rank


def test_64_threads_rank_bitwise_the_same_pages_as_one(client: TestClient, rank_requests: list[RankRequest]) -> None:
    ranker = _state(client).ranker
    reference = [page_key(ranker.rank(r)) for r in rank_requests]
    assert reference == [page_key(ranker.rank(r)) for r in rank_requests]
    results = run_concurrently(lambda r: page_key(ranker.rank(r)), rank_requests, per_thread=8)
    assert len(results) == THREADS * 8
    assert mismatches(reference, results) == 0


def test_control_rank_with_a_thread_unsafe_scorer_is_caught(client: TestClient,
                                                            rank_requests: list[RankRequest]) -> None:
    s = _state(client)
    engine = _racy_engine(s.engine)
    racy = RankService(lambda _alias: engine, s.data, s.ranker.runner, s.metrics, None, deadline_ms=1e9,
                       stale_ttl_s=0, experiments=s.ranker.experiments)
    model_requests = [r for r in rank_requests if r.slot in MODEL_SLOTS]
    reference = [page_key(racy.rank(r)) for r in model_requests]
    assert [v for v, *_ in reference] == [engine.versions[r.slot] for r in model_requests]
    results = run_concurrently(lambda r: page_key(racy.rank(r)), model_requests, per_thread=8)
    assert mismatches(reference, results) > 0


# ---------------------------------------------------------------- POST /rank through the app


def test_64_threads_through_the_app_get_the_same_pages_as_one(client: TestClient,
                                                              rank_requests: list[RankRequest]) -> None:
    bodies = [{"user_id": r.user_id, "slot": r.slot, "k": r.k, "context": {"now_ms": r.now_ms}} for r in rank_requests]

    def page(body: dict[str, Any]) -> tuple[Any, ...]:
        r = client.post("/rank", json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        del out["request_id"]
        return (out["model_version"], out["fallback"],
                tuple((i["id"], i["type"], struct.pack("<d", i["score"]), i["position"], tuple(i["reasons"]))
                      for i in out["items"]))

    reference = [page(b) for b in bodies]
    assert all(items for _, _, items in reference)
    results = run_concurrently(page, bodies, per_thread=4)
    assert len(results) == THREADS * 4
    assert mismatches(reference, results) == 0
