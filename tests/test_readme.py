"""The README documents the contract and the commands that really exist."""

from __future__ import annotations

import re
from pathlib import Path

from features.contract import ENUMS, TABLES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_contract_column_and_enum_value_is_documented() -> None:
    for table in TABLES.values():
        assert f"**`{table.name}`**" in README
        for column in table.columns:
            assert f"| `{column.name}` |" in README, (table.name, column.name)
    for name, values in ENUMS.items():
        assert f"| `{name}` | {', '.join(values)} |" in README


def test_exactly_two_set_up_and_go_commands() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    assert [b.strip() for b in blocks] == ["bash scripts/quickstart.sh", "bash scripts/test.sh"]
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci
