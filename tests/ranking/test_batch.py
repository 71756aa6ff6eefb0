"""One batch of many requests serves exactly the pages that the same requests get one by one."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.base import RankContext, SlotDefinition
from ranking.frame import POST, PRODUCT
from ranking.request import RankRequest, RequestBatch
from ranking.runner import Runner
from ranking.scorers.callable import CallableScorer
from ranking.seen import InMemorySeenStore
from ranking.settings import RankingSettings
from ranking.slots import follow_feed_slot, new_arrival_slot
from tests.ranking.worlds import DAY, RandomWorld, random_world

N = 1_000


def _score(frame) -> np.ndarray:  # type: ignore[no-untyped-def]
    # Depends on the row only (never on the batch), with deliberate ties (100 levels).
    return ((frame.item_id * 2654435761) % 100) / 100.0


@pytest.fixture(scope="module")
def world() -> RandomWorld:
    return random_world(np.random.default_rng(2026))


def _context(world: RandomWorld, rng: np.random.Generator) -> RankContext:
    seen = InMemorySeenStore()
    n = 20_000
    types = rng.choice([POST, PRODUCT], n)
    items = np.where(types == POST, rng.choice(world.post_id, n), rng.choice(world.product_id, n))
    seen.record(rng.choice(world.user_id, n), types, items, rng.choice(world.account_id, n),
                world.start_ms + rng.integers(0, 10 * DAY, n))
    return RankContext(catalog=world.catalog, seen=seen)


def _requests(world: RandomWorld, rng: np.random.Generator, slot: str, ids: np.ndarray) -> list[RankRequest]:
    out = []
    for _ in range(N):
        provided = rng.choice(ids, rng.integers(1, 6)).tolist() if rng.random() < 0.3 else None
        out.append(RankRequest(int(rng.choice(world.user_id)), slot, int(rng.integers(0, 15)),
                               int(world.start_ms + 3 * DAY + rng.integers(0, 7 * DAY)), provided))
    return out


@pytest.mark.parametrize("which", ["follow_feed", "new_arrival"])
def test_a_batch_equals_requests_one_by_one(world: RandomWorld, which: str) -> None:
    rng = np.random.default_rng(7)
    ctx = _context(world, rng)
    settings = RankingSettings(fatigue_max_impressions=2, author_cap=2, diversity_weight=0.4)
    make = follow_feed_slot if which == "follow_feed" else new_arrival_slot
    slot: SlotDefinition = make(settings, CallableScorer(fn=_score))
    reqs = _requests(world, rng, which, world.post_id if which == "follow_feed" else world.product_id)
    runner = Runner.from_settings(settings)
    batch = runner.run(slot, RequestBatch.of(reqs), ctx)
    assert batch.counters.get("failed", 0) == 0
    served = 0
    for i, request in enumerate(reqs):
        alone = runner.run(slot, [request], ctx).page(0)
        page = batch.page(i)
        assert page.item_id.tolist() == alone.item_id.tolist(), i
        assert page.extra["position"].tolist() == alone.extra["position"].tolist()
        assert page.score.tolist() == alone.score.tolist()
        assert [page.explain(j) for j in range(len(page))] == [alone.explain(j) for j in range(len(alone))]
        served += len(page)
    # The test means something only if pages are full and every rule had work to do.
    assert served > 3 * N
    assert batch.frame.has_reason("author cap").any() and batch.frame.has_reason("diversity re-rank").any()
    assert any(n.startswith("preferred shop") for n in batch.frame.reason_names)
    for name in ("filters/already_seen", "filters/fatigue", "filters/h1_excluded"):
        assert batch.counters[f"{name}:dropped"] > 0, name
