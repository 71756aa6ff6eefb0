"""Starting the ranking service: the settings tree mapped onto the service, and uvicorn's worker processes.

Workers are separate processes started by uvicorn (one per core by default); each builds its own app from
the settings the parent exported, so models and stores are loaded after the fork, in the worker.
"""

from __future__ import annotations

import os
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from serving.app import create_app
from serving.config import ServiceConfig
from weitao.settings import Settings, export_for_workers, settings_for_worker


def service_config(settings: Settings) -> ServiceConfig:
    """What the service reads from the settings tree."""
    t = settings.tracking
    return ServiceConfig(settings.serving, settings.ranking, settings.features, t.tracking_uri, t.registry_prefix,
                         t.model_cache)


def worker_app() -> FastAPI:
    """uvicorn's app factory in each worker process."""
    return create_app(service_config(settings_for_worker()))


def worker_count(settings: Settings) -> int:
    """``serving.workers``, or one per core when it is 0."""
    return settings.serving.workers or (os.cpu_count() or 1)


def serve(settings: Settings, state_dir: Path) -> None:
    """Run the service in the foreground until interrupted (SIGINT/SIGTERM finish in-flight requests)."""
    export_for_workers(settings, state_dir / "serve-settings.json")
    s = settings.serving
    uvicorn.run("weitao.service:worker_app", factory=True, host=s.host, port=s.port, workers=worker_count(settings),
                log_level="warning", timeout_graceful_shutdown=30)
