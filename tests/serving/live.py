"""A live `weitao serve` for tests: registry champions, uvicorn worker processes on loopback.

Shared by the tests that need the real process (hot swap, schema fuzzing): registering more versions,
moving aliases and reading the served model versions back over HTTP.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

from features.storage import read_table
from ranking.model_store import MODEL_ARTIFACT_DIR
from tests.services import free_port, running
from tests.serving.conftest import ServedWorld
from tests.serving.test_uvicorn import _register, wait_ready
from training.registry import model_name
from weitao.commands.train import train_and_register
from weitao.settings import Settings, load_settings

ADMIN_TOKEN = "t0ken"  # what `_register` writes into the config file
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TABLES = ("accounts", "users", "posts", "products", "follows", "events")


@dataclass(frozen=True)
class Registry:
    """A registry whose champions are version 1 of each ranked slot, and the config file pointing at it."""

    world: ServedWorld
    root: Path
    config: Path

    def settings(self, **rankers: Any) -> Settings:
        """The config file's settings; ``rankers`` override the training parameters (for a different model)."""
        return load_settings(self.config, rankers=rankers or {"n_estimators": 5, "num_leaves": 4})

    def tables(self) -> dict[str, pa.Table]:
        return {n: read_table(self.world.data, n) for n in TABLES}

    def register(self, slot: str, **rankers: Any) -> int:
        """Train and register one more version of ``slot`` (the challenger); return its version number."""
        _, _, version = train_and_register(self.settings(**rankers), self.tables(), slot)
        return version

    def client(self) -> Any:
        """An MLflow client on the registry (for aliases and download locations)."""
        from mlflow import MlflowClient

        uri = self.settings().tracking.tracking_uri
        return MlflowClient(tracking_uri=uri, registry_uri=uri)

    def name(self, slot: str) -> str:
        return model_name(self.settings(), slot)

    def artifact_dir(self, slot: str, version: int) -> Path:
        """Where the registry stores ``slot`` ``version``'s model folder (a local artifact store)."""
        client = self.client()
        run = client.get_run(client.get_model_version(self.name(slot), str(version)).run_id)
        path = Path(run.info.artifact_uri.removeprefix("file://")) / MODEL_ARTIFACT_DIR
        assert path.is_dir(), run.info.artifact_uri
        return path


def make_registry(world: ServedWorld, root: Path) -> Registry:
    """Train, register and promote v1 of every ranked slot (see ``test_uvicorn._register``)."""
    return Registry(world, root, _register(world, root))


@contextmanager
def serve(registry: Registry, *, workers: int = 1, timeout: float = 90) -> Iterator[str]:
    """`python -m weitao serve` on a free loopback port until the block ends; yields the base URL once ready."""
    port = free_port()
    log = registry.root / f"serve-{port}.log"
    cmd = [sys.executable, "-m", "weitao", "--config", str(registry.config), "serve", "--data",
           str(registry.world.data), "--port", str(port), "--workers", str(workers)]
    with running(cmd, port, timeout=timeout, log=log) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, log, timeout=timeout, in_a_row=1 if workers == 1 else 20, alive=lambda: proc.poll() is None)
        yield base


def served_versions(base: str) -> dict[str, str]:
    """The model version of each slot, as ``/ready`` reports it."""
    return httpx.get(f"{base}/ready").json()["model_versions"]
