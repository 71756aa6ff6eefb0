"""Ranking one request: the personalised pipeline, then the fallback chain, each answer labelled.

1. personalised: the slot's declaration through the runner (a model that fails inside it gives way to the
   recency scorer: labelled ``"recency"``);
2. when the pipeline fails or finds nothing, ``"stale"``: the user's last page of the slot, if recent, with
   every fans-only item re-checked;
3. ``"popular"``: the slot's most-clicked public items of the last hours (never fans-only, never H1).

Visibility fails closed on every path: only the runner's filters or a fresh fan check let a private post
through. Pages are logged off the request path (:mod:`serving.pagelog`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from features.contract import code
from ranking.base import RankContext
from ranking.frame import POST, PRIVATE, CandidateFrame
from ranking.request import RankRequest
from ranking.runner import DeadlineExceeded, Runner
from serving.abtest import Experiments
from serving.data import ServiceData
from serving.metrics import ServiceMetrics
from serving.models import Engine
from serving.pagelog import PageLog

log = logging.getLogger(__name__)
H1 = code("tier", "H1")
STALE_USERS = 100_000
PIPELINE_ERROR = "pipeline_error"  # internal: the pipeline raised, so the fallback chain answers


@dataclass(frozen=True)
class ServedItem:
    """One item of a served page; ``author_id`` and ``private`` let a stale page re-check fans-only items."""

    id: int
    type: str
    score: float
    position: int
    propensity: float
    reasons: tuple[str, ...]
    author_id: int
    private: bool


@dataclass(frozen=True)
class Served:
    """The answer to one rank request (``fallback`` None when personalised) with its stage timings."""

    request_id: str
    model_version: str
    fallback: str | None
    items: tuple[ServedItem, ...]
    timings_ms: Mapping[str, float]
    experiments: str = ""  # "layer=arm;..." of the request's user


@dataclass(frozen=True)
class Exploration:
    """A known share of pages explores, so that logged pages can evaluate other policies (IPW needs it).

    Every request ranks ``pool`` × k items. With probability ``share`` (a hash of user, slot and time, so a
    replay gets the same page) the page is a uniformly random order of them; otherwise the top k. The
    propensity of the item shown at position p is then exact: (1 − share)·[the greedy page has it at p]
    + share / n, for n ranked items.
    """

    share: float
    pool: int

    def arrange(self, request: RankRequest, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices into the ranked items for positions 0..k-1, and each position's propensity."""
        k = min(request.k, n)
        if self.share <= 0 or n == 0:
            return np.arange(k), np.ones(k)
        slot = sum(request.slot.encode())  # a small stable number per slot name
        rng = np.random.default_rng([request.user_id & 0x7FFFFFFF, request.now_ms & 0x7FFFFFFFFFFF, slot])
        explore = rng.random() < self.share
        order = rng.permutation(n)[:k] if explore else np.arange(k)
        greedy = order == np.arange(k)
        return order, (1 - self.share) * greedy + self.share / n


