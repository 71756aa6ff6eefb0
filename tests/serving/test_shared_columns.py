"""A worker holds the catalogue once: the ranking catalogue, the feature catalogue and the gate read the same
buffers, and the follow graph is the live follow state's alone (``serving.data``)."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from features import follows
from features.follows import FollowState
from features.keyfilter import KeyFilter
from features.settings import FeatureSettings
from ranking.settings import RankingSettings
from serving.data import ServiceData, load_service_data
from serving.state import ServiceState
from tests.serving.conftest import ServedWorld


def test_the_catalogue_columns_are_one_copy_shared_by_every_reader(client: TestClient) -> None:
    s: ServiceState = client.app.state.service
    data: ServiceData = s.data
    posts, products = data.catalog._posts, data.catalog._products
    assert np.shares_memory(posts.account_id, data.features_catalog.post_account)
    assert np.shares_memory(posts.created_ms, data.gate.facts.created_ms)
    assert np.shares_memory(products.shop_id, data.features_catalog.prod_shop)
    assert data.catalog.follow_state is data.features_catalog.follows  # one live follow state
    assert len(data.catalog._follows.user_id) == 0  # the ranking catalogue keeps no follow index of its own


def test_control_columns_read_from_a_chunked_table_are_copies() -> None:
    import pyarrow as pa

    from features.columns import int_column

    chunked = pa.chunked_array([pa.array([1, 2], pa.int64()), pa.array([3], pa.int64())])
    assert not np.shares_memory(int_column(chunked), int_column(chunked))
    one = chunked.combine_chunks()
    assert np.shares_memory(int_column(one), int_column(one))


def test_the_replay_lets_go_of_the_bulk_fan_filter(served_world: ServedWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[FollowState] = []
    real = FollowState._key_filter

    def spy(self: FollowState, keys: np.ndarray) -> KeyFilter:
        built.append(self)
        return real(self, keys)

    monkeypatch.setattr(follows, "FILTER_MIN_QUERIES", 2)  # the small world's bulk look-ups take the filter too
    monkeypatch.setattr(FollowState, "_key_filter", spy)
    data = load_service_data(served_world.data, FeatureSettings(), RankingSettings())
    live = data.features_catalog.follows
    assert any(s is live for s in built)  # the replay's fan look-ups built the filter of the live state
    assert live._filter is None  # and the worker does not keep it
