"""Benchmark of the amplification gate: one pass re-deciding a million live posts."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ranking.gate.decide import decide
from ranking.gate.settings import GateSettings
from ranking.gate.signals import HOUR_MS, GateState, PostSignals

NOW_MS = 1_800_000_000_000


def synthetic_signals(n: int, rng: np.random.Generator) -> tuple[PostSignals, np.ndarray]:
    """Live posts with plausible counters, spread over every level (the current levels are returned too)."""
    imp = rng.poisson(200, (n, 5)).astype(float)
    fan_imp = rng.poisson(100, n).astype(float)
    signals = PostSignals(
        post_id=np.arange(n), account=rng.integers(0, max(n // 10, 1), n), account_kind=rng.integers(0, 2, n),
        tier=rng.integers(0, 5, n), tier_state=rng.integers(-1, 3, n), preferred=rng.random(n) < 0.05,
        account_created_ms=np.full(n, NOW_MS - 400 * 24 * HOUR_MS),
        created_ms=NOW_MS - rng.integers(0, 48 * HOUR_MS, n), fan_imp=fan_imp,
        fan_eng=rng.binomial(fan_imp.astype(np.int64), 0.05).astype(float), fan_baseline=np.full(n, 0.05),
        level_imp=imp, level_eng=rng.binomial(imp.astype(np.int64), 0.03).astype(float),
        public_baseline=np.full(n, 0.03), lockstep=rng.random(n) * 0.4, amplifier=np.full(n, np.nan))
    return signals, rng.integers(0, 5, n).astype(np.int8)


def bench_gate(n_posts: int = 1_000_000, repeats: int = 5, seed: int = 0) -> dict[str, Any]:
    """Seconds per full re-decision of ``n_posts`` posts (a warm-up pass first, then ``repeats`` timed)."""
    signals, levels = synthetic_signals(n_posts, np.random.default_rng(seed))
    settings = GateSettings()
    times, moved = [], 0
    for i in range(repeats + 1):
        state = GateState.empty(n_posts)
        state.level[:] = levels
        t = time.perf_counter()
        decision = decide(state, signals, NOW_MS, settings)
        if i:  # the first pass warms caches and allocators
            times.append(time.perf_counter() - t)
        moved = len(decision.moved)
    return {"posts": n_posts, "repeats": repeats, "p50_seconds": float(np.median(times)),
            "min_seconds": float(np.min(times)), "max_seconds": float(np.max(times)), "moved_per_pass": moved}
