"""`weitao data load|fetch` through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.storage import read_table
from weitao.cli import app

runner = CliRunner()


def _flat(text: str) -> str:
    """Output without whitespace, so that rich's line wrapping does not split paths."""
    return "".join(text.split())


@pytest.fixture
def lastfm_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "lastfm"
    folder.mkdir()
    (folder / "user_artists.dat").write_text("userID\tartistID\tweight\n2\t51\t13\n3\t51\t4\n")
    (folder / "user_friends.dat").write_text("userID\tfriendID\n2\t3\n3\t2\n")
    return folder


def test_load_prints_summary_and_writes(lastfm_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["data", "load", "lastfm", str(lastfm_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for word in ("table", "rows in", "accepted", "quarantined", "accounts", "events", "follows"):
        assert word in result.output
    assert _flat(str(out.resolve())) in _flat(result.output)
    assert read_table(out, "events").num_rows == 2
    assert read_table(out, "follows").num_rows == 2

    again = runner.invoke(app, ["data", "load", "lastfm", str(lastfm_dir), "--out", str(out)])
    assert again.exit_code != 0
    assert "overwrite" in again.output
    forced = runner.invoke(app, ["data", "load", "lastfm", str(lastfm_dir), "--out", str(out), "--overwrite"])
    assert forced.exit_code == 0, forced.output


def test_load_counts_quarantined_rows(tmp_path: Path) -> None:
    csv = tmp_path / "UserBehavior.csv"
    csv.write_text("1,100,7,pv,1511544070\n1,100,7,oops,1511544080\n")
    result = runner.invoke(app, ["data", "load", "taobao", str(csv), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    events_line = next(line for line in result.output.splitlines() if "events" in line)
    assert [w for w in events_line.replace("│", " ").split() if w.isdigit()] == ["2", "1", "1"]


def test_unknown_kind_lists_the_kinds(lastfm_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "load", "netflix", str(lastfm_dir), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    for kind in ("movielens-100k", "taobao", "lastfm", "hackernews", "open-bandit", "contract"):
        assert kind in result.output
    assert not (tmp_path / "o").exists()


def test_unreadable_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    result = runner.invoke(app, ["data", "load", "movielens-100k", str(missing), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert _flat(str(missing)) in _flat(result.output)

    garbage = tmp_path / "u.data"
    garbage.write_text("not\ta\trating\tfile\n")
    result = runner.invoke(app, ["data", "load", "movielens-100k", str(garbage), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert _flat(str(garbage)) in _flat(result.output)
    assert not (tmp_path / "o").exists()


def test_fetch_rejects_unknown_names_and_options(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "fetch", "netflix", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "movielens-100k" in result.output and "open-bandit" in result.output
    result = runner.invoke(app, ["data", "fetch", "open-bandit", "--campaign", "kids", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "men" in result.output


@pytest.mark.slow
def test_fetch_movielens_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEITAO_DATA__DOWNLOAD_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "ml"
    result = runner.invoke(app, ["data", "fetch", "movielens-100k", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cache" / "wheels").is_dir()
    assert read_table(out, "users").num_rows == 943
    assert read_table(out, "posts").num_rows == 1_682


@pytest.mark.slow
def test_fetch_open_bandit_bts_men(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEITAO_DATA__DOWNLOAD_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "obd"
    result = runner.invoke(app, ["data", "fetch", "open-bandit", "--behavior", "bts", "--campaign", "men",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert read_table(out, "products").num_rows == 34
    events = read_table(out, "events")
    assert events.num_rows >= 10_000
