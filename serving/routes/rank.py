"""``POST /rank``: one ranked page, through the worker's batcher (requests arriving together share a pass)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from fastapi import APIRouter, HTTPException

from ranking.request import RankRequest
from serving.batcher import RankBatcher
from serving.ranker import Served, context_now
from serving.responses import OrjsonResponse
from serving.routes.deps import Ready
from serving.schemas import RankBody, RankResponse
from serving.state import ServiceState

MAX_MS = 253_402_300_800_000  # 10000-01-01: request times past it are not times


def rank_router(state: ServiceState, max_batch: int) -> APIRouter:
    """The ``/rank`` route over ``state``'s ranker, batching up to ``max_batch`` requests per pass."""
    router = APIRouter()

    def rank_many(arrivals: Sequence[tuple[RankRequest, float]]) -> list[Served]:
        assert state.ranker is not None  # requests reach the batcher only once the service is ready
        return state.ranker.rank_many([r for r, _ in arrivals], [t for _, t in arrivals])

    batcher: RankBatcher[tuple[RankRequest, float], Served] = RankBatcher(rank_many, max_batch)

    @router.post("/rank", response_model=RankResponse)
    async def rank(body: RankBody, s: Ready) -> OrjsonResponse:
        """One ranked page: items with score, position, propensity and reasons."""
        served = await batcher.rank((to_request(body, s), time.perf_counter()))
        return OrjsonResponse({
            "request_id": served.request_id, "model_version": served.model_version, "fallback": served.fallback,
            "items": [{"id": i.id, "type": i.type, "score": i.score, "position": i.position,
                       "propensity": i.propensity, "reasons": list(i.reasons)} for i in served.items]})

    return router


def to_request(body: RankBody, s: ServiceState) -> RankRequest:
    """The domain request, or a 4xx naming the field that is wrong."""
    limits = s.config.serving
    if body.k > limits.max_k:
        raise HTTPException(422, f"k: {body.k} is more than serving.max_k = {limits.max_k}")
    data = s.data
    pos = np.searchsorted(data.known_users, body.user_id)
    if pos >= len(data.known_users) or data.known_users[pos] != body.user_id:
        raise HTTPException(404, f"user_id: unknown user {body.user_id}")
    ids = None
    if body.candidates is not None:
        ids = _candidate_ids(body, s)
    now = context_now(body.context, s.now_ms())
    if not 0 <= now < MAX_MS:
        raise HTTPException(422, f"context.now_ms: {now} is not a time in milliseconds since 1970 (0 to {MAX_MS})")
    # The id array checked here goes on as the candidates: the ranker need not convert the list again.
    return RankRequest(body.user_id, body.slot, body.k, now, ids, dict(body.context))


def _candidate_ids(body: RankBody, s: ServiceState) -> np.ndarray:
    """The request's candidates as an id array, or a 422 naming the first bad one."""
    candidates = body.candidates or []
    if not candidates:
        raise HTTPException(422, "candidates: empty list; omit the field to rank the slot's own candidates")
    if len(candidates) > s.config.serving.max_candidates:
        raise HTTPException(422, f"candidates: {len(candidates)} ids; the most is {s.config.serving.max_candidates}")
    ids = np.asarray(candidates, np.int64)
    catalog = s.data.catalog
    rows = catalog.product_rows(ids) if body.slot == "new_arrival" else catalog.post_rows(ids)
    if (rows < 0).any():
        bad = int(np.flatnonzero(rows < 0)[0])
        kind = "product" if body.slot == "new_arrival" else "post"
        raise HTTPException(422, f"candidates[{bad}]: unknown {kind} id {candidates[bad]}")
    return ids
