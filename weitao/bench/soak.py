"""``weitao bench soak``: many pages in-process counting fans-only leaks, and worker memory over many requests.

1. Pages: the service's own state (:class:`serving.state.ServiceState`, registry champions) ranks random
   users in random slots, half of the follow-feed requests bringing candidates that include fans-only posts
   of accounts the user does not follow, while unfollow and follow events churn the live follow state.
   A leak is a fans-only post served to a user who is not a fan of its author at the request time (posts
   amplified onto the hotlist board are public there by the gate's decision and do not count).
2. Memory: the real service (uvicorn, two workers) under a steady open-loop load; each worker's RSS is
   sampled after every block of requests, and the drift is measured against the first sample (warm-up).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from experiments.loadgen import write_bodies
from experiments.settings import SimulatorSettings
from features.contract import code, enum_codes
from features.storage import read_table
from ranking.request import RankRequest
from serving.state import ServiceState
from weitao.bench.serve import Runner as LoadRunner
from weitao.bench.serve import ServeBenchOptions, bench_workdir, service
from weitao.bench.world import BenchWorld, prepare_world

SLOTS = ("follow_feed", "hotlist", "new_arrival")
CHURN_EVENT_BASE = 10**15  # event ids far above the simulated world's


@dataclass(frozen=True)
class SoakOptions:
    """How long each part runs."""

    pages: int = 1_000_000
    requests: int = 100_000
    sample_every: int = 10_000
    rps: float = 250.0
    churn_every: int = 500  # pages between two batches of unfollow/follow events
    max_seconds: float = 4 * 3600.0  # a bound on the pages part whatever ``pages`` says
    seed: int = 1


class Churn:
    """Alternating unfollow and re-follow events of random live follow pairs (distinct accounts per batch)."""

    def __init__(self, state: ServiceState, rng: np.random.Generator, batch: int = 20) -> None:
        follows = read_table(state.config.serving.data_dir, "follows")  # the worker keeps no follows table
        live = follows.column("unfollowed_at").is_null().to_numpy(zero_copy_only=False)
        self.users = follows.column("user_id").to_numpy()[live]
        self.accounts = follows.column("account_id").to_numpy()[live]
        self.state, self.rng, self.batch = state, rng, batch
        self.next_id, self.unfollowed = CHURN_EVENT_BASE, np.zeros(0, np.int64)
        self.events = 0

    def step(self, now_ms: int) -> None:
        """Unfollow a fresh batch of pairs, or follow again the ones unfollowed last time."""
        if len(self.unfollowed):
            pairs, action, self.unfollowed = self.unfollowed, "follow", np.zeros(0, np.int64)
        else:
            picks = self.rng.choice(len(self.users), size=self.batch * 3, replace=False)
            _, first = np.unique(self.accounts[picks], return_index=True)  # one event per account: rate limit
            pairs, action = picks[first[: self.batch]], "unfollow"
            self.unfollowed = pairs
        stamp = datetime.fromtimestamp((now_ms - 1000) / 1000, UTC).isoformat(timespec="milliseconds")
        rows = [{"event_id": self.next_id + i, "user_id": int(self.users[p]), "target_type": "account",
                 "target_id": int(self.accounts[p]), "action": action, "slot": "other", "source": "in_app",
                 "event_time": stamp} for i, p in enumerate(pairs)]
        self.next_id += len(rows)
        result = self.state.intake.ingest(pa.Table.from_pylist(rows), now_ms)
        self.events += result.accepted


def leaks(state: ServiceState, request: RankRequest, served: Any, private_ids: np.ndarray,
          private_authors: np.ndarray) -> tuple[int, int]:
    """Fans-only posts of ``served`` whose author ``request.user_id`` is not a fan of at the request time, and
    all fans-only posts served (to fans: shows the check had something to check)."""
    ids = np.array([i.id for i in served.items if i.type == "post"], np.int64)
    if not len(ids):
        return 0, 0
    pos = np.searchsorted(private_ids, ids)
    private = (pos < len(private_ids)) & (private_ids[np.minimum(pos, len(private_ids) - 1)] == ids)
    if request.slot == "hotlist":
        private &= ~np.isin(ids, state.data.board.state.post_ids)
    if not private.any():
        return 0, 0
    authors = private_authors[pos[private]]
    fan = state.data.catalog.is_fan(np.full(len(authors), request.user_id), authors, request.now_ms)
    return int((~fan).sum()), len(authors)


def private_posts(state: ServiceState) -> tuple[np.ndarray, np.ndarray]:
    """Fans-only post ids (sorted) and their authors."""
    posts = state.data.tables["posts"]
    private = enum_codes(posts.column("visibility"), "visibility") == code("visibility", "private")
    ids, authors = posts.column("post_id").to_numpy()[private], posts.column("account_id").to_numpy()[private]
    order = np.argsort(ids)
    return ids[order], authors[order]


def draw_request(state: ServiceState, rng: np.random.Generator, private_ids: np.ndarray,
                 all_posts: np.ndarray) -> RankRequest:
    """A random user in a random slot; half the follow-feed requests bring fans-only posts of strangers."""
    slot = SLOTS[int(rng.integers(len(SLOTS)))]
    cands = None
    if slot == "follow_feed" and rng.random() < 0.5:
        cands = np.concatenate([rng.choice(private_ids, 25), rng.choice(all_posts, 25)]).tolist()
    return RankRequest(int(rng.choice(state.data.known_users)), slot, 20, state.now_ms(), cands)


def soak_pages(world: BenchWorld, opts: SoakOptions, on_progress: Callable[[int], None]) -> dict[str, Any]:
    """Rank ``opts.pages`` pages in-process; count leaks, fallbacks and pages per second."""
    state = ServiceState(world.service_config())
    state.load()
    if not state.ready:
        raise RuntimeError(f"service state did not load: {state.error}")
    rng = np.random.default_rng(opts.seed)
    private_ids, private_authors = private_posts(state)
    all_posts = state.data.tables["posts"].column("post_id").to_numpy()
    churn, counts, leaked, fans_only, done = Churn(state, rng), Counter(), 0, 0, 0
    t0 = time.perf_counter()
    try:
        while done < opts.pages and time.perf_counter() - t0 < opts.max_seconds:
            if done % opts.churn_every == 0:
                churn.step(state.now_ms())
            request = draw_request(state, rng, private_ids, all_posts)
            served = state.ranker.rank(request)
            bad, shown = leaks(state, request, served, private_ids, private_authors)
            leaked, fans_only = leaked + bad, fans_only + shown
            counts[f"{request.slot}:{served.fallback or 'personalised'}"] += 1
            done += 1
            if done % 10_000 == 0:
                on_progress(done)
    finally:
        state.close()
    wall = time.perf_counter() - t0
    return {"pages": done, "seconds": wall, "pages_per_s": done / wall if wall else 0.0, "fans_only_leaks": leaked,
            "fans_only_served_to_fans": fans_only - leaked, "churn_events": churn.events,
            "served_by": dict(sorted(counts.items())), "stopped_by_time_bound": done < opts.pages}


def soak_bodies(world: BenchWorld, rng: np.random.Generator, n: int = 4_000) -> list[bytes]:
    """Varied requests: many users, every slot, the benchmark's 500-candidate follow-feed requests among them."""
    ids = read_table(world.data, "users").column("user_id").to_numpy()
    out = [orjson.dumps(r) for r in world.requests]
    for _ in range(n - len(out)):
        out.append(orjson.dumps({"user_id": int(rng.choice(ids)), "slot": SLOTS[int(rng.integers(3))], "k": 20}))
    rng.shuffle(out)
    return out


