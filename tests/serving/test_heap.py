"""A loaded worker's objects are out of the garbage collector's walks (``serving.state.settle_heap``).

Every full collection walks every tracked object; frozen ones are skipped. The check: after the service
loads, its data and engines are no longer among the objects a collection visits, and the freeze count
covers at least them.
"""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from serving.state import ServiceState


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
