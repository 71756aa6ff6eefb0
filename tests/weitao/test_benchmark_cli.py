"""`weitao benchmark topk|movielens-100k` on a tiny synthetic MovieLens-format data set (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.topk_protocol import METRICS
from features.adapters import ADAPTERS
from features.load import load_tables
from training.topk import MODEL_NAMES
from weitao.commands.benchmark import app

runner = CliRunner()
GENRES = 19


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GroupLens-layout files: 60 users rating 12-25 of 80 movies, tastes split by genre and by age."""
    rng = np.random.default_rng(1)
    folder = tmp_path_factory.mktemp("ml")
    rows = []
    for u in range(1, 61):
        own = np.arange(1, 41) if u % 2 else np.arange(41, 81)
        picks = rng.choice(own, int(rng.integers(12, 26)), replace=False)
        for j, m in enumerate(picks):
            rows.append(f"{u}\t{m}\t{int(rng.integers(1, 6))}\t{880_000_000 + u * 1000 + j}")
    (folder / "u.data").write_text("\n".join(rows) + "\n")
    items = []
    for m in range(1, 81):
        flags = ["0"] * GENRES
        flags[1 + (m > 40)] = "1"
        items.append("|".join([str(m), f"Movie {m}", f"01-Jan-{1980 + m % 17}", "", "http://x", *flags]))
    (folder / "u.item").write_text("\n".join(items) + "\n", encoding="latin-1")
    users = [f"{u}|{20 + 20 * (u % 2)}|{'MF'[u % 2]}|{['student', 'writer'][u % 2]}|12345" for u in range(1, 61)]
    (folder / "u.user").write_text("\n".join(users) + "\n")
    return folder


@pytest.fixture(scope="module")
def data(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("contract") / "ml"
    load_tables(ADAPTERS["movielens-100k"].read(raw), out)
    return out


def _outputs(tmp: Path, recs_name: str = "recs.csv") -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    metrics = json.loads((tmp / "m.json").read_text())
    return metrics, pd.read_csv(tmp / recs_name), pd.read_csv(tmp / recs_name.replace(".csv", "_split.csv"))


def test_topk_writes_metrics_recs_and_split(data: Path, raw: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["topk", "--data", str(data), "--json", str(tmp_path / "m.json"),
                                 "--recs-out", str(tmp_path / "recs.csv")])
    assert result.exit_code == 0, result.output
    metrics, recs, split = _outputs(tmp_path)
    for name in (*MODEL_NAMES, "ours"):
        assert set(METRICS) <= set(metrics[name]), name
        assert all(0.0 <= metrics[name][m] <= 1.0 for m in METRICS)
    best = metrics["ours"]["model"]
    assert best != "popularity"  # the baseline is never ours
    assert metrics["ours"]["ndcg_at_k"] == max(metrics[n]["ndcg_at_k"] for n in MODEL_NAMES if n != "popularity")
    assert metrics["ours"]["ndcg_at_k"] == metrics[best]["ndcg_at_k"]
    assert recs.columns.tolist() == ["user", "item", "rank"]
    assert recs["rank"].between(1, 10).all() and recs.groupby("user").size().max() == 10
    source = pd.read_csv(raw / "u.data", sep="\t", header=None, names=["user", "item", "rating", "ts"])
    assert set(recs["user"]) <= set(source["user"]) and set(recs["item"]) <= set(source["item"])
    assert split.columns.tolist() == ["user", "item", "split"] and len(split) == len(source)
    train = split[split["split"] == "train"]
    assert recs.merge(train, on=["user", "item"]).empty  # no training item is recommended
    # temporal: each user's test items are their latest ratings
    timed = split.merge(source, on=["user", "item"])
    last_train = timed[timed["split"] == "train"].groupby("user")["ts"].max()
    first_test = timed[timed["split"] == "test"].groupby("user")["ts"].min()
    assert (last_train.loc[first_test.index] <= first_test).all()
    for word in ("reranker", "nDCG@k", "ours (best)"):
        assert word in result.output


def test_movielens_command_on_a_loaded_dir_prints_the_published_table(data: Path, raw: Path,
                                                                    tmp_path: Path) -> None:
    result = runner.invoke(app, ["movielens-100k", "--data", str(data), "--raw", str(raw), "--models", "ease",
                                 "--json", str(tmp_path / "m.json"), "--recs-out", str(tmp_path / "r.csv")])
    assert result.exit_code == 0, result.output
    metrics, _, split = _outputs(tmp_path, "r.csv")
    assert set(metrics) == {"popularity", "ease", "ours"} and metrics["ours"]["model"] == "ease"
    for word in ("BiVAE", "BPR", "SAR", "published"):
        assert word in result.output
    assert split["split"].value_counts()["test"] == pytest.approx(0.25 * len(split), rel=0.1)


def test_bad_arguments_are_named(data: Path, tmp_path: Path) -> None:
    base = ["--json", str(tmp_path / "m.json"), "--recs-out", str(tmp_path / "r.csv")]
    result = runner.invoke(app, ["topk", "--data", str(data), "--split", "random", *base])
    assert result.exit_code == 2 and "--split" in result.output
    result = runner.invoke(app, ["topk", "--data", str(data), "--models", "ease,slim", *base])
    assert result.exit_code == 2 and "slim" in result.output
    result = runner.invoke(app, ["topk", "--data", str(tmp_path / "nothing"), *base])
    assert result.exit_code == 2 and "events" in result.output


def test_topk_report_has_intervals_lift_activity_and_exposure(data: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["topk", "--data", str(data), "--json", str(tmp_path / "m.json"),
                                 "--recs-out", str(tmp_path / "recs.csv"), "--models", "popularity,ease",
                                 "--report", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    figs = json.loads((tmp_path / "report" / "report.json").read_text())
    for name in ("popularity", "ease"):
        m = figs["models"][name]
        assert m["ndcg"]["value"] == pytest.approx(metrics[name]["ndcg_at_k"])  # the benchmark's own figure
        assert m["ndcg"]["lo"] <= m["ndcg"]["value"] <= m["ndcg"]["hi"]
        assert 0 < m["coverage"] <= 1 and 0 <= m["exposure_gini"] <= 1
        assert len(m["by_activity"]) == len(figs["activity_buckets"])
    lift = figs["models"]["ease"]["lift_over_popularity"]["value"]
    assert lift == pytest.approx(metrics["ease"]["ndcg_at_k"] / metrics["popularity"]["ndcg_at_k"] - 1)
    assert "lift_over_popularity" not in figs["models"]["popularity"]
    for png in ("ndcg.png", "activity.png", "lorenz.png"):
        assert (tmp_path / "report" / png).read_bytes()[:4] == b"\x89PNG"
    assert "| ease |" in (tmp_path / "report" / "report.md").read_text()


def test_ours_is_the_best_of_our_models_even_when_popularity_beats_them() -> None:
    from weitao.commands.benchmark import _best

    scores = {"popularity": {"ndcg_at_k": 0.4, "map": 0.2}, "ease": {"ndcg_at_k": 0.3, "map": 0.1},
              "als": {"ndcg_at_k": 0.3, "map": 0.12}}
    assert _best(scores) == "als"  # ties on nDCG go to MAP
    assert _best({"popularity": scores["popularity"]}) == "popularity"  # nothing else was run
