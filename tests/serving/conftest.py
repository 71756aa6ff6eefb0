"""A small simulated world with two tiny trained slot models, and the service built over them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from experiments.settings import SimulatorSettings
from experiments.simulate import simulate
from features.settings import FeatureSettings
from features.storage import read_table
from ranking.settings import RankingSettings
from serving.app import create_app
from serving.config import ServiceConfig
from serving.models import SlotModel, compile_dir, load_folder
from serving.settings import ServingSettings
from training.slot_job import train_slot

TOKEN = "test-admin-token"
BLEND = {"click": 1.0, "engage": 2.0, "follow": 5.0, "purchase": 10.0}


@dataclass(frozen=True)
class ServedWorld:
    data: Path
    models: dict[str, Path]
    root: Path

    def config(self, **serving: object) -> ServiceConfig:
        # each app its own event log: accepted events are replayed at start, and tests must not share them
        values = {"data_dir": self.data, "page_log_dir": self.root / "served", "admin_token": SecretStr(TOKEN),
                  "event_log_dir": self.root / f"events-{uuid.uuid4().hex[:8]}",
                  # a loaded test machine must not turn pages into deadline fallbacks: tests set it when they test it
                  "deadline_ms": 60_000.0, **serving}
        s = ServingSettings(**values)
        return ServiceConfig(s, RankingSettings(), FeatureSettings(), "sqlite:///nowhere.db", "weitao-",
                             self.root / "cache")

    def loader(self) -> Callable[[ServiceConfig], dict[str, SlotModel]]:
        return lambda config: {slot: load_folder(slot, folder, compile_dir(config))
                               for slot, folder in self.models.items()}


@pytest.fixture(scope="session")
def served_world(tmp_path_factory: pytest.TempPathFactory) -> ServedWorld:
    root = tmp_path_factory.mktemp("served")
    simulate(SimulatorSettings(), "small", 5, root / "data")
    tables = {n: read_table(root / "data", n) for n in ("accounts", "users", "posts", "products", "follows",
                                                        "events")}
    end = int(tables["events"].column("event_time").cast("int64").to_numpy().max())
    models = {}
    for slot in ("follow_feed", "new_arrival"):
        result = train_slot(tables, slot, split_ms=end - 86_400_000, blend=BLEND,
                            params={"n_estimators": 8, "num_leaves": 7})
        models[slot] = result.save(root / "models" / slot, "cfg-test")
    return ServedWorld(root / "data", models, root)


@pytest.fixture()
def client(served_world: ServedWorld) -> Iterator[TestClient]:
    app = create_app(served_world.config(), load_models=served_world.loader(), background=False)
    with TestClient(app) as c:
        assert c.get("/ready").status_code == 200
        yield c


def users(client: TestClient) -> np.ndarray:
    return client.app.state.service.data.known_users


def models_of(client: TestClient) -> dict[str, SlotModel]:
    return client.app.state.service.engine.models
