"""A loaded worker's objects are out of the garbage collector's walks (``serving.state.settle_heap``).

Every full collection walks every tracked object; frozen ones are skipped. The check: after the service
loads, its data and engines are no longer among the objects a collection visits, and the freeze count
covers at least them.
"""

from __future__ import annotations

import gc

import pytest
from fastapi.testclient import TestClient

import serving.state as state_module
from serving.app import create_app
from serving.state import ServiceState
from tests.serving.conftest import ServedWorld


def _visited(obj: object) -> bool:
    """Whether a full collection would walk ``obj`` (frozen objects are not listed by ``gc.get_objects``)."""
    return any(o is obj for o in gc.get_objects())


def test_loaded_data_and_models_are_frozen_out_of_collections(client: TestClient) -> None:
    s: ServiceState = client.app.state.service
    assert gc.is_tracked(s.data) and gc.is_tracked(s.engine)
    assert gc.get_freeze_count() > 0
    assert not _visited(s.data) and not _visited(s.engine)


def test_control_an_object_made_after_loading_is_walked(client: TestClient) -> None:
    made_later = {"a": [1]}
    assert _visited(made_later)


def test_the_heap_is_settled_before_the_service_opens(served_world: ServedWorld,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The full collection holds the GIL for long (a fifth of a second on the medium world): it must be over
    before ``/ready`` says ready, or the first requests wait it out."""
    app = create_app(served_world.config(), load_models=served_world.loader(), background=False)
    s: ServiceState = app.state.service
    ready_then: list[bool] = []
    real = state_module.settle_heap

    def recording() -> None:
        ready_then.append(s.ready)
        real()

    monkeypatch.setattr(state_module, "settle_heap", recording)
    s.load()
    assert ready_then == [False] and s.ready and s.error is None
