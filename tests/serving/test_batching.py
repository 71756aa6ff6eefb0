"""Requests ranked together in one pass get exactly the pages they get alone; the app forms such passes.

``RankService.rank_many`` runs requests of one slot and arm through the runner as one batch. Every page
must be bitwise the page of the same request ranked alone, whatever else shares its pass. Through the app,
concurrent requests reach :class:`serving.batcher.RankBatcher` in one turn of the event loop and share a
pass; the control sets ``max_batch=1`` and sees one pass per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import httpx
import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from ranking.request import RankRequest
from serving.app import create_app
from serving.batcher import MAX_DEFERRALS, RankBatcher
from serving.state import ServiceState
from tests.serving.conftest import ServedWorld, users
from tests.serving.test_threads import page_key


def _state(client: TestClient) -> ServiceState:
    return client.app.state.service


def _passes(s: ServiceState) -> tuple[float, float]:
    """(passes, requests) the batch-size histogram has seen."""
    samples = {m.name: m for m in s.metrics.batch_size.collect()}["weitao_rank_batch_size"].samples
    value = {x.name: x.value for x in samples}
    return value["weitao_rank_batch_size_count"], value["weitao_rank_batch_size_sum"]


@pytest.fixture()
def client(served_world: ServedWorld) -> Iterator[TestClient]:
    # no deadline: pages are compared for their computation, not for how fast a loaded machine made them
    app = create_app(served_world.config(deadline_ms=1e9), load_models=served_world.loader(), background=False)
    with TestClient(app) as c:
        assert c.get("/ready").status_code == 200
        yield c


def _mixed_requests(client: TestClient) -> list[RankRequest]:
    """Requests of all three slots, two page sizes, users in a shuffled order (fallback pages included)."""
    now = _state(client).now_ms()
    rng = np.random.default_rng(7)
    people = rng.permutation(users(client)[:40])
    return [RankRequest(int(u), slot, k, now, None, {"now_ms": now})
            for i, u in enumerate(people) for slot, k in (("follow_feed", 20 if i % 2 else 5), ("new_arrival", 10),
                                                          ("hotlist", 20))]


def test_pages_ranked_together_are_the_pages_ranked_alone(client: TestClient) -> None:
    ranker = _state(client).ranker
    requests = _mixed_requests(client)
    alone = [page_key(ranker.rank(r)) for r in requests]
    before = _passes(_state(client))
    together = [page_key(s) for s in ranker.rank_many(requests)]
    assert together == alone
    assert sum(f is None for _, f, _ in alone) > len(requests) // 2  # mostly personalised pages, not fallbacks
    passes, ranked = _passes(_state(client))
    assert (passes - before[0], ranked - before[1]) == (1, len(requests))


def test_a_batch_of_one_request_per_slot_answers_each_slot(client: TestClient) -> None:
    ranker = _state(client).ranker
    requests = _mixed_requests(client)[:3]
    served = ranker.rank_many(requests)
    kinds = [{i.type for i in s.items} for s in served]
    assert kinds[0] <= {"post"} and kinds[1] == {"product"} and kinds[2] <= {"post"}


async def _post_all(client: TestClient, bodies: Sequence[bytes]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=client.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        return list(await asyncio.gather(*(http.post("/rank", content=b, headers={"content-type": "application/json"})
                                           for b in bodies)))


def _bodies(client: TestClient) -> list[bytes]:
    return [orjson.dumps({"user_id": r.user_id, "slot": r.slot, "k": r.k, "context": {"now_ms": r.now_ms}})
            for r in _mixed_requests(client)[:24]]


def _without_id(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 200, response.text
    body = response.json()
    body.pop("request_id")
    return body


def test_concurrent_requests_share_passes_and_get_their_own_pages(client: TestClient) -> None:
    bodies = _bodies(client)
    alone = [_without_id(client.post("/rank", content=b, headers={"content-type": "application/json"}))
             for b in bodies]
    before = _passes(_state(client))
    together = [_without_id(r) for r in asyncio.run(_post_all(client, bodies))]
    assert together == alone
    passes, ranked = _passes(_state(client))
    assert ranked - before[1] == len(bodies)
    assert passes - before[0] <= len(bodies) / 4  # max_batch 16: 24 requests in a couple of passes


def test_control_max_batch_one_ranks_every_request_alone(served_world: ServedWorld) -> None:
    app = create_app(served_world.config(deadline_ms=1e9, max_batch=1), load_models=served_world.loader(),
                     background=False)
    with TestClient(app) as c:
        bodies = _bodies(c)
        before = _passes(_state(c))
        assert all(r.status_code == 200 for r in asyncio.run(_post_all(c, bodies)))
        passes, ranked = _passes(_state(c))
    assert (passes - before[0], ranked - before[1]) == (len(bodies), len(bodies))


# ---------------------------------------------------------------- RankBatcher alone


def _run(batcher: RankBatcher[int, int], requests: Sequence[int]) -> list[int | BaseException]:
    async def go() -> list[int | BaseException]:
        return list(await asyncio.gather(*(batcher.rank(q) for q in requests), return_exceptions=True))
    return asyncio.run(go())


def test_batcher_caps_passes_and_answers_in_order() -> None:
    passes: list[list[int]] = []

    def rank_many(qs: Sequence[int]) -> list[int]:
        passes.append(list(qs))
        return [q * 10 for q in qs]

    assert _run(RankBatcher(rank_many, max_batch=4), list(range(10))) == [q * 10 for q in range(10)]
    assert passes == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_batcher_hands_a_failure_to_every_request_of_the_pass() -> None:
    def rank_many(qs: Sequence[int]) -> list[int]:
        raise RuntimeError("broken pass")

    out = _run(RankBatcher(rank_many, max_batch=8), [1, 2, 3])
    assert all(isinstance(o, RuntimeError) and str(o) == "broken pass" for o in out)


def test_batcher_skips_a_request_whose_client_went_away() -> None:
    seen: list[int] = []

    def rank_many(qs: Sequence[int]) -> list[int]:
        seen.extend(qs)
        return list(qs)

    async def go() -> list[int | BaseException]:
        batcher = RankBatcher(rank_many, max_batch=8)
        tasks = [asyncio.ensure_future(batcher.rank(q)) for q in (1, 2, 3)]
        await asyncio.sleep(0)  # every request is waiting; the pass is scheduled, not run
        tasks[1].cancel()
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    out = asyncio.run(go())
    assert out[0] == 1 and out[2] == 3 and isinstance(out[1], asyncio.CancelledError)
    assert seen == [1, 3]


def test_batcher_refuses_an_empty_batch_size() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        RankBatcher(lambda qs: list(qs), max_batch=0)


def _staggered(batcher: RankBatcher[int, int], turns: Sequence[int]) -> list[int]:
    """Request ``i`` reaches the batcher after ``turns[i]`` turns of the loop."""
    async def one(q: int, turn: int) -> int:
        for _ in range(turn):
            await asyncio.sleep(0)
        return await batcher.rank(q)

    async def go() -> list[int]:
        return list(await asyncio.gather(*(one(q, t) for q, t in enumerate(turns))))
    return asyncio.run(go())


def test_a_pass_waits_for_requests_a_turn_behind_but_a_lone_request_does_not() -> None:
    passes: list[list[int]] = []

    def rank_many(qs: Sequence[int]) -> list[int]:
        passes.append(list(qs))
        return list(qs)

    assert _staggered(RankBatcher(rank_many, max_batch=16), [0, 0, 1, 2]) == [0, 1, 2, 3]
    assert passes == [[0, 1, 2, 3]]  # two arrived together, so the pass waited while others kept joining
    passes.clear()
    _staggered(RankBatcher(rank_many, max_batch=16), [0, 1])
    assert passes == [[0], [1]]  # a lone request is ranked at once
    passes.clear()
    _staggered(RankBatcher(rank_many, max_batch=16), [0, 0, *range(1, 9)])
    # the wait is bounded: the pass stops waiting after MAX_DEFERRALS turns; later requests come alone
    assert passes == [list(range(2 + MAX_DEFERRALS)), *([q] for q in range(2 + MAX_DEFERRALS, 10))]


def _latency_sum(s: ServiceState) -> float:
    return sum(x.value for m in s.metrics.latency.collect() for x in m.samples if x.name.endswith("_sum"))


def test_latency_counts_from_each_requests_arrival(client: TestClient) -> None:
    import time

    s = _state(client)
    requests = _mixed_requests(client)[:3]
    before = _latency_sum(s)
    s.ranker.rank_many(requests, [time.perf_counter() - 10.0] * 3)  # they came in ten seconds ago
    waited = _latency_sum(s) - before
    assert waited >= 3 * 10_000
    before = _latency_sum(s)
    s.ranker.rank_many(requests)  # the control: from the pass's start, far less than ten seconds each
    assert _latency_sum(s) - before < 3 * 10_000
