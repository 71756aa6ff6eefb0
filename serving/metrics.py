"""Prometheus metrics of one worker process: latency per slot and stage, stages over budget, fallbacks, errors,
model versions."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BUCKETS_MS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 200, 500, 1000)


class ServiceMetrics:
    """The service's metrics in their own registry (tests create as many services as they like)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.latency = Histogram("weitao_rank_latency_ms", "End-to-end /rank latency (ms)", ["slot"],
                                 buckets=BUCKETS_MS, registry=r)
        self.stage = Histogram("weitao_rank_stage_ms", "Time per pipeline stage (ms)", ["slot", "stage"],
                               buckets=BUCKETS_MS, registry=r)
        self.over_budget = Counter("weitao_rank_stage_over_budget_total", "Pipeline passes in which a stage took "
                                   "longer than its budget (ranking.budget_ms, per request of the pass)",
                                   ["slot", "stage"], registry=r)
        self.batch_size = Histogram("weitao_rank_batch_size", "/rank requests ranked together in one pass",
                                    buckets=(1, 2, 4, 8, 16, 32, 64), registry=r)
        self.fallbacks = Counter("weitao_rank_fallbacks_total", "Pages served by a fallback", ["slot", "fallback"],
                                 registry=r)
        self.errors = Counter("weitao_errors_total", "Requests that failed or were rejected", ["route", "kind"],
                              registry=r)
        self.model_version = Gauge("weitao_model_info", "Model version served per slot (value 1)",
                                   ["slot", "version"], registry=r)
        self.events = Counter("weitao_events_total", "Events received", ["outcome"], registry=r)
        self.reloads = Counter("weitao_model_reloads_total", "Model reloads", ["outcome"], registry=r)
        self.gate_moves = Counter("weitao_gate_moves_total", "Posts the amplification gate moved between levels",
                                  registry=r)

    def set_versions(self, versions: dict[str, str]) -> None:
        """Expose exactly the versions now served."""
        self.model_version.clear()
        for slot, version in versions.items():
            self.model_version.labels(slot=slot, version=version).set(1)
