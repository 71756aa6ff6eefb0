"""Impressions are labelled only by actions in the same served page, on the same item or what it sells."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from features.contract import TABLES, enum_array, ms
from training.impressions import impression_rows

ACTIONS = TABLES["events"].column_map["action"]


def _events(rows: list[tuple[int, int, str, str, int, str]]) -> pa.Table:
    """(user, request, action, target_type, target, slot) rows."""
    from features.contract import ENUMS

    n = len(rows)
    col = list(zip(*rows, strict=True))
    return pa.table({
        "event_id": np.arange(n), "user_id": np.array(col[0]),
        "target_type": enum_array("target_type", np.array([ENUMS["target_type"].index(v) for v in col[3]])),
        "target_id": np.array(col[4]),
        "action": enum_array("action", np.array([ENUMS["action"].index(v) for v in col[2]])),
        "slot": enum_array("slot", np.array([ENUMS["slot"].index(v) for v in col[5]])),
        "source": enum_array("source", np.zeros(n)), "event_time": ms(np.arange(n) * 1000),
        "dwell_seconds": pa.nulls(n, pa.float32()), "position": pa.array(np.arange(n) % 3, pa.int16()),
        "request_id": pa.array(np.array(col[1]), pa.int64()), "propensity": pa.nulls(n, pa.float64()),
        "amount": pa.nulls(n, pa.float64()),
    }, schema=TABLES["events"].schema)


def test_labels_come_from_the_same_page() -> None:
    posts = pa.table({"account_id": [7, 8], "product_ids": pa.array([[], [5]], pa.list_(pa.int64()))})
    accounts = pa.table({"category": np.arange(10)})
    ev = _events([
        (1, 10, "impression", "post", 0, "follow_feed"),
        (1, 10, "impression", "post", 1, "follow_feed"),
        (1, 10, "click", "post", 0, "follow_feed"),
        (1, 10, "like", "post", 0, "follow_feed"),
        (1, 10, "follow", "account", 8, "follow_feed"),
        (1, 10, "purchase", "product", 5, "follow_feed"),
        (1, 11, "impression", "post", 0, "follow_feed"),
        (1, 12, "click", "post", 0, "follow_feed"),  # another page: labels nothing
        (1, 13, "impression", "post", 1, "hotlist"),  # another slot: not a row
        (1, 14, "impression", "post", 1, "follow_feed"),
        (1, 14, "cart", "product", 5, "follow_feed"),  # a cart converts as a purchase does
    ])
    r = impression_rows({"events": ev, "posts": posts, "accounts": accounts}, "follow_feed")
    assert r.rows.column("target_id").to_pylist() == [0, 1, 0, 1]
    assert r.rows.column("account_id").to_pylist() == [7, 8, 7, 8]
    assert r.rows.column("category").to_pylist() == [7, 8, 7, 8]
    assert r.labels["click"].tolist() == [True, False, False, False]
    assert r.labels["engage"].tolist() == [True, False, False, False]
    assert r.labels["follow"].tolist() == [False, True, False, False]
    assert r.labels["purchase"].tolist() == [False, True, False, True]
    assert r.request_id.tolist() == [10, 10, 11, 14]
