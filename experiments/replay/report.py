"""The replay's figures as table rows, ``replay.json`` and ``replay.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

SLOT_COLUMNS = ("slot", "pages", "logged clicks/page", "logged engagements/page", "logged nDCG", "new nDCG",
                "new clicks/page", "95% interval", "estimator", "exact pages")
EXPOSURE_COLUMNS = ("group", "value", "logged share", "new share", "difference")
AMPLIFICATION_COLUMNS = ("post", "account", "kind", "tier", "logged", "with logged settings", "new", "settings effect",
                         "why (new settings)")


def _f(value: float, digits: int = 4) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def slot_rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per slot (and all slots): logged against new."""
    rows: list[tuple[str, ...]] = []
    for slot, m in result.get("slots", {}).items():
        lg, new = m["logged"], m["new"]
        cpp = new["clicks_per_page"]
        rows.append((slot, str(lg["pages"]), _f(lg["clicks_per_page"]), _f(lg["engagements_per_page"]),
                     _f(lg["ndcg"]), _f(new["ndcg"]), _f(cpp["value"]),
                     f"[{_f(cpp['ci_low'])}, {_f(cpp['ci_high'])}]", new["estimator"],
                     f"{new['exact_page_share']:.1%}"))
    return rows


def exposure_rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    """Impression shares by account kind and tier, logged against new."""
    rows: list[tuple[str, ...]] = []
    for group in ("account_kind", "tier"):
        for value, s in result.get("exposure", {}).get(group, {}).items():
            rows.append((group, value, f"{s['logged']:.2%}", f"{s['new']:.2%}", f"{s['difference']:+.2%}"))
    return rows


def amplification_rows(result: dict[str, Any], limit: int = 50) -> list[tuple[str, ...]]:
    """Posts whose amplification changes against the log (first ``limit``)."""
    amp = result.get("amplification")
    if not amp:
        return []
    rows: list[tuple[str, ...]] = []
    for r in (amp["would_be_amplified"] + amp["would_not_be_amplified"])[:limit]:
        rows.append((str(r["post_id"]), str(r["account_id"]), r["account_kind"], r["tier"], _yes(r["logged"]),
                     _yes(r["with_logged_settings"]), _yes(r["new"]), _yes(r["settings_effect"]), r["reason"]))
    return rows


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def write(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``replay.json`` and ``replay.md`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "replay.json", out / "replay.md"
    json_path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    md_path.write_text(markdown(result), encoding="utf-8")
    return json_path, md_path


def _md_table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The report as Markdown: what was replayed, slot metrics, exposure, amplification, closed-loop check."""
    lines = [f"# Replay of {result['day']}", "", f"Pages from the {result['pages_from']}."]
    if "slots" in result:
        lines += ["", f"## Slot metrics: logged vs `{result['policy']}`", "",
                  f"nDCG@{result['k']} on observed engagement (exact: the new order of the logged items). New clicks "
                  "per page: observed on pages the policy leaves unchanged, the reward model's direct estimate "
                  f"elsewhere (`exact+dm`, reward model `{result['reward_model']}`; IPW, SNIPW and DR in "
                  "replay.json), 95 % bootstrap interval.", ""]
        lines += _md_table(SLOT_COLUMNS, slot_rows(result))
        lines += [f"\n- {slot}: {m['new']['warning']}" for slot, m in result["slots"].items() if "warning" in m["new"]]
        lines += ["", "## Exposure by account kind and tier (share of impressions)", ""]
        lines += _md_table(EXPOSURE_COLUMNS, exposure_rows(result))
    if "amplification" in result:
        amp = result["amplification"]
        lines += ["", "## Amplification", "", f"Logged decisions from the {amp['source']}; settings changed: "
                  + (", ".join(f"`{k}` {v['logged']} → {v['new']}" for k, v in result["gate_changes"].items())
                     or "none") + ".", "",
                  f"Amplified: logged {amp['logged_amplified']}, replayed with the logged settings "
                  f"{amp['amplified_with_logged_settings']} (agreement with the log "
                  f"{amp['agreement_logged_settings_vs_log']:.1%}), with the new settings "
                  f"{amp['amplified_with_new_settings']}.", ""]
        lines += _md_table(AMPLIFICATION_COLUMNS, amplification_rows(result, limit=200))
    if "closed_loop_check" in result:
        lines += ["", "## Closed-loop check (simulated world)", "", "```", orjson.dumps(
            result["closed_loop_check"], option=orjson.OPT_INDENT_2).decode(), "```"]
    return "\n".join(lines) + "\n"
