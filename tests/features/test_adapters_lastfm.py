"""Last.fm HetRec adapter on a tiny hand-written folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.adapters import ADAPTERS, AdapterError, lastfm
from features.contract import TABLES
from features.load import load_tables
from features.storage import read_table

NOW_MS = 1_900_000_000_000
SHADOW = lastfm.SHADOW_OFFSET


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "hetrec2011-lastfm-2k"
    folder.mkdir()
    (folder / "user_artists.dat").write_text("userID\tartistID\tweight\n2\t51\t13883\n2\t52\t11690\n3\t51\t100\n")
    (folder / "user_friends.dat").write_text("userID\tfriendID\n2\t3\n3\t2\n3\t4\n")
    (folder / "artists.dat").write_bytes(
        b"id\tname\turl\tpictureURL\n51\tDuran Duran\thttp://a\thttp://b\n52\tMorcheeba\thttp://c\t\n"
        b'53\t"Weird \xff name\thttp://d\thttp://e\n')
    return folder


def test_mapping_is_exact(folder: Path) -> None:
    raw = lastfm.read(folder)
    assert list(raw) == list(TABLES)
    for name, table in raw.items():
        assert table.schema == TABLES[name].schema, name
    epoch = lastfm.EPOCH_MS

    accounts = raw["accounts"].to_pydict()
    assert accounts["account_id"] == [51, 52, 53, SHADOW + 2, SHADOW + 3, SHADOW + 4]
    assert set(accounts["kind"]) == {"influencer"}
    assert raw["accounts"].column("created_at").cast("int64").to_pylist() == [epoch] * 6

    posts = raw["posts"].to_pydict()
    assert posts["post_id"] == [51, 52, 53] and posts["account_id"] == [51, 52, 53]
    assert set(posts["kind"]) == {"info"} and set(posts["format"]) == {"article"}
    assert set(posts["visibility"]) == {"public"}

    assert raw["users"].column("user_id").to_pylist() == [2, 3, 4]

    follows = raw["follows"].to_pydict()
    assert list(zip(follows["user_id"], follows["account_id"], strict=True)) == [
        (2, SHADOW + 3), (3, SHADOW + 2), (3, SHADOW + 4)]
    assert raw["follows"].column("unfollowed_at").null_count == 3

    events = raw["events"].to_pydict()
    assert events["event_id"] == [0, 1, 2]
    assert events["user_id"] == [2, 2, 3]
    assert events["target_id"] == [51, 52, 51]
    assert set(events["action"]) == {"dwell"} and set(events["target_type"]) == {"post"}
    assert events["dwell_seconds"] == [13883.0, 11690.0, 100.0]
    assert raw["events"].column("event_time").cast("int64").to_pylist() == [epoch] * 3
    assert raw["products"].num_rows == 0


def test_load_accepts_everything(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = load_tables(ADAPTERS["lastfm"].read(folder), out, now_ms=NOW_MS)
    for name, rows_in, accepted, quarantined in report.rows():
        assert rows_in == accepted + quarantined, name
        assert quarantined == 0, name
    assert read_table(out, "follows").num_rows == 3
    assert read_table(out, "events").column("dwell_seconds").to_pylist() == [13883.0, 11690.0, 100.0]


def test_optional_files_and_errors(folder: Path, tmp_path: Path) -> None:
    (folder / "user_friends.dat").unlink()
    (folder / "artists.dat").unlink()
    raw = lastfm.read(folder)
    assert raw["follows"].num_rows == 0
    assert raw["posts"].column("post_id").to_pylist() == [51, 52]
    with pytest.raises(AdapterError, match=r"user_artists\.dat"):
        lastfm.read(tmp_path)
    with pytest.raises(AdapterError, match="no-such"):
        lastfm.read(tmp_path / "no-such")
