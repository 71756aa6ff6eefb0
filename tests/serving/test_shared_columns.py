"""A worker holds the catalogue once: the ranking catalogue, the feature catalogue and the gate read the same
buffers, and the follow graph is the live follow state's alone (``serving.data``)."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from serving.data import ServiceData
from serving.state import ServiceState


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