def soak_memory(world: BenchWorld, opts: SoakOptions, on_step: Callable[[str], None]) -> dict[str, Any]:
    """Worker RSS of the real service every ``opts.sample_every`` requests over ``opts.requests``."""
    bodies = write_bodies(world.root / "soak-bodies.jsonl", soak_bodies(world, np.random.default_rng(opts.seed)))
    run = LoadRunner(bodies, ServeBenchOptions(), on_step)
    samples: list[dict[str, Any]] = []
    with service("ours", world, 2) as svc:
        sent = 0
        while sent < opts.requests:
            block = min(opts.sample_every, opts.requests - sent)
            step = run.step(svc, opts.rps, block / opts.rps)
            sent += step["requests"]
            samples.append({"requests": sent, "rss_mb": svc.rss_mb(), "p99_ms": step["p99_ms"],
                            "errors": step["errors"]})
            on_step(f"soak: {sent:,} requests, RSS {', '.join(f'{m:.0f}' for m in samples[-1]['rss_mb'])} MB, "
                    f"p99 {step['p99_ms']:.1f} ms")
    return {"requests": sent, "rps": opts.rps, "samples": samples, **drift(samples)}


def drift(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """First, last and max RSS per worker; ``drift_pct``, each worker's change from the first sample (after
    warm-up) to the last; ``max_abs_drift_pct``, the largest change of any sample of any worker from its first,
    so that growth which is later given back still counts against the ±5 % target."""
    rss = np.array([s["rss_mb"] for s in samples])  # samples × workers
    first, last = rss[0], rss[-1]
    every = (rss - first) / first * 100
    return {"rss_first_mb": first.tolist(), "rss_last_mb": last.tolist(), "rss_max_mb": rss.max(axis=0).tolist(),
            "drift_pct": every[-1].tolist(), "max_abs_drift_pct": float(np.abs(every).max()),
            "errors": int(sum(sum(s["errors"].values()) for s in samples))}


def bench_soak(opts: SoakOptions, simulator: SimulatorSettings, *, scale: str, trees: int, leaves: int,
               workdir: Path | None = None, on_step: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Both parts on one world (its rankers registered as champions, as for ``bench serve``)."""
    with bench_workdir(workdir) as root:
        world = prepare_world(root, simulator, scale, opts.seed, trees=trees, leaves=leaves, min_child_samples=20,
                              on_step=on_step)
        on_step(f"ranking {opts.pages:,} pages in-process")
        pages = soak_pages(world, opts, lambda n: on_step(f"{n:,} pages"))
        memory = soak_memory(world, opts, on_step) if opts.requests else None
    return {"pages": pages, "memory": memory,
            "meta": {"scale": scale, "trees": trees, "leaves": leaves, "options": asdict(opts)}}
