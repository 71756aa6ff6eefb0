"""``weitao bench memory``: one worker's resident memory at catalogue scale (1M items, 100k users by default).

The simulated worlds are far smaller than a production catalogue, so the world here is synthetic
(:func:`experiments.bench_features.synthetic_tables`: heavy-tailed popularity, ~10 follows per user, 30 days
of events), sized by items, users and events and written once as a contract dataset. The models are a
prepared bench world's champions: a model's features do not depend on the world it ranks.

A fresh interpreter (nothing of the parent in its memory, and none of the CLI's imports: only what a
worker imports) loads the service exactly as a worker under ``weitao serve`` does (``create_app`` and
``ServiceState.load``: the champions the serving process named in its manifest, ``serving.champions``;
catalogue, online stores replayed from the events, seen history, live gate), ranks requests on all three
slots, and reports its resident set size (RSS) after the imports, after loading, and after the requests, and
whether MLflow was imported (it should not be: the parent, like the serving process, read the registry).
The service's own faiss index is over accounts; to show what an item-level index of the whole catalogue
would add, the parent builds one (:meth:`ranking.ann.ItemIndex.build`, IVF at this size) and writes it in
faiss's format, and the child loads it as a worker loads an index (:meth:`ranking.ann.ItemIndex.load`) and
reports RSS again. Building it inside the child would count the build's temporaries, which no worker has.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa

DIM = 32  # the rankers' embedding width
CHILD = ("import json, sys\nfrom weitao.bench.memory import _child\n"
         "print(json.dumps(_child(*json.loads(sys.argv[1]))))")


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def write_world(out: Path, items: int, users: int, events: int, seed: int) -> dict[str, int]:
    """A synthetic contract dataset in ``out``: half the items posts, half products; the table sizes."""
    from experiments.bench_features import WorldSize, synthetic_tables
    from features.storage import write_dataset

    size = WorldSize(users=users, accounts=max(users // 5, 100), posts=items // 2, products=items - items // 2)
    tables = synthetic_tables(events, np.random.default_rng(seed), size)
    write_dataset(out, tables, overwrite=True)
    return {name: t.num_rows for name, t in tables.items()}


def _child(bench_root: str, data_dir: str, scratch: str, requests: int, index_file: str, manifest: str,
           seed: int) -> dict[str, Any]:
    """Runs in the spawned process: load, rank, measure (see the module docstring); the service's page and event
    logs go under ``scratch``."""
    # Only what a service worker imports (the bench world's own modules would bring training's with them).
    from ranking.ann import ItemIndex
    from ranking.request import RankRequest
    from serving.app import create_app
    from weitao.service import service_config
    from weitao.settings import load_settings

    rss = {"imports": _rss_mb()}
    config = service_config(load_settings(Path(bench_root) / "weitao.toml"))
    serving = config.serving.model_copy(update={"data_dir": Path(data_dir), "page_log_dir": Path(scratch) / "served",
                                                "event_log_dir": Path(scratch) / "events",
                                                "champion_manifest": Path(manifest)})
    state = create_app(replace(config, serving=serving), background=False).state.service
    start = time.perf_counter()
    state.load()
    if not state.ready or state.data is None or state.ranker is None:
        raise RuntimeError(f"service failed to load: {state.error}")
    load_s = time.perf_counter() - start
    rss["loaded"] = _rss_mb()
    arrow_mb = pa.total_allocated_bytes() / 2**20  # of which held by Arrow (the catalogue tables)
    rng, data = np.random.default_rng(seed), state.data
    users = data.known_users
    now = data.data_end_ms + 1_000
    latency = []
    for user in rng.choice(users, requests):
        for slot in ("follow_feed", "new_arrival", "hotlist"):
            t0 = time.perf_counter()
            state.ranker.rank(RankRequest(int(user), slot, 20, now, None, {"now_ms": now}))
            latency.append((time.perf_counter() - t0) * 1000)
    rss["after_requests"] = _rss_mb()
    index = ItemIndex.load(Path(index_file))
    rss["with_item_index"] = _rss_mb()
    state.close()
    return {"rss_mb": rss, "arrow_mb": arrow_mb, "mlflow_imported": "mlflow" in sys.modules,
            "load_seconds": load_s, "rank_p50_ms": float(np.median(latency)),
            "requests": len(latency), "item_index": type(index.index).__name__,
            "item_index_vectors": int(index.index.ntotal)}


def _item_index(items: int, seed: int) -> Any:
    """An item index of ``items`` random vectors, as training would build it for such a catalogue."""
    from ranking.ann import ItemIndex

    rng = np.random.default_rng([seed, 1])
    return ItemIndex.build(rng.normal(size=(items, DIM)).astype(np.float32), np.arange(items, dtype=np.int64))


def _write_manifest(bench_root: Path, path: Path) -> None:
    """What the serving process does before its workers start: name the champions (reads the registry)."""
    from serving.champions import RegistrySource, read_manifest, write_manifest
    from weitao.service import service_config
    from weitao.settings import load_settings

    if not write_manifest(path, RegistrySource.of(service_config(load_settings(bench_root / "weitao.toml")))):
        raise RuntimeError(f"bench memory: the registry could not be read: {read_manifest(path)['error']}")


def bench_memory(bench_root: Path, *, items: int = 1_000_000, users: int = 100_000, events: int = 5_000_000,
                 requests: int = 200, seed: int = 0, workdir: Path | None = None) -> dict[str, Any]:
    """Write the world (under ``workdir``, or a temporary directory) and measure one worker on it."""
    with tempfile.TemporaryDirectory(prefix="weitao-bench-memory-") as tmp:
        data_dir = (workdir or Path(tmp)) / "data"
        t0 = time.perf_counter()
        sizes = write_world(data_dir, items, users, events, seed)
        world_s = time.perf_counter() - t0
        index_file = Path(tmp) / "items.faiss"
        _item_index(items, seed).save(index_file)
        manifest = Path(tmp) / "champions.json"
        _write_manifest(bench_root, manifest)
        args = [str(bench_root), str(data_dir), str(Path(tmp) / "service"), requests, str(index_file), str(manifest),
                seed]
        # A fresh interpreter that imports only this module: a multiprocessing child would import the parent's
        # main module again (the whole CLI, training included), which a service worker never does.
        done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"bench memory: the worker process failed:\n{done.stderr[-4000:]}")
        child = json.loads(done.stdout.strip().splitlines()[-1])
    return {"world": {"items": items, "users": users, "events": events, "tables": sizes, "seconds": world_s},
            **child}
