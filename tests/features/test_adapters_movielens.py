"""MovieLens-100k adapter on tiny hand-written GroupLens and RecBole folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.adapters import ADAPTERS, AdapterError, movielens
from features.contract import TABLES
from features.load import load_tables
from features.storage import read_table

T = 881_250_000  # seconds, inside the real data set's 1997-98 window
NOW_MS = 1_900_000_000_000
# (user, item, rating, unix seconds) in file order
RATINGS = [(1, 10, 5, T + 100), (2, 10, 3, T + 110), (1, 20, 4, T), (3, 30, 2, T + 200)]


def _flags(*genres: str) -> str:
    return "|".join("1" if g in genres else "0" for g in movielens.GENRES)


def _grouplens(folder: Path) -> Path:
    folder.mkdir()
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in RATINGS))
    (folder / "u.item").write_bytes(
        (f"10|Toy Story (1995)|01-Jan-1995||http://x|{_flags('Action', 'Comedy')}\n"
         f"20|Café (1996)|01-Jan-1996||http://y|{_flags('Drama', 'Comedy')}\n").encode("latin-1"))
    (folder / "u.user").write_text("1|24|M|technician|85711\n4|53|F|other|94043\n")
    return folder


def _recbole(folder: Path) -> Path:
    folder.mkdir()
    (folder / "ml-100k.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        + "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in RATINGS))
    (folder / "ml-100k.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "10\tToy Story\t1995\tAction Comedy\n20\tCafé\t1996\tComedy Drama\n")
    (folder / "ml-100k.user").write_text(
        "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n1\t24\tM\tx\t1\n4\t53\tF\ty\t2\n")
    return folder


def _ms(seconds: int) -> int:
    return seconds * 1000


@pytest.fixture(params=["grouplens", "recbole"])
def folder(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return (_grouplens if request.param == "grouplens" else _recbole)(tmp_path / request.param)


def test_mapping_is_exact(folder: Path) -> None:
    raw = movielens.read(folder)
    assert list(raw) == list(TABLES)
    for name, table in raw.items():
        assert table.schema == TABLES[name].schema, name

    accounts = raw["accounts"].to_pydict()
    # movie 10 → Action (1), movie 20 → Comedy (5, the first known genre), movie 30 unlisted → unknown (0)
    assert accounts["account_id"] == [0, 1, 5]
    assert accounts["category"] == [0, 1, 5]
    assert set(accounts["kind"]) == {"official"}
    assert [t.timestamp() for t in accounts["created_at"]] == [T] * 3

    posts = raw["posts"].to_pydict()
    assert posts["post_id"] == [10, 20, 30]
    assert posts["account_id"] == [1, 5, 0]
    assert [t.timestamp() for t in posts["created_at"]] == [T + 100, T, T + 200]
    assert set(posts["kind"]) == {"info"} and set(posts["format"]) == {"video"}
    assert set(posts["visibility"]) == {"public"}

    users = raw["users"].to_pydict()
    assert users["user_id"] == [1, 2, 3, 4]  # 4 is listed in the user file only
    assert [t.timestamp() for t in users["created_at"]] == [T, T + 110, T + 200, T]

    events = raw["events"]
    assert events.column("event_id").to_pylist() == [0, 1, 2, 4, 5, 6]
    assert events.column("action").to_pylist() == ["click", "like", "click", "click", "like", "click"]
    assert events.column("user_id").to_pylist() == [1, 1, 2, 1, 1, 3]
    assert events.column("target_id").to_pylist() == [10, 10, 10, 20, 20, 30]
    assert set(events.column("target_type").to_pylist()) == {"post"}
    assert set(events.column("slot").to_pylist()) == {"other"}
    assert set(events.column("source").to_pylist()) == {"in_app"}
    assert events.column("event_time").cast("int64").to_pylist() == [
        _ms(T + 100), _ms(T + 100), _ms(T + 110), _ms(T), _ms(T), _ms(T + 200)]
    assert raw["follows"].num_rows == 0 and raw["products"].num_rows == 0


def test_both_layouts_and_path_forms_agree(tmp_path: Path) -> None:
    g = _grouplens(tmp_path / "g")
    r = _recbole(tmp_path / "r")
    reads = [movielens.read(g), movielens.read(g / "u.data"), movielens.read(r),
             movielens.read(r / "ml-100k.inter")]
    for other in reads[1:]:
        for name in TABLES:
            assert other[name].equals(reads[0][name]), name


def test_without_item_file_every_movie_is_unknown(tmp_path: Path) -> None:
    folder = _grouplens(tmp_path / "g")
    (folder / "u.item").unlink()
    raw = movielens.read(folder)
    assert raw["accounts"].column("account_id").to_pylist() == [0]
    assert set(raw["posts"].column("account_id").to_pylist()) == {0}


def test_load_accepts_everything_and_reads_back(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = load_tables(ADAPTERS["movielens-100k"].read(folder), out, now_ms=NOW_MS)
    for name, rows_in, accepted, quarantined in report.rows():
        assert rows_in == accepted + quarantined, name
        assert quarantined == 0, name
    assert read_table(out, "events").num_rows == 6
    assert sorted(read_table(out, "users").column("user_id").to_pylist()) == [1, 2, 3, 4]
    for name in TABLES:
        assert read_table(out, name).schema == TABLES[name].schema


def test_unreadable_input_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="nothing-here"):
        movielens.read(tmp_path / "nothing-here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AdapterError, match="empty"):
        movielens.read(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "u.data").write_text("1\tten\t5\t3\n")
    with pytest.raises(AdapterError, match=r"u\.data"):
        movielens.read(bad)
