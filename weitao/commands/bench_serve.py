"""`weitao bench serve | soak | ann | rank-path | memory`: the ranking service under load, over a long run,
the item index, one request's path in-process, and one worker's memory at catalogue scale."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from experiments.bench_ann import AnnOptions, bench_ann
from weitao.bench.memory import bench_memory
from weitao.bench.rank_path import load_world, rank_path_figures
from weitao.bench.serve import ServeBenchOptions, bench_serve
from weitao.bench.soak import SoakOptions, bench_soak
from weitao.commands.common import console, fail, settings_of, summary_table

#: Rows of the serve table: (label, key in each service's figures, names of the checks shown beside it).
SERVE_ROWS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("p50 ms (unloaded)", "p50_ms", ("p50 / naive p50", "p50 / (floor p50 + predict p50)")),
    ("p99 ms (unloaded)", "p99_ms", ()),
    ("max rps, 1 worker", "max_rps_1w", ()),
    ("max rps, 2 workers", "max_rps_2w", ("max rps 2w / naive max rps 2w", "max rps 2w")),
    ("p99 ms at 300 rps (2w)", "p99_ms_at_300rps", ("p99 ms at 300 rps (2w)",)),
    ("RSS MB per worker (max)", "rss_mb", ("RSS MB per worker",)),
    ("model predict p50 ms (500 rows)", "predict_p50_ms", ()),
    ("non-model p50 ms", "non_model_p50_ms", ("non-model p50 ms",)),
)
SERVICES = ("floor", "naive", "ours")


def _cell(figures: dict[str, Any] | None, key: str) -> str:
    value = None if figures is None else figures.get(key)
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def print_serve(result: dict[str, Any]) -> None:
    """The figures of every service side by side, with the targets and whether ours meets them."""
    checks = {c["name"]: c for c in result["checks"]}
    rows = []
    for label, key, names in SERVE_ROWS:
        targets = [f"{n}: {checks[n]['value']:.2f} {checks[n]['target']} {'✓' if checks[n]['met'] else '✗'}"
                   for n in names if n in checks]
        rows.append((label, *(_cell(result.get(s), key) for s in SERVICES), "\n".join(targets)))
    model = result["meta"]["model"]
    summary_table(f"weitao bench serve ({result['meta']['options']['scale']} world; follow_feed, 500 candidates; "
                  f"{max(model['trees_per_head'].values(), default=0)} trees × {model['mean_leaves_per_tree']:.0f} "
                  f"leaves per head{', compiled' if model['compiled'] else ''})",
                  ("figure", *SERVICES, "target (ours)"), rows)
    fl = result.get("ours", {}).get("event_flood")
    if fl:
        console.print(f"event flood (one account at 10x its limit, {fl['events_per_second']:.0f} events/s) during "
                      f"/rank at the fixed rate: rank p50 {fl['rank_p50_ms']:.1f} ms, p99 {fl['rank_p99_ms']:.1f} ms "
                      f"(target 25); event batches answered 429: {fl['event_answers']['429']}, 200: "
                      f"{fl['event_answers']['200']}", soft_wrap=True)
    per_pass = result.get("ours", {}).get("requests_per_pass_1w")
    if per_pass:
        console.print(f"ours, 1 worker: {per_pass:.1f} requests per pipeline pass on average over the max-rps "
                      "search (requests that arrive while the worker is busy share a pass)", soft_wrap=True)
    console.print(f"load generator ceiling (closed loop against the floor, 2 workers): "
                  f"{result['generator_max_rps']:,.0f} rps; generator and workers share the machine's cores",
                  soft_wrap=True)
    for name in SERVICES:
        c = result.get(name, {}).get("contention")
        if c:
            console.print(f"{name}: other processes used {c['other_cores_mean']:.2f} cores on average during its "
                          f"steps (max {c['other_cores_max']:.2f}); {c['contended_steps']} of {c['steps']} steps "
                          "contended even after a retry", soft_wrap=True)
    bound = [s for s in SERVICES if s in result and any(result[s][f"search_{w}"]["generator_bound"]
                                                          for w in ("1w", "2w"))]
    if bound:
        console.print(f"[yellow]generator-bound:[/yellow] {', '.join(bound)} reached the generator's ceiling; "
                      "their max rps is a lower bound")


def serve(
    ctx: typer.Context,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures to this JSON file.")] = None,
    scale: Annotated[str | None, typer.Option("--scale", help="World scale (default medium; quick: small).")] = None,
    seconds: Annotated[float | None, typer.Option("--seconds", min=0.5, help="Seconds per load step.")] = None,
    trees: Annotated[int | None, typer.Option("--trees", min=1, help="Trees per head (production: 300).")] = None,
    leaves: Annotated[int | None, typer.Option("--leaves", min=2, help="Leaves per tree (production: 63).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Smoke test: small world, tiny models, short steps.")] = False,
    services: Annotated[str, typer.Option("--services", help="Comma-separated subset of floor,naive,ours.")] = (
        "floor,naive,ours"),
    workdir: Annotated[Path | None, typer.Option("--workdir", help="Keep world, registry and logs here.")] = None,
) -> None:
    """Floor, naive and our service on uvicorn under open-loop load: latency, max throughput, memory."""
    names = tuple(s.strip() for s in services.split(",") if s.strip())
    if not names or set(names) - set(SERVICES):
        fail(f"--services: choose among {', '.join(SERVICES)}")
    changes = {k: v for k, v in {"scale": scale, "seconds": seconds, "trees": trees, "leaves": leaves}.items()
               if v is not None}
    opts = (ServeBenchOptions.quick if quick else ServeBenchOptions)(services=names, workdir=workdir, **changes)
    simulator = settings_of(ctx).simulator
    if opts.scale not in simulator.scales:
        fail(f"--scale: unknown scale {opts.scale!r}; known: {', '.join(simulator.scales)}")
    result = bench_serve(opts, simulator, on_step=lambda s: console.print(f"… {s}", soft_wrap=True))
    print_serve(result)
    write_json(json_out, result)


def write_json(path: Path | None, result: dict[str, Any]) -> None:
    """Write ``result`` as the whole document (``{"floor": …, "naive": …, "ours": …}`` for serve)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    console.print(f"figures written to [bold]{path}[/bold]")


