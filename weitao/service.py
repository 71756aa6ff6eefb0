"""Starting the ranking service: the settings tree mapped onto the service, and uvicorn's worker processes.

Workers are separate processes started by uvicorn (one per core by default); each builds its own app from
the settings the parent exported, so models and stores are loaded after the fork, in the worker.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from serving.app import create_app
from serving.champions import ManifestFeed, RegistrySource
from serving.config import ServiceConfig
from serving.drain import drain_on_sigterm
from serving.state import Promoter, Promotion
from weitao.settings import Settings, export_for_workers, settings_for_worker

log = logging.getLogger(__name__)


def service_config(settings: Settings) -> ServiceConfig:
    """What the service reads from the settings tree."""
    t = settings.tracking
    return ServiceConfig(settings.serving, settings.ranking, settings.features, t.tracking_uri, t.registry_prefix,
                         t.model_cache, settings.gate, settings.tiers)


def registry_promoter(settings: Settings) -> Promoter:
    """``/admin/promote``'s registry writes: the same promotion rule and rollback as ``weitao promote``."""
    from training.registry import promote, rollback  # deferred: only an admin call needs the training side

    cfg = settings.tracking

    def act(slot: str, action: str) -> Promotion:
        if action == "rollback":
            r = rollback(cfg, slot)
            return Promotion(r.moved, r.reason, r.champion_before, r.champion_after)
        d = promote(cfg, slot, metric=cfg.promotion_metric, higher_is_better=cfg.promotion_higher_is_better,
                    min_delta=cfg.promotion_min_delta)
        return Promotion(d.moved, d.reason, d.champion_before, d.challenger if d.moved else d.champion_before)

    return act


def limit_threads() -> None:
    """One thread per numeric library in each worker: the workers are the parallelism (one per core)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:  # faiss is optional at serving time
        pass


def worker_app() -> FastAPI:
    """uvicorn's app factory in each worker process (models load here, after the fork).

    A worker that cannot start exits with uvicorn's start-up failure code, which stops the serving process; any
    other exit code would have uvicorn start the worker again, failing the same way, forever.
    """
    try:
        return _worker_app()
    except Exception:
        log.exception("weitao serve: this worker cannot start")
        raise SystemExit(STARTUP_FAILURE) from None


def _worker_app() -> FastAPI:
    limit_threads()
    settings = settings_for_worker()
    app = create_app(service_config(settings), promoter=registry_promoter(settings))
    # The factory runs in the worker's main thread after uvicorn installed its stop handler: delay it.
    drain_on_sigterm(app.state.service, settings.serving.drain_s)
    return app


def worker_count(settings: Settings) -> int:
    """``serving.workers``, or one per core when it is 0."""
    return settings.serving.workers or (os.cpu_count() or 1)


def serve(settings: Settings, state_dir: Path) -> None:
    """Run the service in the foreground until interrupted.

    SIGINT stops at once, SIGTERM after ``serving.drain_s`` of draining (:mod:`serving.drain`); either way
    in-flight requests finish and the logs are flushed.

    This process reads the registry for every worker (``serving.champion_manifest``, see
    :mod:`serving.champions`): before the workers start, then every ``serving.registry_poll_s``.
    """
    manifest = settings.serving.champion_manifest or state_dir / "champions.json"
    settings = settings.model_copy(update={"serving": settings.serving.model_copy(
        update={"champion_manifest": manifest})})
    feed = ManifestFeed(manifest, RegistrySource.of(service_config(settings)), settings.serving.registry_poll_s)
    feed.refresh()  # the workers load what it names; a registry error is in the file, and in /ready
    feed.start()
    export_for_workers(settings, state_dir / "serve-settings.json")
    s = settings.serving
    try:
        run_workers(uvicorn.Config("weitao.service:worker_app", factory=True, host=s.host, port=s.port,
                                   workers=worker_count(settings), log_level="warning", timeout_graceful_shutdown=30))
    finally:
        feed.stop()


def run_workers(config: uvicorn.Config) -> None:
    """Serve ``config``'s app from ``config.workers`` worker processes until stopped; a worker that fails to
    start stops them all and this raises :class:`SystemExit` (non-zero) saying so.

    Worker processes even when there is one: the serving process's registry reads (MLflow, lleaves parsing and
    compiling) hold its GIL for tens of milliseconds at a time, which must not be a worker's.
    """
    sock = config.bind_socket()
    try:
        supervisor = Multiprocess(config, sockets=[sock])
        supervisor.run()
    finally:
        sock.close()
    # Stopped by a signal, workers exit 0 or by that signal; anything else is a worker that could not start.
    stopped = {0, None, -signal.SIGTERM, -signal.SIGINT}
    failed = [p.exitcode for p in supervisor.processes if p.exitcode not in stopped]
    if failed:
        raise SystemExit(f"weitao serve: worker processes failed to start (exit codes {failed}); see the log above")
