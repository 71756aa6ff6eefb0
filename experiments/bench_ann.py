"""``weitao bench ann``: single-query latency and recall@k of the item index at a million items.

The vectors are random unit vectors (seeded ``numpy.random.Generator``): no cluster structure at all, the
hardest case for an inverted-file index. Queries are items drawn from the index. Recall@k is measured
against exact inner-product search (``IndexFlatIP``). Single-query latency is one ``ItemIndex.search`` call
per query with faiss on one thread (a service worker has one core), p50 over the sample.

First the index :func:`ranking.ann.choose_index` builds for a catalogue this size, at its default
``nprobe``; then ``nprobe`` values on that same index and an HNSW index over ``efSearch`` values, to find the
fastest setting that still reaches the recall target (``ranking/ann.py`` is not changed; the best setting
is reported as a recommendation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import faiss
import numpy as np
import psutil

from ranking.ann import ItemIndex

#: Vectors generated per chunk (bounds the temporary float64 memory).
CHUNK = 200_000


@dataclass(frozen=True)
class AnnOptions:
    """Sizes, targets and the settings tried."""

    items: int = 1_000_000
    dim: int = 64  # training.embeddings' default factors (the slot affinity uses 16, top-k ALS 128)
    queries: int = 2_000
    k: int = 100
    seed: int = 1
    target_recall: float = 0.95
    target_p50_ms: float = 0.2
    nprobes: tuple[int, ...] = (16, 64, 256, 1024, 2048)
    hnsw_m: int = 32
    ef_construction: int = 40
    ef_searches: tuple[int, ...] = (64, 128, 256, 512, 1024)
    vectors: str = "random"  # or "clustered": a Gaussian mixture as noisy as its centres (embedding-like)
    centres: int = 1_000


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """``n`` random float32 vectors of unit length."""
    out = np.empty((n, dim), np.float32)
    for lo in range(0, n, CHUNK):
        block = rng.standard_normal((min(CHUNK, n - lo), dim), dtype=np.float32)
        out[lo:lo + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def clustered_unit_vectors(rng: np.random.Generator, n: int, dim: int, centres: int) -> np.ndarray:
    """Unit vectors around ``centres`` random centres, the noise as large as the spread of the centres."""
    middle = rng.standard_normal((centres, dim), dtype=np.float32)
    out = np.empty((n, dim), np.float32)
    for lo in range(0, n, CHUNK):
        m = min(CHUNK, n - lo)
        block = middle[rng.integers(0, centres, m)] + rng.standard_normal((m, dim), dtype=np.float32)
        out[lo:lo + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Ids of the exact top ``k`` by inner product (batched ``IndexFlatIP``, every core)."""
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    return flat.search(queries, k)[1]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each query's exact top-k found."""
    return float(np.mean([len(np.intersect1d(f, t)) for f, t in zip(found, truth, strict=True)]) / truth.shape[1])


def single_queries(index: ItemIndex, queries: np.ndarray, k: int) -> tuple[dict[str, float], np.ndarray]:
    """p50/p99 ms of one-query searches, and the ids found."""
    found = np.empty((len(queries), k), np.int64)
    times = np.empty(len(queries))
    for i in range(len(queries)):
        t = time.perf_counter()
        found[i] = index.search(queries[i:i + 1], k)[1][0]
        times[i] = time.perf_counter() - t
    return {"p50_ms": float(np.percentile(times, 50) * 1000), "p99_ms": float(np.percentile(times, 99) * 1000)}, found


def rss_mb() -> float:
    """This process's resident memory in MB."""
    return psutil.Process().memory_info().rss / 2**20


def measure(index: ItemIndex, queries: np.ndarray, truth: np.ndarray, k: int, setting: dict[str, Any]) -> dict:
    """One setting: latency and recall."""
    faiss.omp_set_num_threads(1)
    try:
        latency, found = single_queries(index, queries, k)
    finally:
        faiss.omp_set_num_threads(psutil.cpu_count() or 1)
    return {**setting, **latency, "recall_at_k": recall(found, truth)}


