"""Hacker News adapter on a tiny hand-written CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.adapters import ADAPTERS, AdapterError, hackernews
from features.adapters.base import hash63
from features.contract import TABLES
from features.load import load_tables
from features.storage import read_table

NOW_MS = 1_900_000_000_000
CSV = """id,title,url,num_points,num_comments,author,created_at
12579008,"Title, with a comma",http://x,2,1,altstar,9/26/2016 3:26
12579005,SQLAR,https://y,1,0,blacksqr,2016-09-26T07:24:00Z
12578997,Third,,0,2,altstar,1/26/2016 19:30
"""
# 3:26 EDT = 07:26 UTC; 19:30 EST = 00:30 UTC the next day
T0 = 1_474_874_760_000  # 2016-09-26T07:26Z
T1 = 1_474_874_640_000  # 2016-09-26T07:24Z
T2 = 1_453_854_600_000  # 2016-01-27T00:30Z


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "HN_posts.csv"
    path.write_text(CSV)
    return path


def test_hash_is_stable() -> None:
    # Account ids are persisted: changing the hash would re-key every author.
    assert hash63(["altstar", "blacksqr"]).tolist() == [4416649140516573327, 8626631528230044990]


def test_mapping_is_exact(csv: Path) -> None:
    raw = hackernews.read(csv)
    assert list(raw) == list(TABLES)
    for name, table in raw.items():
        assert table.schema == TABLES[name].schema, name
    altstar, blacksqr = 4416649140516573327, 8626631528230044990

    accounts = raw["accounts"]
    assert accounts.column("account_id").to_pylist() == [altstar, blacksqr]
    assert set(accounts.column("kind").to_pylist()) == {"influencer"}
    assert accounts.column("created_at").cast("int64").to_pylist() == [T2, T1]

    posts = raw["posts"]
    assert posts.column("post_id").to_pylist() == [12579008, 12579005, 12578997]
    assert posts.column("account_id").to_pylist() == [altstar, blacksqr, altstar]
    assert posts.column("created_at").cast("int64").to_pylist() == [T0, T1, T2]
    assert set(posts.column("kind").to_pylist()) == {"info"}
    assert set(posts.column("format").to_pylist()) == {"article"}

    users = raw["users"]
    assert users.column("user_id").to_pylist() == [0]
    assert users.column("created_at").cast("int64").to_pylist() == [T2]

    events = raw["events"]
    assert events.column("event_id").to_pylist() == [0, 1, 2, 3, 4, 5]
    assert events.column("action").to_pylist() == ["like", "like", "comment", "like", "comment", "comment"]
    assert events.column("target_id").to_pylist() == [12579008] * 3 + [12579005] + [12578997] * 2
    assert events.column("event_time").cast("int64").to_pylist() == [T0] * 3 + [T1] + [T2] * 2
    assert set(events.column("user_id").to_pylist()) == {0}


def test_author_hash_collisions_are_disambiguated() -> None:
    fake = {"a": 7, "b": 7, "b#1": 7, "b#2": 9, "c": 3}

    def hasher(names):
        return np.array([fake[n] for n in names], dtype=np.int64)

    assert hackernews.author_ids(["a", "b", "c"], hasher).tolist() == [7, 9, 3]
    assert hackernews.author_ids(["a", "c"], hasher).tolist() == [7, 3]


def test_eastern_time_handles_daylight_saving() -> None:
    times = hackernews.parse_times(pd.Series(["7/1/2016 12:00", "12/1/2016 12:00", "2016-07-01T12:00:00+02:00"]))
    assert times.tolist() == [
        pd.Timestamp("2016-07-01T16:00Z").value // 10**6,
        pd.Timestamp("2016-12-01T17:00Z").value // 10**6,
        pd.Timestamp("2016-07-01T10:00Z").value // 10**6,
    ]
    with pytest.raises(AdapterError, match="'yesterday'"):
        hackernews.parse_times(pd.Series(["9/25/2016 0:48", "yesterday"]))


def test_load_accepts_everything(csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = load_tables(ADAPTERS["hackernews"].read(csv), out, now_ms=NOW_MS)
    for name, rows_in, accepted, quarantined in report.rows():
        assert rows_in == accepted + quarantined, name
        assert quarantined == 0, name
    assert read_table(out, "events").num_rows == 6
    assert read_table(out, "posts").num_rows == 3


def test_negative_counts_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "neg.csv"
    path.write_text(CSV.replace(",2,1,altstar", ",-2,1,altstar"))
    with pytest.raises(AdapterError, match=r"neg\.csv"):
        hackernews.read(path)