class RankService:
    """Ranks requests against the current engines (the request's arm picks one, read once per request)."""

    def __init__(self, engine: Callable[[str], Engine], data: ServiceData, runner: Runner, metrics: ServiceMetrics,
                 page_log: PageLog | None, *, deadline_ms: float, stale_ttl_s: float, experiments: Experiments,
                 explore_pool: int = 1) -> None:
        self.engine, self.data, self.runner, self.metrics = engine, data, runner, metrics
        self.page_log, self.deadline_ms, self.stale_ttl_ms = page_log, deadline_ms, stale_ttl_s * 1000
        self.experiments, self.explore_pool = experiments, explore_pool
        self._stale: OrderedDict[tuple[int, str], tuple[int, tuple[ServedItem, ...]]] = OrderedDict()
        self._lock = threading.Lock()
        self._stage_children: dict[tuple[str, str], Any] = {}

    def rank(self, request: RankRequest) -> Served:
        """The page for ``request``; never raises for a well-formed request."""
        return self.rank_many([request])[0]

    def rank_many(self, requests: Sequence[RankRequest], arrived: Sequence[float] | None = None) -> list[Served]:
        """The pages for ``requests``, each the page :meth:`rank` gives it alone; never raises.

        Requests of one slot and one arm (model alias and exploration share) go through the runner as one
        batch: the per-request cost of the pipeline's calls is paid once per batch. The deadline holds for
        each batch as a whole; past it, every request of the batch answers from the fallback chain.
        ``arrived`` (``time.perf_counter()`` seconds, one per request) is when each request reached the
        service: its latency then counts the wait for its pass too (default: the pass's start).
        """
        t0 = time.perf_counter()
        arms = [self.experiments.assign(r.user_id) for r in requests]
        groups: dict[tuple[str, float, str], list[int]] = {}
        for i, (request, arm) in enumerate(zip(requests, arms, strict=True)):
            groups.setdefault((arm.alias, arm.explore_share, request.slot), []).append(i)
        out: list[Served | None] = [None] * len(requests)
        for (alias, share, _), rows in groups.items():
            engine = self.engine(alias)
            batch = [requests[i] for i in rows]
            pages, timings = self._personalised(engine, batch, Exploration(share, self.explore_pool))
            for i, (fallback, items) in zip(rows, pages, strict=True):
                out[i] = self._finish(requests[i], engine, fallback, items, timings, arms[i].label)
        done = time.perf_counter()
        for request, start in zip(requests, arrived or [t0] * len(requests), strict=True):
            # a request waits for its whole pass, and for the pass before it when it came in during that one
            self.metrics.latency.labels(slot=request.slot).observe((done - start) * 1000)
        self.metrics.batch_size.observe(len(requests))
        return [s for s in out if s is not None]

    def _finish(self, request: RankRequest, engine: Engine, fallback: str | None, items: tuple[ServedItem, ...],
                timings: Mapping[str, float], label: str) -> Served:
        """One request's answer from its personalised page, or from the fallback chain; remembered and logged."""
        if fallback == PIPELINE_ERROR or not items:
            fallback, items = self._fallback(request)
        served = Served(uuid.uuid4().hex, engine.versions[request.slot], fallback, items, timings, label)
        if served.fallback is not None:
            self.metrics.fallbacks.labels(slot=request.slot, fallback=served.fallback).inc()
        if served.fallback in (None, "recency") and items:
            self._remember(request, items)
        self._log(request, served, engine)
        return served

    def _personalised(self, engine: Engine, requests: list[RankRequest], exploration: Exploration
                      ) -> tuple[list[tuple[str | None, tuple[ServedItem, ...]]], dict[str, float]]:
        """Each request's (fallback label, items) from one runner pass over all of them, and the pass's timings."""
        start = self.runner.clock()
        slot = requests[0].slot
        wide = [replace(r, k=r.k * exploration.pool) for r in requests] if exploration.share > 0 else requests
        failed: list[tuple[str | None, tuple[ServedItem, ...]]] = [(PIPELINE_ERROR, ())] * len(requests)
        try:
            result = self.runner.run(engine.slots[slot], wide, RankContext(self.data.catalog, self.data.seen),
                                     deadline_ns=start + int(self.deadline_ms * 1e6))
        except DeadlineExceeded as e:  # a slow stage: the cheap fallback chain answers within the deadline
            self.metrics.errors.labels(route="rank", kind="over_deadline").inc(len(requests))
            return failed, e.timings_ms
        except Exception:  # the pipeline itself broke: the fallback chain answers
            log.exception("slot %s: pipeline failed for users %s", slot, [r.user_id for r in requests])
            self.metrics.errors.labels(route="rank", kind="pipeline").inc(len(requests))
            return failed, {}
        for stage, ms in result.timings_ms.items():
            if "/" not in stage:
                self._stage_metric(slot, stage).observe(ms)
                if result.counters.get(f"{stage}:over_budget"):
                    self.metrics.over_budget.labels(slot=slot, stage=stage).inc()
        fallback = "recency" if result.counters.get("fallback") else None
        pages = result.page_frames()
        return [(fallback, _served_items(page, exploration.arrange(r, len(page))))
                for r, page in zip(requests, pages, strict=True)], dict(result.timings_ms)

    def _stage_metric(self, slot: str, stage: str) -> Any:
        """The stage histogram of (slot, stage), looked up once (``labels`` costs a lock and a hash per call)."""
        child = self._stage_children.get((slot, stage))
        if child is None:
            child = self._stage_children[(slot, stage)] = self.metrics.stage.labels(slot=slot, stage=stage)
        return child

    def _fallback(self, request: RankRequest) -> tuple[str, tuple[ServedItem, ...]]:
        stale = self._stale_page(request)
        if stale:
            return "stale", stale
        return "popular", self._popular(request)

    def _stale_page(self, request: RankRequest) -> tuple[ServedItem, ...]:
        with self._lock:
            hit = self._stale.get((request.user_id, request.slot))
        if hit is None or request.now_ms - hit[0] > self.stale_ttl_ms:
            return ()
        items = [i for i in hit[1] if not i.private]
        private = [i for i in hit[1] if i.private]
        if private:  # fans-only items stay only if the user is still a fan now
            fan = self.data.catalog.is_fan(np.full(len(private), request.user_id),
                                           np.array([i.author_id for i in private]), request.now_ms)
            items += [i for i, ok in zip(private, fan, strict=True) if ok]
        items.sort(key=lambda i: i.position)
        return tuple(ServedItem(i.id, i.type, i.score, p, 1.0, (*i.reasons, "stale page"), i.author_id, i.private)
                     for p, i in enumerate(items[:request.k]))

    def _popular(self, request: RankRequest) -> tuple[ServedItem, ...]:
        ids, scores = self.data.popular.get(request.slot, (np.zeros(0, np.int64), np.zeros(0)))
        kind = "product" if request.slot == "new_arrival" else "post"
        cat = self.data.catalog
        rows = cat.product_rows(ids) if kind == "product" else cat.post_rows(ids)
        ok = rows >= 0
        ids, scores, rows = ids[ok], scores[ok], rows[ok]
        frame = (cat.product_candidates if kind == "product" else cat.post_candidates)(np.zeros(len(rows), np.int64),
                                                                                         rows)
        keep = (frame.visibility != PRIVATE) & (cat.tier(frame.author_id) != H1) & (frame.created_ms < request.now_ms)
        ids, scores, authors = ids[keep][:request.k], scores[keep][:request.k], frame.author_id[keep][:request.k]
        return tuple(ServedItem(int(i), kind, float(s), p, 1.0, ("popular in this slot",), int(a), False)
                     for p, (i, s, a) in enumerate(zip(ids, scores, authors, strict=True)))

    def _remember(self, request: RankRequest, items: tuple[ServedItem, ...]) -> None:
        with self._lock:
            self._stale[(request.user_id, request.slot)] = (request.now_ms, items)
            self._stale.move_to_end((request.user_id, request.slot))
            while len(self._stale) > STALE_USERS:
                self._stale.popitem(last=False)

    def _log(self, request: RankRequest, served: Served, engine: Engine) -> None:
        if self.page_log is None or not served.items:
            return
        model = engine.models.get(request.slot)
        fs = model.feature_set if model is not None else ""
        self.page_log.add([(served.request_id, request.now_ms, request.user_id, request.slot, i.id, i.type,
                            i.position, i.score, i.propensity, served.model_version, fs, served.fallback or "",
                            served.experiments, list(i.reasons))
                           for i in served.items])


def _served_items(page: CandidateFrame, arranged: tuple[np.ndarray, np.ndarray]) -> tuple[ServedItem, ...]:
    """The page's rows in the arranged order, with each position's propensity (columns read once, as lists)."""
    order, propensity = arranged
    ids, types, scores = page.item_id.tolist(), page.item_type.tolist(), page.score.tolist()
    authors, private, props = page.author_id.tolist(), (page.visibility == PRIVATE).tolist(), propensity.tolist()
    return tuple(ServedItem(ids[i], "post" if types[i] == POST else "product", scores[i], p, props[p],
                            tuple(page.explain(i)), authors[i], private[i])
                 for p, i in enumerate(order.tolist()))


def context_now(context: Mapping[str, Any], default_ms: int) -> int:
    """The request time: ``context["now_ms"]`` when the caller pins it (replays, tests), else the clock."""
    value = context.get("now_ms")
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default_ms
