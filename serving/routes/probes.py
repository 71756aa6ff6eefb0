"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.responses import OrjsonResponse
from serving.routes.deps import service
from serving.schemas import ReadyResponse

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness only: the process answers."""
    return {"status": "ok"}


@router.get("/ready", response_model=ReadyResponse)
async def ready(request: Request) -> OrjsonResponse:
    """Whether data and models are loaded (503 until they are, and while draining before a stop)."""
    state = service(request)
    engine = state.engine
    ready = state.ready and not state.draining
    detail = state.error or ("draining" if state.draining else
                             (state.degraded or "ready") if state.ready else "loading")
    body = ReadyResponse(ready=ready, degraded=state.degraded is not None, detail=detail,
                         model_versions=engine.versions if engine else {},
                         compiled={s: m.compiled for s, m in engine.models.items()} if engine else {})
    return OrjsonResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this worker."""
    return Response(generate_latest(service(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)
