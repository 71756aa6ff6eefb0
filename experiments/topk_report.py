"""The top-k benchmark's report: every model beside popularity, with intervals, by user activity, and exposure.

For each model's top-k lists against the test split: nDCG@k with a percentile bootstrap interval over test
users, its lift over popularity (paired over the same users, with its interval), nDCG@k by quartile of the
users' training interactions, catalogue coverage (share of training items recommended to anyone) and the
Lorenz curve of item exposure with its Gini. ``report.md`` holds the tables, PNGs the pictures,
``report.json`` every figure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from experiments.metrics.ranking import ndcg_per_user
from experiments.metrics.topk_data import ranking_data
from experiments.reports.bootstrap import paired_difference, ratio_interval
from experiments.reports.figures import activity_edges, bucket_labels, bucket_of, by_bucket, lorenz

BASELINE = "popularity"


def per_user_ndcg(test: pd.DataFrame, recs: pd.DataFrame, k: int) -> pd.Series:
    """nDCG@k per test user (0 for a user without recommendations), indexed by user id."""
    data = ranking_data(test["user"].to_numpy(), test["item"].to_numpy(), recs["user"].to_numpy(),
                        recs["item"].to_numpy(), -recs["rank"].to_numpy(np.float64), k=k)
    return pd.Series(np.nan_to_num(ndcg_per_user(data)), index=data.truth_users)


def figures(train: pd.DataFrame, test: pd.DataFrame, recs: dict[str, pd.DataFrame], k: int,
            rng: np.random.Generator, resamples: int = 1000) -> dict[str, Any]:
    """Every figure of the report, as plain numbers (see the module docstring)."""
    users = np.sort(test["user"].unique())
    activity = train.groupby("user").size().reindex(users, fill_value=0).to_numpy(np.float64)
    edges = activity_edges(activity)
    bucket = bucket_of(activity, edges)
    ones = np.ones(len(users))
    ndcg = {name: per_user_ndcg(test, r, k).reindex(users, fill_value=0.0).to_numpy() for name, r in recs.items()}
    items = train["item"].unique()
    out: dict[str, Any] = {"k": k, "users": len(users), "activity_buckets": bucket_labels(edges), "models": {}}
    for name, values in ndcg.items():
        shown = recs[name]["item"].value_counts().reindex(items, fill_value=0).to_numpy(np.float64)
        curve = lorenz(shown)
        entry = {"ndcg": ratio_interval(values, ones, rng, resamples=resamples).as_dict(),
                 "by_activity": [i.as_dict() for i in by_bucket(values, ones, bucket, len(edges) + 1, rng,
                                                                resamples)],
                 "coverage": float(np.mean(shown > 0)), "exposure_gini": curve.gini,
                 "lorenz": {"population": curve.population.tolist(), "exposure": curve.exposure.tolist()}}
        if BASELINE in ndcg and name != BASELINE:
            base = ndcg[BASELINE]
            diff = paired_difference((base, ones), (values, ones), rng, resamples=resamples)
            mean = float(base.mean())
            entry["lift_over_popularity"] = {k2: v / mean if mean > 0 else float("nan")
                                             for k2, v in diff.as_dict().items()}
        out["models"][name] = entry
    return out


def _bars(fig: dict[str, Any]) -> Figure:
    names = list(fig["models"])
    values = [fig["models"][n]["ndcg"] for n in names]
    f = Figure(figsize=(7, 3.5))
    ax = f.subplots()
    err = np.array([[v["value"] - v["lo"], v["hi"] - v["value"]] for v in values]).T
    ax.bar(names, [v["value"] for v in values], yerr=err, capsize=4, color="#4263eb")
    ax.set(ylabel=f"nDCG@{fig['k']}", title="nDCG with 95 % bootstrap intervals over users")
    ax.tick_params(axis="x", rotation=30)
    f.tight_layout()
    return f


def _activity(fig: dict[str, Any]) -> Figure:
    f = Figure(figsize=(7, 3.5))
    ax = f.subplots()
    labels = fig["activity_buckets"]
    for name, m in fig["models"].items():
        ax.errorbar(range(len(labels)), [b["value"] for b in m["by_activity"]], marker="o", capsize=3, label=name,
                    yerr=np.array([[b["value"] - b["lo"], b["hi"] - b["value"]] for b in m["by_activity"]]).T)
    ax.set_xticks(range(len(labels)), labels)
    ax.set(xlabel="training interactions of the user", ylabel=f"nDCG@{fig['k']}", title="nDCG by user activity")
    ax.legend(fontsize=7)
    f.tight_layout()
    return f


def _lorenz(fig: dict[str, Any]) -> Figure:
    f = Figure(figsize=(4.5, 4.5))
    ax = f.subplots()
    for name, m in fig["models"].items():
        ax.plot(m["lorenz"]["population"], m["lorenz"]["exposure"], label=f"{name} (Gini {m['exposure_gini']:.2f})")
    ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    ax.set(xlabel="share of items (least shown first)", ylabel="share of recommendations",
           title="item exposure Lorenz")
    ax.legend(fontsize=7)
    f.tight_layout()
    return f


def _interval(v: dict[str, float], pct: bool = False) -> str:
    f = (lambda x: f"{100 * x:+.1f} %") if pct else (lambda x: f"{x:.4f}")
    return f"{f(v['value'])} [{f(v['lo'])}, {f(v['hi'])}]"


def markdown(title: str, fig: dict[str, Any]) -> str:
    """The report text: the tables, and the plots by file name."""
    lines = [f"# {title}", "", f"{fig['users']:,} test users; top-{fig['k']}; 95 % percentile bootstrap intervals "
             "over users (lift: paired over the same users).", "",
             "| model | nDCG@k | lift over popularity | coverage | exposure Gini |", "|---|---|---|---|---|"]
    for name, m in fig["models"].items():
        lift = _interval(m["lift_over_popularity"], pct=True) if "lift_over_popularity" in m else "–"
        lines.append(f"| {name} | {_interval(m['ndcg'])} | {lift} | {m['coverage']:.3f} | {m['exposure_gini']:.3f} |")
    lines += ["", "![nDCG](ndcg.png)", "", "## nDCG by user activity (training interactions)", "",
              "| model | " + " | ".join(fig["activity_buckets"]) + " |",
              "|---|" + "---|" * len(fig["activity_buckets"])]
    for name, m in fig["models"].items():
        lines.append(f"| {name} | " + " | ".join(_interval(b) for b in m["by_activity"]) + " |")
    lines += ["", "![activity](activity.png)", "", "## Item exposure", "", "![Lorenz](lorenz.png)", ""]
    return "\n".join(lines)


def write_report(folder: Path, title: str, fig: dict[str, Any]) -> Path:
    """``report.md``, ``report.json`` and the PNGs into ``folder``; returns the Markdown's path."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, draw in (("ndcg", _bars), ("activity", _activity), ("lorenz", _lorenz)):
        draw(fig).savefig(folder / f"{name}.png", dpi=110)
    (folder / "report.json").write_text(json.dumps(fig, indent=2) + "\n")
    path = folder / "report.md"
    path.write_text(markdown(title, fig))
    return path
