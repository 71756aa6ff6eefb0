"""`weitao serve`: the ranking service on uvicorn, one worker process per core."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from weitao.commands.common import console, settings_of
from weitao.service import serve, worker_count
from weitao.settings import Settings


def with_serving(settings: Settings, **changes: object) -> Settings:
    """``settings`` with the given ``serving`` keys replaced (None leaves a key as it is)."""
    update = {k: v for k, v in changes.items() if v is not None}
    return settings.model_copy(update={"serving": settings.serving.model_copy(update=update)})


def serve_cmd(
    ctx: typer.Context,
    data: Annotated[Path | None, typer.Option("--data", help="Data directory (default serving.data_dir).")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Interface (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes (default one per core).")] = None,
) -> None:
    """Serve /rank, /events, /hotlist, /metrics and /admin/* until interrupted."""
    settings = with_serving(settings_of(ctx), data_dir=data, host=host, port=port, workers=workers)
    start(settings)


def start(settings: Settings) -> None:
    """Print where the service listens and run it in the foreground."""
    s = settings.serving
    console.print(f"serving on http://{s.host}:{s.port} ({worker_count(settings)} workers; docs at /docs, "
                  f"readiness at /ready); data {s.data_dir}; models {settings.tracking.tracking_uri}", soft_wrap=True)
    serve(settings, s.page_log_dir.parent)
