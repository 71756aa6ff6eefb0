"""Taobao UserBehavior adapter on a tiny hand-written CSV, including a behaviour it does not know."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.adapters import ADAPTERS, AdapterError, taobao
from features.contract import TABLES
from features.load import load_tables
from features.storage import read_quarantine, read_table

T = 1_511_544_000  # 2017-11-24T17:20:00Z
NOW_MS = 1_900_000_000_000
ROWS = [
    (1, 100, 7, "pv", T + 70),
    (1, 100, 7, "fav", T + 80),
    (2, 101, 8, "cart", T),
    (2, 100, 7, "buy", T + 100),
    (3, 102, 8, "click", T + 200),  # not a Taobao behaviour: must be quarantined, not dropped
]


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "UserBehavior.csv"
    path.write_text("".join(",".join(map(str, r)) + "\n" for r in ROWS))
    return path


def _secs(column) -> list[float]:
    return [t.timestamp() for t in column.to_pylist()]


def test_mapping_is_exact(csv: Path) -> None:
    raw = taobao.read(csv)
    assert list(raw) == list(TABLES)
    for name, table in raw.items():
        assert table.schema == TABLES[name].schema, name

    products = raw["products"].to_pydict()
    assert products["product_id"] == [100, 101, 102]
    assert products["shop_id"] == [7, 8, 8]
    assert products["category"] == [7, 8, 8]
    assert products["price"] == [0.0, 0.0, 0.0]
    assert _secs(raw["products"].column("launched_at")) == [T + 70, T, T + 200]

    accounts = raw["accounts"]
    assert accounts.column("account_id").to_pylist() == [7, 8]
    assert accounts.column("category").to_pylist() == [7, 8]
    assert set(accounts.column("kind").to_pylist()) == {"shop"}
    assert set(accounts.column("tier").to_pylist()) == {"W1"}
    assert accounts.column("tier_state").null_count == 2
    assert not any(accounts.column("preferred_shop").to_pylist())
    assert _secs(accounts.column("created_at")) == [T + 70, T]

    assert raw["users"].column("user_id").to_pylist() == [1, 2, 3]
    assert _secs(raw["users"].column("created_at")) == [T + 70, T, T + 200]

    events = raw["events"]
    assert events.column("event_id").to_pylist() == [0, 1, 2, 3, 4]
    assert events.column("action").to_pylist() == ["click", "like", "cart", "purchase", "unmapped:click"]
    assert events.column("target_id").to_pylist() == [100, 100, 101, 100, 102]
    assert set(events.column("target_type").to_pylist()) == {"product"}
    assert set(events.column("slot").to_pylist()) == {"other"}
    assert _secs(events.column("event_time")) == [T + 70, T + 80, T, T + 100, T + 200]


def test_unknown_behaviour_is_quarantined_not_dropped(csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = load_tables(ADAPTERS["taobao"].read(csv), out, now_ms=NOW_MS)
    for name, rows_in, accepted, quarantined in report.rows():
        assert rows_in == accepted + quarantined, name
    events = report.tables["events"]
    assert (events.rows_in, events.accepted, events.quarantined) == (5, 4, 1)
    assert all(report.tables[n].quarantined == 0 for n in TABLES if n != "events")
    assert read_table(out, "events").column("event_id").to_pylist() == [0, 1, 2, 3]
    reasons = read_quarantine(out, "events").column("reason").to_pylist()
    assert len(reasons) == 1 and "unmapped:click" in reasons[0]
    for name in TABLES:
        assert read_table(out, name).schema == TABLES[name].schema


def test_folder_and_errors(csv: Path, tmp_path: Path) -> None:
    assert taobao.read(csv.parent)["events"].num_rows == 5
    with pytest.raises(AdapterError, match=r"missing\.csv"):
        taobao.read(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("1,x,7,pv,3\n")
    with pytest.raises(AdapterError, match=r"bad\.csv"):
        taobao.read(bad)
