"""The app builds its routing before serving: no request pays for the framework's first-use work.

FastAPI builds a router's route state (pydantic fields) on the first request that reaches it; counted here
through the function that makes those fields. The control is the same app without the warm-up.
"""

from __future__ import annotations

from collections.abc import Iterator

import fastapi.routing
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.serving.conftest import ServedWorld


@pytest.fixture
def fields_made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    made: list[object] = []
    real = fastapi.routing.create_model_field

    def counting(*args: object, **kwargs: object) -> object:
        made.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "create_model_field", counting)
    yield made


def _first_requests(client: TestClient) -> None:
    client.get("/health")
    client.post("/admin/reload")  # 401 or 503: the route was reached either way
    client.post("/rank", json={"user_id": 1, "slot": "follow_feed", "k": 3})


def test_no_first_request_builds_route_state(served_world: ServedWorld, fields_made: list[object]) -> None:
    app = create_app(served_world.config(), load_models=served_world.loader(), background=False)
    with TestClient(app) as client:  # the lifespan warms up
        fields_made.clear()
        _first_requests(client)
    assert fields_made == []


def test_control_without_the_warm_up_first_requests_build_it(served_world: ServedWorld, fields_made: list[object],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    async def skip(app: object) -> None:
        return None

    monkeypatch.setattr("serving.app.warm_up_routing", skip)
    app = create_app(served_world.config(), load_models=served_world.loader(), background=False)
    with TestClient(app) as client:
        fields_made.clear()
        _first_requests(client)
    assert fields_made
