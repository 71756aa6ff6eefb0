"""The FastAPI app: thin routes (:mod:`serving.routes`) over :class:`~serving.state.ServiceState`.

``create_app(config)`` returns an app whose lifespan indexes the data and loads the champion models in a
background thread (``/health`` answers at once, ``/ready`` turns true when loading is done), and flushes
the page log on shutdown.
"""

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError

from serving.asgi import asgi_call
from serving.champions import ManifestModels, RegistrySource
from serving.config import ServiceConfig
from serving.limits import BodyLimit
from serving.models import champion_versions, load_champions
from serving.responses import OrjsonResponse
from serving.routes import admin, events, probes, rank, views
from serving.routes.deps import ERRORS
from serving.schemas import ErrorBody
from serving.state import ModelLoader, Promoter, ServiceState, VersionProbe


def create_app(config: ServiceConfig, *, load_models: ModelLoader = load_champions, background: bool = True,
               promoter: Promoter | None = None) -> FastAPI:
    """The service.

    ``load_models`` replaces the registry loader in tests (the registry watch runs only with the registry
    loader); ``background=False`` loads inline; ``promoter`` moves registry aliases for ``/admin/promote``
    (the service itself only reads the registry, so the caller supplies it).
    """
    state = _service_state(config, load_models)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if background:
            threading.Thread(target=state.load, name="load", daemon=True).start()
        else:
            state.load()
        state.start_background()
        await warm_up_routing(app)
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
        errors = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return OrjsonResponse({"detail": "; ".join(errors), "errors": errors}, status_code=422)

    for router in (probes.router, rank.rank_router(state, config.serving.max_batch), events.router,
                   views.views_router(), admin.admin_router(promoter)):
        app.include_router(router)
    return app


async def warm_up_routing(app: FastAPI) -> None:
    """Build what the framework builds on a route's first request, before the server accepts any.

    FastAPI builds each router's route state (a pydantic field per parameter and response) the first time a
    request reaches it, and anyio imports its thread pool's modules on the first sync endpoint: about 40 ms
    on the event loop, paid by whichever requests are in flight then (an operator's first /admin/reload held
    /rank answers 30-40 ms, measured in the hot-swap test). A request to a path no route matches walks every
    router; one no-op call starts the thread pool.
    """
    await asgi_call(app, "GET", "/-warm-up-")
    await anyio.to_thread.run_sync(lambda: None)


def _service_state(config: ServiceConfig, load_models: ModelLoader) -> ServiceState:
    """The state, loading models from the registry, or from the champion manifest under ``weitao serve``."""
    probe: VersionProbe | None = champion_versions if load_models is load_champions else None
    refresh = None
    manifest = config.serving.champion_manifest
    if load_models is load_champions and manifest is not None:  # see serving.champions
        models = ManifestModels(manifest, RegistrySource.of(config))
        load_models, probe, refresh = models.load, models.versions, models.refresh
    return ServiceState(config, load_models, probe_versions=probe, refresh_models=refresh)
