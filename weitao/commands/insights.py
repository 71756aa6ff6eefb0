"""`weitao insights ACCOUNT --data DIR --out DIR`: the seller insights of one account, as a report with plots.

The body is the service's own (``serving.insights``) built over the same indexed data (``serving.data``), as
of the end of the data. The command prints a summary and writes ``insights.md``, ``insights.json`` and one
PNG per insight (funnel, posting hours, tier, amplification history, peers) into ``--out``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from serving.data import ServiceDataError, load_service_data
from serving.insights import UnknownAccount, account_insights
from serving.pages.insights import COUNTS, FIGURES
from weitao.commands.common import console, fail, settings_of, summary_table

MET = {True: "yes", False: "no", None: "monthly"}
PLOTS = ("funnel", "posting_hours", "tier", "amplification", "peers")


def insights_cmd(
    ctx: typer.Context,
    account: Annotated[int, typer.Argument(help="Account id.")],
    data: Annotated[Path | None, typer.Option("--data", help="Data directory (default serving.data_dir).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for insights.md, insights.json and the plots.")] =
    Path("runs/insights"),
    posts: Annotated[int, typer.Option("--posts", min=1, max=200, help="Newest posts to list.")] = 20,
) -> None:
    """An account's LINK+ funnel, fan revisits, best posting hour, tier progress, amplification and peers."""
    settings = settings_of(ctx)
    folder = data or settings.serving.data_dir
    try:
        service = load_service_data(Path(folder), settings.features, settings.ranking)
        body = account_insights(service, settings.gate, account, service.data_end_ms, posts, tiers=settings.tiers)
    except (ServiceDataError, UnknownAccount) as e:
        fail(str(e).strip("'\""))
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / "insights.json").write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    images = write_plots(body, out)
    (out / "insights.md").write_text(markdown(body, images))
    _print(body)
    console.print(f"wrote {out / 'insights.md'} with {len(images)} plots", soft_wrap=True)


def _print(body: dict[str, Any]) -> None:
    a = body["account"]
    rows = []
    for f in body["peers"]["figures"]:
        show = _n if f["field"] in COUNTS else _p
        rows.append((FIGURES.get(f["field"], f["field"]), show(f["value"]), show(f["tier"]["median"]),
                     show(f["category"]["median"])))
    summary_table(f"account {a['account_id']} ({a['kind']}, {a['tier']} {a['tier_state'] or ''})",
                  ("figure", "you", "tier median", "category median"), rows)
    summary_table("LINK+ funnel, 30 days", ("stage", "", "count", "rate"),
                  [(s["stage"], s["label"], _n(s["count"]), _p(s["rate"])) for s in body["funnel"]])
    for line in (body["posting_hours"]["summary"], body["tier_progress"]["summary"]):
        console.print(line, soft_wrap=True)


def markdown(body: dict[str, Any], images: dict[str, str]) -> str:
    """The report: one section per insight, each with its plot and its figures."""
    a, r = body["account"], body["fan_revisit"]
    lines = [f"# Account {a['account_id']} insights", "",
             f"{a['kind']} · tier {a['tier']} ({a['tier_state'] or 'no state'}) · category {a['category']}", "",
             "## LINK+ funnel (30 days)", "", f"![funnel]({images['funnel']})", "",
             "| stage | | count | rate | rate means |", "|---|---|---:|---:|---|",
             *(f"| {s['stage']} | {s['label']} | {_n(s['count'])} | {_p(s['rate'])} | {s['rate_means']} |"
               for s in body["funnel"]), "",
             f"30-day fan revisit rate: {_p(r['rate_30d'])} ({_n(r['fan_visits_30d'])} fan visits, {_n(r['fans'])} "
             "fans).", "", "## Best posting hour", "", body["posting_hours"]["summary"], "",
             f"![posting hours]({images['posting_hours']})", "", "## Tier and what it takes to move up", "",
             body["tier_progress"]["summary"], "", f"![tier]({images['tier']})", "",
             "| condition | rule | you | needed | met |", "|---|---|---:|---:|---|",
             *(f"| {c['label']} | {c['for']} | {_v(c['have'])} | {_v(c['need'])} | {MET[c['met']]} |"
               for c in body["tier_progress"]["conditions"]),
             "", "## Amplification history", "", f"![amplification]({images['amplification']})", "",
             "| post | level | fan views | non-fan views | why |", "|---:|---|---:|---:|---|",
             *(f"| {p['post_id']} | {p['level']} | {_n(p['fan_impressions'])} | {_n(p['nonfan_impressions'])} | "
               f"{p['reason']} |" for p in reversed(body["amplification"]["posts"])),
             "", "## You and your peers", "", f"![peers]({images['peers']})", "",
             "| figure | you | tier q1 | tier median | tier q3 | category median |", "|---|---:|---:|---:|---:|---:|",
             *(f"| {FIGURES.get(f['field'], f['field'])} | {_v(f['value'])} | {_v(f['tier']['q1'])} | "
               f"{_v(f['tier']['median'])} | {_v(f['tier']['q3'])} | {_v(f['category']['median'])} |"
               for f in body["peers"]["figures"])]
    return "\n".join(lines) + "\n"


def _n(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


def _p(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f} %"


def _v(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}" if abs(x) >= 1 else f"{x:.4f}"


def write_plots(body: dict[str, Any], out: Path) -> dict[str, str]:
    """One PNG per insight in ``out``; returns insight → file name."""
    from matplotlib.figure import Figure  # deferred: only this command draws; a bare Figure needs no display

    from weitao.commands.insights_plots import DRAW

    names = {}
    for key in PLOTS:
        fig = Figure(figsize=(7, 3.6))
        DRAW[key](fig.subplots(), body)
        fig.tight_layout()
        fig.savefig(out / f"{key}.png", dpi=110)
        names[key] = f"{key}.png"
    return names
