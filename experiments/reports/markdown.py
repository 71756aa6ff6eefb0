"""``report.md`` and ``compare.md``: the same figures as the JSON, for people, with the PNGs inline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from experiments.reports.build import SCALARS, SLOT_METRICS


def fmt(v: Any, digits: int = 3) -> str:
    """A cell: numbers rounded, missing values as a dash."""
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def interval(iv: dict[str, Any] | None) -> str:
    """``value [lo, hi]``."""
    if iv is None:
        return "—"
    return f"{fmt(iv['value'])} [{fmt(iv['lo'])}, {fmt(iv['hi'])}]"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Markdown table lines."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows]


def _slot_lines(report: dict[str, Any]) -> list[str]:
    lines = ["## Per-slot metrics (session means, 95 % bootstrap intervals over users)", ""]
    for slot, by in report["slots"].items():
        lines += [f"### {slot}", ""]
        rows = [[p, f["users"], f["sessions"], *[interval(f[k]) for k in SLOT_METRICS]] for p, f in by.items()]
        lines += [*table(["policy", "users", "sessions", *SLOT_METRICS], rows), ""]
        a = report["activity"][slot]
        rows = [[p, *[interval(iv) for iv in ivs]] for p, ivs in a["by_policy"].items()]
        lines += [f"nDCG@10 by past actions of the user ({slot}):", ""]
        lines += [*table(["policy", *a["labels"]], rows), ""]
        cal = report["calibration"].get(slot, {})
        if cal:
            rows = [[p, h, c["ece"]] for p, heads in cal.items() for h, c in heads.items()]
            lines += [f"Calibration of the model's probabilities ({slot}):", ""]
            lines += [*table(["policy", "head", "expected calibration error"], rows), ""]
    return lines


def _spread_lines(report: dict[str, Any]) -> list[str]:
    f = report["funnel"]
    lines = ["## Amplification funnel (posts published privately in the window reaching each stage)", ""]
    lines += [*table(["policy", *f["stages"]], [[p, *c] for p, c in f["by_policy"].items()]), ""]
    lines += ["## Exposure, coverage, new creators", ""]
    rows = [[p, report["lorenz"][p]["gini"], report["coverage"][p], report["new_creator_share"][p]]
            for p in report["policies"]]
    lines += [*table(["policy", "exposure Gini (accounts)", "coverage of window posts",
                      "new-creator share of impressions"], rows), ""]
    lines += ["## Amplification figures (mean over seeds)", ""]
    rows = [[p, *[report["amplification"][p][k] for k in SCALARS]] for p in report["policies"]]
    return [*lines, *table(["policy", *SCALARS], rows), ""]


def report_markdown(report: dict[str, Any], figures: Sequence[str]) -> str:
    """The whole report as Markdown; ``figures`` are PNG names in the same folder."""
    lines = ["# Weitao evaluation report", ""]
    lines += [f"- {k}: `{v}`" for k, v in report["meta"].items()] + [""]
    lines += _slot_lines(report) + _spread_lines(report)
    lines += ["## Plots", ""] + [f"![{name[:-4]}]({name})" for name in figures]
    lines += ["", "Intervals: percentile bootstrap over users (a user's sessions stay together; seeds pooled, "
              "a unit is a seed's user). Gain and lift rank a random sample of shown rows by the policy's own "
              "score; calibration needs the model's head probabilities, so only model policies have it, and its "
              "observed clicks include the position effect of the page. Lorenz and Gini pool each seed's accounts. "
              "Coverage: "
              "share of posts published in the window shown at least once. New creator: account younger than "
              "30 days when it posted."]
    return "\n".join(lines) + "\n"


def compare_markdown(labels: tuple[str, str], rows: Sequence[Sequence[Any]], scalar_rows: Sequence[Sequence[Any]],
                     figures: Sequence[str]) -> str:
    """Side-by-side comparison of two runs: differences are B − A with their 95 % bootstrap intervals."""
    a, b = labels
    lines = ["# Weitao evaluation comparison", "", f"- A: `{a}`", f"- B: `{b}`", "",
             "## Slot metrics (difference B − A, 95 % bootstrap interval)", ""]
    lines += [*table(["slot", "policy", "metric", "A", "B", "B − A", "interval", "pairing"], rows), ""]
    lines += ["## Other figures (no interval)", ""]
    lines += [*table(["figure", "policy", "A", "B", "B − A"], scalar_rows), ""]
    lines += ["## Plots", ""] + [f"![{name[:-4]}]({name})" for name in figures]
    return "\n".join(lines) + "\n"
