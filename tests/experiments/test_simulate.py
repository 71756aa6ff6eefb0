"""`simulate` writes valid contract tables and a separate truth; a seed fixes every byte."""

from __future__ import annotations

import hashlib
from pathlib import Path

from experiments.settings import SimulatorSettings
from experiments.simulate import simulate
from features.contract import TABLES
from features.load import validate_dir
from features.storage import read_table


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.parquet"))}


def test_same_seed_same_bytes_and_other_seed_other_bytes(tmp_path: Path) -> None:
    s = SimulatorSettings()
    a = simulate(s, "small", 1, tmp_path / "a")
    simulate(s, "small", 1, tmp_path / "b")
    simulate(s, "small", 2, tmp_path / "c")
    da, db, dc = _digest(tmp_path / "a"), _digest(tmp_path / "b"), _digest(tmp_path / "c")
    assert da == db and len(da) > 6
    assert da != dc
    assert a.events > 10_000


def test_output_layout_and_validation(tmp_path: Path) -> None:
    rep = simulate(SimulatorSettings(), "small", 3, tmp_path / "w")
    out = tmp_path / "w"
    assert {p.name for p in out.iterdir()} == set(TABLES) | {"truth"}
    assert {p.name for p in (out / "truth").iterdir()} == {"posts", "accounts", "users", "products"}
    assert any(p.name.startswith("date=") for p in (out / "events").iterdir())
    assert sum(rep.quarantined.values()) == 0
    report = validate_dir(out, now_ms=2_000_000_000_000)
    assert all(r.quarantined == 0 for r in report.tables.values())
    events = read_table(out, "events")
    assert events.num_rows == rep.events
    assert events.schema == TABLES["events"].schema
    # logged pages carry propensities in (0, 1]
    prop = events.column("propensity").drop_null().to_numpy()
    assert len(prop) > 0 and prop.min() > 0 and prop.max() <= 1
