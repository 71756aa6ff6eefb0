"""The layering rules of the house, read from the source with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "ranking", "training", "serving", "experiments", "weitao")
# What each package may import from the project (itself always allowed).
ALLOWED = {
    "features": set(),
    "ranking": {"features"},
    "training": {"features", "ranking"},
    "serving": {"features", "ranking"},
    "experiments": {"features", "ranking"},
    "weitao": {"features", "ranking", "training", "serving", "experiments"},
}
# Code that must never read the simulator's hidden truth.
TRUTH_BLIND = ("features", "ranking", "training", "serving")


def project_imports(path: Path) -> set[str]:
    """Top-level project packages imported by a module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {n.split(".")[0] for n in names if n.split(".")[0] in PACKAGES}
    return found


def violations(root: Path) -> list[str]:
    out = []
    for package, allowed in ALLOWED.items():
        for path in sorted((root / package).rglob("*.py")):
            for imported in project_imports(path) - allowed - {package}:
                out.append(f"{path.relative_to(root)} imports {imported}")
    return out


def test_imports_run_only_downward() -> None:
    assert violations(ROOT) == []


def test_the_checker_catches_an_upward_import(tmp_path: Path) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "features" / "bad.py").write_text("from ranking.gate import Gate\n")
    (tmp_path / "serving" / "bad.py").write_text("import training.jobs\n")
    (tmp_path / "ranking" / "fine.py").write_text("from features.contract import TABLES\n")
    assert violations(tmp_path) == ["features/bad.py imports ranking", "serving/bad.py imports training"]


def truth_references(root: Path) -> list[str]:
    """Modules outside `experiments` that import the world or mention its truth folder."""
    out = []
    for package in TRUTH_BLIND:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                text = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
                if text is not None and ("truth/" in text or text == "truth") and path.name != "storage.py":
                    out.append(f"{path.relative_to(root)}: {text!r}")
    return out


def test_no_training_or_ranking_code_reads_the_hidden_truth() -> None:
    assert truth_references(ROOT) == []


def test_the_truth_checker_catches_a_reader(tmp_path: Path) -> None:
    for package in TRUTH_BLIND:
        (tmp_path / package).mkdir()
    cheat = "import pyarrow.parquet as pq\nt = pq.read_table('d/truth/posts')\n"
    (tmp_path / "training" / "cheat.py").write_text(cheat)
    assert truth_references(tmp_path) == ["training/cheat.py: 'd/truth/posts'"]


def test_the_contract_reader_refuses_truth_tables(tmp_path: Path) -> None:
    from features.storage import StorageError, read_table

    (tmp_path / "truth" / "posts").mkdir(parents=True)
    with pytest.raises(StorageError, match="not a contract table"):
        read_table(tmp_path, "truth")
