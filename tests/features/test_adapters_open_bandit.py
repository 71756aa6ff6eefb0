"""Open Bandit adapter on a tiny campaign folder written with the real files' column layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.adapters import ADAPTERS, AdapterError, open_bandit
from features.adapters.base import hash63
from features.contract import TABLES
from features.load import load_tables
from features.storage import read_table

NOW_MS = 1_900_000_000_000
AFFINITY = ",".join(f"user-item_affinity_{i}" for i in range(3))
LOG = f""",timestamp,item_id,position,click,propensity_score,user_feature_0,user_feature_1,user_feature_2,\
user_feature_3,{AFFINITY}
0,2019-11-24 00:00:34.762830+00:00,14,3,0,0.0125,u0,u1,u2,u3,0.0,0.0,0.0
1,2019-11-24 00:00:53.965051+00:00,14,1,1,0.0125,u0,u1,u2,u3,0.0,1.0,0.0
2,2019-11-24 00:00:56.727734+00:00,27,2,0,0.5,u0,u1,u2,u4,0.0,0.0,0.0
"""
CONTEXT = """,item_id,item_feature_0,item_feature_1,item_feature_2,item_feature_3
0,14,-0.49917162609493676,aed7,6750,5c1e
1,27,0.9727518552974822,31af,6750,5c1e
2,30,0.1,31af,84da,1ead
"""
T0, T1, T2 = 1_574_553_634_762, 1_574_553_653_965, 1_574_553_656_727


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "random" / "all"
    folder.mkdir(parents=True)
    (folder / "all.csv").write_text(LOG)
    (folder / "item_context.csv").write_text(CONTEXT)
    return folder


def test_mapping_is_exact(folder: Path) -> None:
    raw = open_bandit.read(folder)
    assert list(raw) == list(TABLES)
    for name, table in raw.items():
        assert table.schema == TABLES[name].schema, name

    accounts = raw["accounts"]
    assert accounts.column("account_id").to_pylist() == [1]
    assert accounts.column("kind").to_pylist() == ["shop"]
    assert accounts.column("created_at").cast("int64").to_pylist() == [T0]

    products = raw["products"]
    assert products.column("product_id").to_pylist() == [14, 27, 30]
    assert products.column("shop_id").to_pylist() == [1, 1, 1]
    assert products.column("category").to_pylist() == (hash63(["aed7", "31af", "31af"]) >> 32).tolist()
    assert products.column("price").to_pylist() == [0.0] * 3
    assert products.column("launched_at").cast("int64").to_pylist() == [T0, T2, T0]  # 30 never shown

    u_a, u_b = hash63(["u0|u1|u2|u3", "u0|u1|u2|u4"]).tolist()
    users = raw["users"]
    assert sorted(zip(users.column("user_id").to_pylist(),
                      users.column("created_at").cast("int64").to_pylist(), strict=True)) == sorted(
        [(u_a, T0), (u_b, T2)])

    events = raw["events"].to_pydict()
    assert events["event_id"] == [0, 2, 3, 4]
    assert events["action"] == ["impression", "impression", "click", "impression"]
    assert events["user_id"] == [u_a, u_a, u_a, u_b]
    assert events["target_id"] == [14, 14, 14, 27]
    assert events["position"] == [2, 0, 0, 1]  # the file's positions are 1-based
    assert events["request_id"] == [0, 1, 1, 2]
    assert events["propensity"] == [0.0125, 0.0125, 0.0125, 0.5]
    assert set(events["target_type"]) == {"product"} and set(events["slot"]) == {"other"}
    assert raw["events"].column("event_time").cast("int64").to_pylist() == [T0, T1, T1, T2]


def test_load_accepts_everything_and_csv_path_works(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = load_tables(ADAPTERS["open-bandit"].read(folder / "all.csv"), out, now_ms=NOW_MS)
    for name, rows_in, accepted, quarantined in report.rows():
        assert rows_in == accepted + quarantined, name
        assert quarantined == 0, name
    assert read_table(out, "events").num_rows == 4
    assert read_table(out, "products").num_rows == 3


def test_errors_name_the_path(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="nowhere"):
        open_bandit.read(tmp_path / "nowhere")
    (folder / "all.csv").write_text(LOG.replace("propensity_score", "pscore"))
    with pytest.raises(AdapterError, match=r"all\.csv"):
        open_bandit.read(folder)
