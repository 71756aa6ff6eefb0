"""Experiment analysis: click-through per arm with user-level intervals, on logs with a known answer."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from experiments.abtest import analyse, arm_labels
from features.contract import ENUMS, enum_array, ms


def _logs(ctr: dict[str, float], users_per_arm: int, rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    """Each user sees 10 items; each row is clicked 30 s later with its arm's probability."""
    pages, clicks = [], []
    user = 0
    for arm, p in ctr.items():
        for _ in range(users_per_arm):
            for item in range(10):
                t = 1_000_000 + item * 1_000
                pages.append((f"r{user}", user, item, t, f"other=x;ranker={arm}"))
                if rng.random() < p:
                    clicks.append((user, item, t + 30_000))
            user += 1
    clicks.append((0, 5, 1_000_000 + 5_000 + 4_000_000))  # too late to count
    page_table = pa.table({"request_id": [p[0] for p in pages], "user_id": [p[1] for p in pages],
                           "item_id": [p[2] for p in pages], "served_ms": [p[3] for p in pages],
                           "experiments": [p[4] for p in pages]})
    n = len(clicks)
    events = pa.table({"user_id": [c[0] for c in clicks], "target_id": [c[1] for c in clicks],
                       "action": enum_array("action", [ENUMS["action"].index("click")] * n),
                       "event_time": ms([c[2] for c in clicks])})
    return page_table, events


def test_a_known_difference_is_found_and_no_difference_is_not() -> None:
    rng = np.random.default_rng(0)
    pages, events = _logs({"control": 0.10, "new": 0.14, "same": 0.10}, 1_500, rng)
    result = {r.arm: r for r in analyse(pages, events, "ranker", np.random.default_rng(1), n_boot=400)}
    assert result["control"].ctr == pytest.approx(0.10, abs=0.01) and result["new"].ctr == pytest.approx(0.14, abs=0.01)
    assert result["new"].diff_low > 0 and result["new"].diff_low < 0.04 < result["new"].diff_high
    assert result["same"].diff_low < 0 < result["same"].diff_high  # control: equal arms, interval covers 0
    assert result["control"].ctr_low < result["control"].ctr < result["control"].ctr_high
    assert result["new"].users == 1_500 and result["new"].rows == 15_000


def test_labels_and_errors_name_the_problem() -> None:
    import pandas as pd

    labels = pd.Series(["a=1;ranker=new", "ranker=control", "", None])
    assert arm_labels(labels, "ranker").tolist()[:2] == ["new", "control"]
    pages, events = _logs({"control": 0.1}, 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="layer"):
        analyse(pages, events, "missing", np.random.default_rng(0))
    with pytest.raises(ValueError, match="control"):
        analyse(pages, events, "ranker", np.random.default_rng(0), control="nope")


def test_weitao_experiment_analyze_reads_the_page_log_and_events(tmp_path: object) -> None:
    import json
    from pathlib import Path

    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from serving.pagelog import SCHEMA
    from weitao.cli import app

    root = Path(str(tmp_path))
    pages, events = _logs({"control": 0.10, "new": 0.30}, 300, np.random.default_rng(2))
    n = pages.num_rows
    full = {name: pages.column(name) if name in pages.column_names else pa.nulls(n, SCHEMA.field(name).type)
            for name in SCHEMA.names}
    (root / "served").mkdir()
    pq.write_table(pa.table(full).cast(SCHEMA), root / "served" / "pages-1.parquet")
    (root / "log").mkdir()
    import pyarrow.ipc as ipc
    with ipc.new_file(str(root / "log" / "0001-w1-0.arrow"), events.schema) as w:
        w.write_table(events)
    out = root / "ab.json"
    result = CliRunner().invoke(app, ["experiment", "analyze", "--pages", str(root / "served"), "--events",
                                      str(root / "log"), "--layer", "ranker", "--json", str(out)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["new"]["diff_low"] > 0.1 and figures["control"]["diff"] == 0