def soak(
    ctx: typer.Context,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures to this JSON file.")] = None,
    pages: Annotated[int, typer.Option("--pages", min=1, help="Pages ranked in-process.")] = 1_000_000,
    requests: Annotated[int, typer.Option("--requests", min=0, help="HTTP requests for the RSS part (0: skip).")] = (
        100_000),
    sample_every: Annotated[int, typer.Option("--sample-every", min=100, help="Requests per RSS sample.")] = 10_000,
    rps: Annotated[float, typer.Option("--rps", min=1, help="Arrival rate of the RSS part.")] = 250.0,
    scale: Annotated[str, typer.Option("--scale", help="World scale.")] = "medium",
    trees: Annotated[int, typer.Option("--trees", min=1, help="Trees per head.")] = 100,
    leaves: Annotated[int, typer.Option("--leaves", min=2, help="Leaves per tree.")] = 31,
    max_seconds: Annotated[float, typer.Option("--max-seconds", min=1, help="Bound on the pages part.")] = 14_400.0,
    workdir: Annotated[Path | None, typer.Option("--workdir", help="Keep world, registry and logs here.")] = None,
) -> None:
    """Fans-only leaks over many in-process pages (must be 0), and worker RSS drift over many HTTP requests."""
    simulator = settings_of(ctx).simulator
    if scale not in simulator.scales:
        fail(f"--scale: unknown scale {scale!r}; known: {', '.join(simulator.scales)}")
    opts = SoakOptions(pages=pages, requests=requests, sample_every=min(sample_every, max(requests, 100)), rps=rps,
                       max_seconds=max_seconds)
    result = bench_soak(opts, simulator, scale=scale, trees=trees, leaves=leaves, workdir=workdir,
                        on_step=lambda s: console.print(f"… {s}", soft_wrap=True))
    p, m = result["pages"], result["memory"]
    rows: list[tuple[Any, ...]] = [
        ("pages ranked", f"{p['pages']:,}", ""), ("pages/s", f"{p['pages_per_s']:,.0f}", ""),
        ("fans-only leaks", p["fans_only_leaks"], "= 0 " + ("✓" if p["fans_only_leaks"] == 0 else "✗")),
        ("fans-only posts served to fans", f"{p['fans_only_served_to_fans']:,}", "> 0 (the check had work)"),
        ("follow churn events applied", f"{p['churn_events']:,}", "")]
    if m is not None:
        rows += [("HTTP requests", f"{m['requests']:,}", ""), ("RSS first MB (per worker)", _mb(m["rss_first_mb"]), ""),
                 ("RSS last MB", _mb(m["rss_last_mb"]), ""), ("RSS max MB", _mb(m["rss_max_mb"]), ""),
                 ("RSS drift % (max |.|)", f"{m['max_abs_drift_pct']:.1f}",
                  "±5 % " + ("✓" if m["max_abs_drift_pct"] <= 5 else "✗")), ("HTTP errors", m["errors"], "")]
    summary_table(f"weitao bench soak ({scale} world)", ("figure", "value", "target"), rows)
    write_json(json_out, result)


