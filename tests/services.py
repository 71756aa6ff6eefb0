"""Real services for tests, started on loopback on a free port and stopped afterwards."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited early with code {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"service did not open port {port} within {timeout} s")


@contextmanager
def running(cmd: list[str], port: int, timeout: float, log: Path,
            env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` (with ``env`` added to this environment) until the block ends; fail clearly if it never listens
    on ``port``."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        try:
            wait_for_port(port, timeout, proc)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A real `redis-server` (OS package, installed by scripts/services.sh); yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run scripts/services.sh")
    port = free_port()
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", str(workdir)]
    with running(cmd, port, 20, workdir / "redis.log"):
        yield f"redis://127.0.0.1:{port}/0"


@contextmanager
def mlflow_server(workdir: Path) -> Iterator[str]:
    """A real `mlflow server` on loopback with a SQLite store; yields its tracking URI."""
    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
           "--artifacts-destination", str(workdir / "artifacts"), "--workers", "1"]
    # Without MLflow's job runner (GenAI evaluation jobs, which no test uses): it is one more process to start,
    # and it leaves a directory in /dev/shm behind each server.
    with running(cmd, port, 120, workdir / "mlflow.log", {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def app_on_loopback(app: Any, *, timeout: float = 60, log_level: str = "warning") -> Iterator[str]:
    """``app`` under a real uvicorn server on a free loopback port (in a thread) until the block ends."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
