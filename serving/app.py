"""The FastAPI app: thin routes over :class:`~serving.state.ServiceState`.

``create_app(config)`` returns an app whose lifespan indexes the data and loads the champion models in a
background thread (``/health`` answers at once, ``/ready`` turns true when loading is done), and flushes
the page log on shutdown.
"""


import hmac
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated

import numpy as np
import orjson
import pyarrow as pa
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from features.validate_base import ContractError
from ranking.request import RankRequest
from serving.batcher import RankBatcher
from serving.champions import ManifestModels, RegistrySource
from serving.config import ServiceConfig
from serving.events import RateLimited
from serving.insights import PeerCache, UnknownAccount, account_insights
from serving.limits import BodyLimit
from serving.models import champion_versions, load_champions
from serving.operator import amplification_view
from serving.pages import CSP, wants_html
from serving.pages.insights import insights_page
from serving.pages.operator import operator_page
from serving.ranker import Served, context_now
from serving.responses import OrjsonResponse
from serving.schemas import (
    ErrorBody,
    EventsBody,
    EventsResponse,
    HotlistResponse,
    InsightsResponse,
    PromoteBody,
    PromoteResponse,
    RankBody,
    RankResponse,
    ReadyResponse,
    ReloadResponse,
)
from serving.schemas_operator import AmplificationResponse
from serving.state import ModelLoader, Promoter, ServiceState, VersionProbe

bearer = HTTPBearer(auto_error=False)
MAX_MS = 253_402_300_800_000  # 10000-01-01: request times past it are not times
# Declared on every route, with one body (ErrorBody), so a client can rely on the schema for errors too.
ERRORS = {400: "malformed body", 401: "admin: missing token", 403: "admin: wrong token", 404: "unknown id",
          409: "reload refused: the old model keeps serving", 413: "body too large", 422: "invalid field",
          429: "rate limited", 503: "not ready, or not available in this service"}


def _field_errors(exc: RequestValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]