def ann(
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures to this JSON file.")] = None,
    items: Annotated[int, typer.Option("--items", min=1_000, help="Indexed items.")] = 1_000_000,
    queries: Annotated[int, typer.Option("--queries", min=10, help="Queries drawn from the items.")] = 2_000,
    dim: Annotated[int, typer.Option("--dim", min=2, help="Vector dimension.")] = 64,
    vectors: Annotated[str, typer.Option("--vectors", help="random (default) or clustered.")] = "random",
) -> None:
    """Single-query p50 and recall@100 of the item index at 1M items, and the best setting that meets both."""
    if vectors not in ("random", "clustered"):
        fail("--vectors: random or clustered")
    result = bench_ann(AnnOptions(items=items, queries=queries, dim=dim, vectors=vectors),
                       on_step=lambda s: console.print(f"… {s}", soft_wrap=True))
    rows = [(_setting(t), f"{t['p50_ms']:.3f}", f"{t['p99_ms']:.3f}", f"{t['recall_at_k']:.3f}",
             f"{t['index_mb']:,.0f}", f"{t['build_s']:.0f}") for t in result["tried"]]
    summary_table(f"weitao bench ann ({items:,} {vectors} vectors, dim {dim}; target p50 ≤ 0.2 ms at recall@100 "
                  "≥ 0.95)", ("setting", "p50 ms", "p99 ms", "recall@100", "index MB", "build s"), rows)
    best = result["recommended"]
    verdict = "meets both targets" if result["recommended_meets_target"] else "does NOT meet both targets"
    console.print(f"ours (defaults) {'meets' if result['ours_meets_target'] else 'misses'} the target; "
                  f"recommended: {_setting(best)} ({verdict})", soft_wrap=True)
    write_json(json_out, result)


def _mb(values: list[float]) -> str:
    return ", ".join(f"{v:,.0f}" for v in values)


def _setting(t: dict[str, Any]) -> str:
    if t["index"] == "hnsw":
        return f"HNSW M={t['M']} efSearch={t['efSearch']}"
    default = " (ours, default)" if t.get("default") else ""
    return f"{t['kind']} nlist={t['nlist']} nprobe={t['nprobe']}{default}"