def built(make: Callable[[], ItemIndex]) -> tuple[ItemIndex, dict[str, float]]:
    """An index, its build time and its memory (serialised size; RSS growth while building)."""
    before, t = rss_mb(), time.perf_counter()
    index = make()
    seconds, grown = time.perf_counter() - t, rss_mb() - before
    size = faiss.serialize_index(index.index).nbytes / 2**20
    return index, {"build_s": seconds, "index_mb": size, "rss_growth_mb": grown}


def hnsw(vectors: np.ndarray, m: int, ef_construction: int) -> ItemIndex:
    """An HNSW inner-product index over ``vectors`` (ids are row numbers)."""
    index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.add(vectors)
    return ItemIndex(index)


def bench_ann(opts: AnnOptions, on_step: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Ours at its defaults, the sweeps, and the recommended setting."""
    rng = np.random.default_rng(opts.seed)
    on_step(f"{opts.items:,} {opts.vectors} unit vectors of dimension {opts.dim}; exact top-{opts.k} of "
            f"{opts.queries} queries")
    vectors = (clustered_unit_vectors(rng, opts.items, opts.dim, opts.centres) if opts.vectors == "clustered"
               else unit_vectors(rng, opts.items, opts.dim))
    queries = vectors[rng.choice(opts.items, opts.queries, replace=False)]
    truth = exact_top(vectors, queries, opts.k)
    on_step("building ours (ranking.ann.ItemIndex.build)")
    ours, ours_build = built(lambda: ItemIndex.build(vectors))
    default = {"index": "ours", "kind": type(faiss.downcast_index(ours.index)).__name__, "nlist": ours.nlist,
               "nprobe": ours.nprobe}
    ours_default = {**measure(ours, queries, truth, opts.k, {**default, "default": True}), **ours_build}
    tried = [ours_default]
    if not ours.exact:
        for nprobe in opts.nprobes:
            ours.set_nprobe(nprobe)
            tried.append({**measure(ours, queries, truth, opts.k, {**default, "nprobe": ours.nprobe}), **ours_build})
            on_step(f"IVF nprobe {nprobe}: p50 {tried[-1]['p50_ms']:.3f} ms, recall {tried[-1]['recall_at_k']:.3f}")
    del ours
    on_step(f"building HNSW (M {opts.hnsw_m}, efConstruction {opts.ef_construction})")
    graph, graph_build = built(lambda: hnsw(vectors, opts.hnsw_m, opts.ef_construction))
    for ef in opts.ef_searches:
        faiss.downcast_index(graph.index).hnsw.efSearch = ef
        setting = {"index": "hnsw", "kind": "IndexHNSWFlat", "M": opts.hnsw_m, "efConstruction": opts.ef_construction,
                   "efSearch": ef, **graph_build}
        tried.append(measure(graph, queries, truth, opts.k, setting))
        on_step(f"HNSW efSearch {ef}: p50 {tried[-1]['p50_ms']:.3f} ms, recall {tried[-1]['recall_at_k']:.3f}")
    return {"ours": ours_default, "tried": tried, **recommend(tried, opts), "options": asdict(opts),
            "vectors_mb": vectors.nbytes / 2**20, "process_rss_mb": rss_mb(),
            "caveats": ["random unit vectors have no cluster structure: real embeddings reach a recall with fewer "
                        "probes", "latency: one query per call, faiss on one thread, including ItemIndex.search"]}


def recommend(tried: list[dict[str, Any]], opts: AnnOptions) -> dict[str, Any]:
    """The fastest setting at the recall target, and whether it meets the latency target too."""
    good = [t for t in tried if t["recall_at_k"] >= opts.target_recall]
    best = min(good, key=lambda t: t["p50_ms"]) if good else max(tried, key=lambda t: t["recall_at_k"])
    fast = [t for t in tried if t["p50_ms"] <= opts.target_p50_ms]
    ours = tried[0]
    return {"ours_meets_target": ours["recall_at_k"] >= opts.target_recall and ours["p50_ms"] <= opts.target_p50_ms,
            "recommended": best, "recommended_meets_target": bool(good) and best["p50_ms"] <= opts.target_p50_ms,
            "best_recall_within_latency_target": max(fast, key=lambda t: t["recall_at_k"]) if fast else None,
            "target": {"recall_at_k": opts.target_recall, "p50_ms": opts.target_p50_ms}}
