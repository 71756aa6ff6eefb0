"""One typed settings tree: file, environment overrides, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from weitao.cli import app
from weitao.settings import SettingsError, describe, load_settings


def test_defaults_have_descriptions() -> None:
    rows = list(describe(load_settings()))
    assert rows and all(desc for _, _, desc in rows)
    assert {"simulator.seed", "data.dir", "evaluation.k"} <= {k for k, _, _ in rows}


def test_file_values_are_read(tmp_path: Path) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text("[simulator]\nseed = 42\nscale = 'small'\n")
    s = load_settings(cfg)
    assert s.simulator.seed == 42 and s.simulator.scale == "small"


@pytest.mark.parametrize(
    ("text", "key"),
    [("[simulator]\nsede = 1\n", "simulator.sede"), ("[simulatr]\nseed = 1\n", "simulatr"),
     ("[simulator]\nseed = 'abc'\n", "simulator.seed"), ("[simulator]\nscale = 'huge'\n", "simulator.scale")],
)
def test_unknown_keys_and_wrong_types_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text(text)
    with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
        load_settings(cfg)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text("[simulator]\nseed = 42\n")
    monkeypatch.setenv("WEITAO_SIMULATOR__SEED", "9")
    assert load_settings(cfg).simulator.seed == 9


def test_unknown_environment_key_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEITAO_SIMULATOR__SEDE", "9")
    with pytest.raises(SettingsError, match=r"(?i)simulator\.sede"):
        load_settings()
    monkeypatch.delenv("WEITAO_SIMULATOR__SEDE")
    monkeypatch.setenv("WEITAO_SIMULATORS", "x")
    with pytest.raises(SettingsError, match="WEITAO_SIMULATORS"):
        load_settings()


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "absent.toml")


def test_config_hash_changes_with_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text("[simulator]\nseed = 42\n")
    assert load_settings(cfg).config_hash() != load_settings().config_hash()


def test_config_show_prints_effective_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text("[evaluation]\nk = 5\n")
    result = CliRunner().invoke(app, ["--config", str(cfg), "config", "show", "--json"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output)["evaluation"]["k"] == 5
    table = CliRunner().invoke(app, ["--config", str(cfg), "config", "show"])
    assert "evaluation.k" in table.output and "Cut-off" in table.output


def test_bad_config_exits_with_a_message(tmp_path: Path) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text("[evaluation]\nkk = 5\n")
    result = CliRunner().invoke(app, ["--config", str(cfg), "config", "show"])
    assert result.exit_code == 2 and "evaluation.kk" in result.output