def rank_path(
    workdir: Annotated[Path, typer.Option("--workdir", help="A prepared bench world (bench serve --workdir).")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures to this JSON file.")] = None,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timed passes over the world's requests.")] = 3,
    wall: Annotated[bool, typer.Option("--wall", help="Time stages in wall time (default: the thread's CPU time, "
                                       "steadier on a shared machine).")] = False,
) -> None:
    """One /rank in-process, no network: per-stage p50, whole-request p50 and the time outside the model."""
    try:
        world = load_world(workdir)
    except FileNotFoundError as e:
        fail(f"--workdir: {e}")
    with tempfile.TemporaryDirectory(prefix="weitao-rank-path-") as tmp:
        r = rank_path_figures(world, Path(tmp), repeats, cpu_clock=not wall,
                              on_step=lambda s: console.print(f"… {s}", soft_wrap=True))
    rows = [(f"stage {k}", f"{v:.3f}") for k, v in r["stage_p50_ms"].items()]
    rows += [(f"  {k}", f"{v:.3f}") for k, v in r["component_p50_ms"].items()]
    figures = (("ranker p50 ms", "rank_p50_ms"), ("ranker CPU p50 ms", "rank_cpu_p50_ms"),
               ("app /rank p50 ms (no network)", "app_p50_ms"), ("app /rank p99 ms", "app_p99_ms"),
               ("app /rank CPU p50 ms", "app_cpu_p50_ms"), ("model predict CPU p50 ms", "predict_p50_ms"),
               ("non-model CPU p50 ms (app − predict)", "non_model_p50_ms"))
    rows += [(label, f"{r[key]:.3f}") for label, key in figures]
    rows += [(f"ranker CPU per request, {b} per pass", f"{v:.3f}") for b, v in r["batched_cpu_per_request_ms"].items()]
    idle = r["after_idle"]
    rows += [(f"app /rank p50 ms, each after {idle['gap_ms']:g} ms idle", f"{idle['app_p50_ms']:.3f}"),
             (f"app /rank CPU p50 ms, each after {idle['gap_ms']:g} ms idle", f"{idle['app_cpu_p50_ms']:.3f}")]
    rows += [("RSS MB", f"{r['rss_mb']:,.0f}")]
    summary_table(f"weitao bench rank-path ({r['requests']} requests × {r['repeats']}, {r['candidates']} candidates; "
                  f"p50 ms; stages in {r['stage_clock']} time)", ("figure", "value"), rows)
    write_json(json_out, {"rank_path": r})


def memory(
    workdir: Annotated[Path, typer.Option("--workdir", help="A prepared bench world (bench serve --workdir): "
                                          "its champions rank the synthetic world.")],
    items: Annotated[int, typer.Option("--items", min=1000, help="Posts and products (half each).")] = 1_000_000,
    users: Annotated[int, typer.Option("--users", min=1000, help="Users.")] = 100_000,
    events: Annotated[int, typer.Option("--events", min=1000, help="Events over 30 days.")] = 5_000_000,
    requests: Annotated[int, typer.Option("--requests", min=1, help="Users asked for all three slots.")] = 200,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures to this JSON file.")] = None,
) -> None:
    """One worker's RSS on a synthetic world of ITEMS items and USERS users (target: at most 800 MB)."""
    try:
        load_world(workdir)
    except FileNotFoundError as e:
        fail(f"--workdir: {e}")
    console.print(f"… writing a synthetic world of {items:,} items, {users:,} users, {events:,} events; then one "
                  "worker loads it in a fresh process", soft_wrap=True)
    r = bench_memory(workdir, items=items, users=users, events=events, requests=requests)
    rss = r["rss_mb"]
    rows = [("RSS after imports MB", f"{rss['imports']:,.0f}"),
            ("RSS loaded MB", f"{rss['loaded']:,.0f}"),
            ("  of which Arrow MB", f"{r['arrow_mb']:,.0f}"),
            (f"RSS after {r['requests']} pages MB", f"{rss['after_requests']:,.0f}"),
            (f"RSS with a {r['item_index_vectors']:,}-item {r['item_index']} MB", f"{rss['with_item_index']:,.0f}"),
            ("load seconds", f"{r['load_seconds']:.1f}"), ("rank p50 ms (in-process)", f"{r['rank_p50_ms']:.2f}"),
            ("MLflow imported by the worker", "yes" if r["mlflow_imported"] else "no")]
    summary_table(f"weitao bench memory ({items:,} items, {users:,} users, {events:,} events)", ("figure", "value"),
                  rows)
    write_json(json_out, {"memory": r})