def create_app(config: ServiceConfig, *, load_models: ModelLoader = load_champions, background: bool = True,
               promoter: Promoter | None = None) -> FastAPI:
    """The service.

    ``load_models`` replaces the registry loader in tests (the registry watch runs only with the registry
    loader); ``background=False`` loads inline; ``promoter`` moves registry aliases for ``/admin/promote``
    (the service itself only reads the registry, so the caller supplies it).
    """
    probe: VersionProbe | None = champion_versions if load_models is load_champions else None
    refresh = None
    manifest = config.serving.champion_manifest
    if load_models is load_champions and manifest is not None:  # under `weitao serve`: see serving.champions
        models = ManifestModels(manifest, RegistrySource.of(config))
        load_models, probe, refresh = models.load, models.versions, models.refresh
    state = ServiceState(config, load_models, probe_versions=probe, refresh_models=refresh)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if background:
            threading.Thread(target=state.load, name="load", daemon=True).start()
        else:
            state.load()
        state.start_background()
        yield
        state.close()

    errors = {code: {"model": ErrorBody, "description": why} for code, why in ERRORS.items()}
    app = FastAPI(title="Weitao ranking service", default_response_class=OrjsonResponse, lifespan=lifespan,
                  responses=errors)
    app.state.service = state
    app.add_middleware(BodyLimit, max_bytes=config.serving.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> OrjsonResponse:
        route = request.url.path.strip("/").split("/")[0] or "root"
        state.metrics.errors.labels(route=route, kind="invalid").inc()
        errors = _field_errors(exc)
        return OrjsonResponse({"detail": "; ".join(errors), "errors": errors}, status_code=422)

    def rank_many(arrivals: Sequence[tuple[RankRequest, float]]) -> list[Served]:
        assert state.ranker is not None  # requests reach the batcher only once the service is ready
        return state.ranker.rank_many([r for r, _ in arrivals], [t for _, t in arrivals])

    batcher: RankBatcher[tuple[RankRequest, float], Served] = RankBatcher(rank_many, config.serving.max_batch)

    async def ready_state() -> ServiceState:  # async: a plain function would cost every request a thread hop
        if not state.ready:
            raise HTTPException(503, state.error or "loading: data and models are not ready yet")
        return state

    async def admin(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        token = config.serving.admin_token.get_secret_value()
        if creds is None:
            raise HTTPException(401, "admin: missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        if not token or not hmac.compare_digest(creds.credentials.encode(), token.encode()):
            raise HTTPException(403, "admin: wrong bearer token")

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness only: the process answers."""
        return {"status": "ok"}

    @app.get("/ready", response_model=ReadyResponse)
    async def ready() -> OrjsonResponse:
        """Whether data and models are loaded (503 until they are)."""
        engine = state.engine
        detail = state.error or ((state.degraded or "ready") if state.ready else "loading")
        body = ReadyResponse(ready=state.ready, degraded=state.degraded is not None, detail=detail,
                             model_versions=engine.versions if engine else {},
                             compiled={s: m.compiled for s, m in engine.models.items()} if engine else {})
        return OrjsonResponse(body.model_dump(), status_code=200 if state.ready else 503)

    @app.post("/rank", response_model=RankResponse)
    async def rank(body: RankBody, s: Annotated[ServiceState, Depends(ready_state)]) -> OrjsonResponse:
        """One ranked page: items with score, position, propensity and reasons."""
        served = await batcher.rank((_to_request(body, s), time.perf_counter()))
        return OrjsonResponse({
            "request_id": served.request_id, "model_version": served.model_version, "fallback": served.fallback,
            "items": [{"id": i.id, "type": i.type, "score": i.score, "position": i.position,
                       "propensity": i.propensity, "reasons": list(i.reasons)} for i in served.items]})

    @app.post("/events", response_model=EventsResponse)
    def events(body: EventsBody, s: Annotated[ServiceState, Depends(ready_state)]) -> EventsResponse:
        """A batch of events: idempotent by event id, rate-limited per account (429 past the limit).

        Accepted rows are on disk (the event log) before the answer. Runs in the thread pool, so writing
        and applying a batch never holds up ``/rank`` on the event loop.
        """
        if len(body.events) > config.serving.max_events_per_batch:
            raise HTTPException(422, f"events: {len(body.events)} events in one batch; the most is "
                                     f"{config.serving.max_events_per_batch}")
        try:
            raw = pa.Table.from_pylist(body.events)
            result = s.intake.ingest(raw, s.now_ms())
        except RateLimited as e:
            s.metrics.events.labels(outcome="rate_limited").inc(len(body.events))
            raise HTTPException(429, str(e), headers={"Retry-After": "60"}) from None
        except (ContractError, pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
            s.metrics.events.labels(outcome="invalid").inc(len(body.events))
            raise HTTPException(422, f"events: {e}") from None
        for outcome, n in (("accepted", result.accepted), ("duplicate", result.duplicates),
                           ("quarantined", len(result.quarantined))):
            s.metrics.events.labels(outcome=outcome).inc(n)
        return EventsResponse(rows_in=result.rows_in, accepted=result.accepted, duplicates=result.duplicates,
                              pending=result.pending,
                              quarantined=[{"row": orjson.loads(orjson.dumps(q["row"], default=str)),
                                            "reason": q["reason"]} for q in result.quarantined])

    @app.get("/hotlist", response_model=HotlistResponse)
    async def hotlist(s: Annotated[ServiceState, Depends(ready_state)]) -> HotlistResponse:
        """The posts on the picked-hot-list board now (official picks and amplified posts)."""
        b = s.data.board.state
        order = np.argsort(-b.weight, kind="stable")
        return HotlistResponse(items=[{"id": int(b.post_ids[i]), "weight": float(b.weight[i]),
                                       "official": bool(b.official[i])} for i in order])

    @app.get("/amplification", response_model=AmplificationResponse,
             responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                              "description": "JSON; the operator's page, refreshing itself, for Accept: text/html"}})
    def amplification(request: Request, s: Annotated[ServiceState, Depends(ready_state)],
                      limit: Annotated[int, Query(ge=1, le=500, description="Board posts and moves to list.")] = 50
                      ) -> Response:
        """The amplification gate live: posts per level, pool capacity and fill, the hotlist with reasons."""
        body = amplification_view(s.data.gate, s.data.board.state, s.now_ms(), limit)
        if wants_html(request.headers.get("accept")):
            return HTMLResponse(operator_page(body), headers={"Content-Security-Policy": CSP})
        return OrjsonResponse(body)

    peers = PeerCache()  # every account's figures, per hour of request time: the peer comparison reads them

    @app.get("/accounts/{account_id}/insights", response_model=InsightsResponse,
             responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                              "description": "JSON; a server-rendered page with charts for Accept: text/html"}})
    def insights(account_id: int, request: Request, s: Annotated[ServiceState, Depends(ready_state)],
                 posts: Annotated[int, Query(ge=1, le=200, description="Newest posts to include.")] = 20
                 ) -> Response:
        """An account's LINK+ funnel, revisits, best posting hour, tier progress, amplification history, peers
        and newest posts; an HTML page with charts when the client prefers ``text/html``."""
        try:
            body = account_insights(s.data, config.gate, account_id, s.now_ms(), posts, tiers=config.tiers,
                                    peers=peers)
        except UnknownAccount as e:
            raise HTTPException(404, str(e)) from None
        if wants_html(request.headers.get("accept")):
            return HTMLResponse(insights_page(body), headers={"Content-Security-Policy": CSP})
        return OrjsonResponse(body)

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        """Prometheus metrics of this worker."""
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/admin/reload", response_model=ReloadResponse, dependencies=[Depends(admin)])
    def reload(s: Annotated[ServiceState, Depends(ready_state)]) -> OrjsonResponse:
        """Load the registry's current models; a model that fails to load leaves the old one serving (409).

        Loading (and compiling a new model) runs in the thread pool: requests keep being answered meanwhile.
        Other workers follow within ``serving.registry_poll_s``.
        """
        ok, detail = s.reload(fresh=True)
        body = ReloadResponse(reloaded=ok, model_versions=s.engine.versions, detail=detail)
        return OrjsonResponse(body.model_dump(), status_code=200 if ok else 409)

    @app.post("/admin/promote", response_model=PromoteResponse, dependencies=[Depends(admin)])
    def promote(body: PromoteBody, s: Annotated[ServiceState, Depends(ready_state)]) -> OrjsonResponse:
        """Promote the slot's challenger (if it beats the champion) or roll back, then reload this worker."""
        if promoter is None:
            raise HTTPException(503, "admin/promote: this service was started without registry write access")
        outcome = promoter(body.slot, body.action)
        ok = True
        if outcome.moved:
            ok, _ = s.reload(fresh=True)
        out = PromoteResponse(slot=body.slot, action=body.action, moved=outcome.moved, reason=outcome.reason,
                              champion_before=outcome.before, champion_after=outcome.after, reloaded=outcome.moved
                              and ok, model_versions=s.engine.versions)
        return OrjsonResponse(out.model_dump(), status_code=200 if ok else 409)

    return app


def _to_request(body: RankBody, s: ServiceState) -> RankRequest:
    """The domain request, or a 4xx naming the field that is wrong."""
    limits = s.config.serving
    if body.k > limits.max_k:
        raise HTTPException(422, f"k: {body.k} is more than serving.max_k = {limits.max_k}")
    data = s.data
    pos = np.searchsorted(data.known_users, body.user_id)
    if pos >= len(data.known_users) or data.known_users[pos] != body.user_id:
        raise HTTPException(404, f"user_id: unknown user {body.user_id}")
    candidates, ids = body.candidates, None
    if candidates is not None:
        if not candidates:
            raise HTTPException(422, "candidates: empty list; omit the field to rank the slot's own candidates")
        if len(candidates) > limits.max_candidates:
            raise HTTPException(422, f"candidates: {len(candidates)} ids; the most is {limits.max_candidates}")
        ids = np.asarray(candidates, np.int64)
        rows = data.catalog.product_rows(ids) if body.slot == "new_arrival" else data.catalog.post_rows(ids)
        if (rows < 0).any():
            bad = int(np.flatnonzero(rows < 0)[0])
            kind = "product" if body.slot == "new_arrival" else "post"
            raise HTTPException(422, f"candidates[{bad}]: unknown {kind} id {candidates[bad]}")
    now = context_now(body.context, s.now_ms())
    if not 0 <= now < MAX_MS:
        raise HTTPException(422, f"context.now_ms: {now} is not a time in milliseconds since 1970 (0 to {MAX_MS})")
    # The id array checked above goes on as the candidates: the ranker need not convert the list again.
    return RankRequest(body.user_id, body.slot, body.k, now, ids, dict(body.context))
