"""The evaluation report: `summary.json` for tools and `summary.md` for people."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson

from experiments.closed_loop import LoopResult

FEED_SLOTS = ("follow_feed", "new_arrival", "hotlist")
AMP_KEYS = ("precision", "median_hours_to_amplify", "new_creator_ratio", "exposure_gini", "follows_per_1k",
            "farm_posts_amplified", "amplified", "truly_good")


def json_safe(value: Any) -> Any:
    """JSON has no infinity: never-amplified medians are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value


def summarise(results: list[LoopResult]) -> dict[str, Any]:
    """{"feeds": {slot: {policy: figures}}, "amplification": {policy: figures}}."""
    feeds: dict[str, dict[str, Any]] = {s: {} for s in FEED_SLOTS}
    amp: dict[str, Any] = {}
    for r in results:
        for slot, figures in r.slots.items():
            feeds.setdefault(slot, {})[r.policy] = figures
        amp[r.policy] = {k: r.amplification.get(k) for k in AMP_KEYS}
    return {"feeds": feeds, "amplification": amp}


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return "∞" if math.isinf(v) else f"{v:.3f}"
    return str(v)


def markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    """``summary.md``: ``meta`` as a list, then the feed and amplification tables of ``summarise``'s summary (— for
    a missing figure, ∞ for an infinite one)."""
    lines = ["# Weitao evaluation report", ""]
    lines += [f"- {k}: `{v}`" for k, v in meta.items()]
    lines += ["", "## Feeds: nDCG@10 on true utility (oracle = 1.0)", "",
              "| policy | " + " | ".join(FEED_SLOTS) + " |", "|---" * (len(FEED_SLOTS) + 1) + "|"]
    policies = list(summary["amplification"])
    for p in policies:
        row = [_fmt(summary["feeds"].get(s, {}).get(p, {}).get("ndcg_at_10")) for s in FEED_SLOTS]
        lines.append(f"| {p} | " + " | ".join(row) + " |")
    lines += ["", "## Amplification (posts published in the evaluation window)", "",
              "| policy | " + " | ".join(AMP_KEYS) + " |", "|---" * (len(AMP_KEYS) + 1) + "|"]
    for p in policies:
        lines.append(f"| {p} | " + " | ".join(_fmt(summary["amplification"][p][k]) for k in AMP_KEYS) + " |")
    lines += ["", "Truly good = public appeal in the top decile of posts published in the world. A post never "
              "amplified counts as never, so a policy amplifying fewer than half of the truly good posts has an "
              "infinite median time.",
              "", "Ours is the registered rankers' recipe (the same settings, code and feature sets) trained on the "
              "history before the evaluation window, not the registered models themselves: those were trained on "
              "every simulated day, the window's logged days included, so they have seen how the window's posts "
              "did."]
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, summary: dict[str, Any], meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write `summary.json` and `summary.md` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "summary.json", out_dir / "summary.md"
    js.write_bytes(orjson.dumps(json_safe({"meta": meta, **summary}), option=orjson.OPT_INDENT_2))
    md.write_text(markdown(summary, meta))
    return js, md
