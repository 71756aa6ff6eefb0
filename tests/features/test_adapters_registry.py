"""The adapter registry and the ``contract`` kind."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from features.adapters import ADAPTERS, AdapterError, get_adapter, lastfm
from features.contract import TABLES
from features.load import load_tables
from features.storage import read_table

NOW_MS = 1_900_000_000_000


def test_registry_lists_every_kind() -> None:
    assert list(ADAPTERS) == ["movielens-100k", "taobao", "lastfm", "hackernews", "open-bandit", "contract"]
    for name, adapter in ADAPTERS.items():
        assert adapter.name == name
        assert adapter.description and "\n" not in adapter.description
        assert callable(adapter.read)
    with pytest.raises(AdapterError, match="known kinds: movielens-100k"):
        get_adapter("netflix")


def test_contract_kind_reads_contract_files(tmp_path: Path) -> None:
    source = tmp_path / "lastfm"
    source.mkdir()
    (source / "user_artists.dat").write_text("userID\tartistID\tweight\n2\t51\t7\n")
    (source / "user_friends.dat").write_text("userID\tfriendID\n2\t3\n")
    mapped = lastfm.read(source)
    folder = tmp_path / "contract"
    folder.mkdir()
    for name in ("accounts", "users", "posts", "follows", "events"):  # products left out: it is empty
        pq.write_table(mapped[name], folder / f"{name}.parquet")

    raw = get_adapter("contract").read(folder)
    assert set(raw) == set(TABLES)
    out = tmp_path / "out"
    report = load_tables(raw, out, now_ms=NOW_MS)
    for name, rows_in, accepted, quarantined in report.rows():
        assert rows_in == accepted + quarantined, name
        assert quarantined == 0, name
    assert read_table(out, "events").column("dwell_seconds").to_pylist() == [7.0]
    assert read_table(out, "products").num_rows == 0
    with pytest.raises(AdapterError, match="missing"):
        get_adapter("contract").read(tmp_path / "missing")
