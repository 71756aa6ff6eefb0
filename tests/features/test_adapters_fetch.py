"""Real downloads from PyPI (RecBole's wheel, obp's sdist) mapped through the adapters and the loader."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest

from features.adapters import ADAPTERS
from features.fetch import fetch_movielens_100k, fetch_open_bandit
from features.load import load_tables
from features.storage import read_table

pytestmark = pytest.mark.slow


def _clean(report) -> None:
    for name, rows_in, accepted, quarantined in report.rows():
        assert rows_in == accepted + quarantined, name
        assert quarantined == 0, name


def test_movielens_100k_is_complete_and_cached(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    folder = fetch_movielens_100k(cache)
    assert (folder / "ml-100k.inter").is_file()
    wheels = sorted((cache / "wheels").iterdir())
    assert fetch_movielens_100k(cache) == folder
    assert sorted((cache / "wheels").iterdir()) == wheels  # nothing downloaded twice

    raw = ADAPTERS["movielens-100k"].read(folder)
    clicks = raw["events"].filter(pc.equal(raw["events"].column("action").cast("string"), "click"))
    assert clicks.num_rows == 100_000
    assert raw["users"].num_rows == 943
    assert raw["posts"].num_rows == 1_682

    out = tmp_path / "ml"
    report = load_tables(raw, out)
    _clean(report)
    assert report.tables["events"].accepted == raw["events"].num_rows
    assert read_table(out, "users").num_rows == 943


def test_open_bandit_random_all_matches_the_csv(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    obd = fetch_open_bandit(cache)
    assert sorted(p.name for p in obd.iterdir()) == ["bts", "random"]
    assert fetch_open_bandit(cache) == obd
    folder = obd / "random" / "all"
    lines = (folder / "all.csv").read_text().count("\n") - 1  # less the header

    raw = ADAPTERS["open-bandit"].read(folder)
    impressions = raw["events"].filter(pc.equal(raw["events"].column("action").cast("string"), "impression"))
    assert impressions.num_rows == lines == 10_000
    assert set(impressions.column("position").to_pylist()) == {0, 1, 2}

    report = load_tables(raw, tmp_path / "obd")
    _clean(report)
    assert read_table(tmp_path / "obd", "products").num_rows == 80
