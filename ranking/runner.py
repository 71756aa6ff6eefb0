"""The one runner: executes any :class:`~ranking.base.SlotDefinition` on a batch of requests.

All control flow of a slot lives here: stage order, failure policies, output checks, per-stage and
per-component timing (``time.perf_counter_ns``), stage budgets and counters. Components never call each
other. A stage over its budget is counted, not interrupted; a run past its deadline stops between stages
(:class:`DeadlineExceeded`), so the caller can answer from a cheaper path in time.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ranking.base import (
    STAGES,
    Component,
    ComponentOutputError,
    Filter,
    RankContext,
    RankingError,
    Scorer,
    SlotDefinition,
)
from ranking.frame import CandidateFrame
from ranking.request import RankRequest, RequestBatch
from ranking.settings import RankingSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageReport:
    """What one component did in one run: its time, rows in and out, and whether it failed."""

    stage: str
    component: str
    ms: float
    rows_in: int
    rows_out: int
    failed: bool = False
    error: str | None = None


@dataclass(frozen=True, eq=False)
class RankResult:
    """Served pages of a batch, with timings and counters.

    ``frame`` holds the served rows only, grouped by request and ordered by ``frame.extra["position"]``.
    ``timings_ms`` has one entry per stage (``"sources"``, …) and one per component name.
    ``counters`` keys: ``"failed"``, ``"fallback"``, ``"over_budget"`` (totals), ``"<component>:failed"``,
    ``"<scorer>:fallback"``, ``"<stage>:over_budget"``, ``"<component>:dropped"`` (rows dropped).
    """

    slot: str
    requests: RequestBatch
    frame: CandidateFrame
    reports: tuple[StageReport, ...]
    timings_ms: Mapping[str, float]
    counters: Mapping[str, int]

    def pages(self) -> list[np.ndarray]:
        """Item ids of each request's page, in position order."""
        bounds = self.frame.bounds(len(self.requests))
        return [self.frame.item_id[bounds[i]:bounds[i + 1]] for i in range(len(self.requests))]

    def page(self, i: int) -> CandidateFrame:
        """The served rows of request ``i``."""
        bounds = self.frame.bounds(len(self.requests))
        return self.frame.span(int(bounds[i]), int(bounds[i + 1]))

    def page_frames(self) -> list[CandidateFrame]:
        """The served rows of every request, in request order (one frame each)."""
        bounds = self.frame.bounds(len(self.requests)).tolist()
        if len(bounds) == 2:  # one request: its page is the whole frame
            return [self.frame]
        return [self.frame.span(a, b) for a, b in itertools.pairwise(bounds)]


class DeadlineExceeded(RankingError):
    """The run was past its deadline when ``stage`` ended; ``timings_ms`` holds the stages that ran."""

    def __init__(self, stage: str, timings_ms: Mapping[str, float]) -> None:
        super().__init__(f"deadline passed after stage {stage!r}")
        self.stage, self.timings_ms = stage, dict(timings_ms)


class Runner:
    """Runs slot declarations; holds only the stage budgets and the clock."""

    def __init__(self, *, budgets_ms: Mapping[str, float] | None = None,
                 clock: Callable[[], int] = time.perf_counter_ns) -> None:
        self.budgets_ms = dict(budgets_ms or {})
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: RankingSettings) -> Runner:
        """A runner with the stage budgets of ``settings.budget_ms``."""
        return cls(budgets_ms=settings.budget_ms.model_dump())

    def run(self, slot: SlotDefinition, requests: RequestBatch | Sequence[RankRequest],
            ctx: RankContext, *, deadline_ns: int | None = None) -> RankResult:
        """Rank every request of the batch with ``slot``; the result's frame holds the served pages.

        ``deadline_ns`` (on :attr:`clock`) stops the run after the first stage that ends past it.
        """
        batch = requests if isinstance(requests, RequestBatch) else RequestBatch.of(list(requests))
        if batch.slot not in ("", slot.name):
            raise RankingError(f"requests are for slot {batch.slot!r}, not {slot.name!r}")
        return _Run(self, slot, batch, ctx).execute(deadline_ns)


class _Run:
    """The state of one run: the reports and counters it accumulates."""

    def __init__(self, runner: Runner, slot: SlotDefinition, batch: RequestBatch, ctx: RankContext) -> None:
        self.runner, self.slot, self.batch, self.ctx = runner, slot, batch, ctx
        self.reports: list[StageReport] = []
        self.timings: dict[str, float] = {}
        self.counters: Counter[str] = Counter()

    def execute(self, deadline_ns: int | None = None) -> RankResult:
        frame = CandidateFrame.empty()
        steps: dict[str, Callable[[CandidateFrame], CandidateFrame]] = {
            "sources": lambda _: self.sources(), "filters": self.filters, "scorer": self.score,
            "rules": self.rules, "selectors": self.selectors,
        }
        for stage in STAGES:
            start = self.runner.clock()
            frame = steps[stage](frame)
            end = self.runner.clock()
            self._stage_time(stage, (end - start) / 1e6)
            if deadline_ns is not None and end > deadline_ns and stage != STAGES[-1]:
                raise DeadlineExceeded(stage, self.timings)
        return RankResult(self.slot.name, self.batch, frame, tuple(self.reports), self.timings,
                          dict(self.counters))

    # ---- stages ------------------------------------------------------------------------------------
    def sources(self) -> CandidateFrame:
        frames, closed = [], False
        for source in self.slot.sources:
            out, err, ms = self._call(source, partial(source.fetch, self.batch, self.ctx), self._check_frame)
            closed |= err is not None and source.fail == "closed"
            if err is None:
                frames.append(out)
            self._report("sources", source, ms, 0, len(out) if err is None else 0, err)
        if closed:
            return CandidateFrame.empty()
        return CandidateFrame.concat(frames).first_per_item()

    def filters(self, frame: CandidateFrame) -> CandidateFrame:
        for flt in self.slot.filters:
            mask, err, ms = self._call(flt, partial(flt.keep, frame, self.batch, self.ctx),
                                       partial(self._check_mask, frame=frame))
            if err is not None:
                mask = np.ones(len(frame), bool) if flt.fail == "open" else self._keep_on_failure(flt, frame)
            self._report("filters", flt, ms, len(frame), int(mask.sum()), err)
            frame = frame.take(mask)
        return frame

    def score(self, frame: CandidateFrame) -> CandidateFrame:
        scores = self._score_with(self.slot.scorer, frame)
        if scores is None and self.slot.scorer.fail == "open" and self.slot.fallback_scorer is not None:
            self.counters["fallback"] += 1
            self.counters[f"{self.slot.scorer.name}:fallback"] += 1
            scores = self._score_with(self.slot.fallback_scorer, frame)
            if scores is None and self.slot.fallback_scorer.fail == "closed":
                return frame.take(np.zeros(len(frame), bool))
        elif scores is None and self.slot.scorer.fail == "closed":
            return frame.take(np.zeros(len(frame), bool))
        # With no usable score the rows keep the scores they came with (zeros: ties keep source order).
        scores = frame.score if scores is None else scores
        return frame.with_score(scores).with_columns(model_score=scores)

    def rules(self, frame: CandidateFrame) -> CandidateFrame:
        for rule in self.slot.rules:
            frame = self._transform("rules", rule, partial(rule.apply, frame, self.batch, self.ctx), frame)
        return frame

    def selectors(self, frame: CandidateFrame) -> CandidateFrame:
        for sel in self.slot.selectors:
            frame = self._transform("selectors", sel, partial(sel.select, frame, self.batch, self.ctx), frame)
        if "position" not in frame.extra:
            # No selector wrote positions (all failed open): there is no page to serve.
            self.counters["no_positions"] += 1
            frame = frame.take(np.zeros(len(frame), bool)).with_columns(position=np.zeros(0, np.int64))
        return frame

    # ---- helpers -----------------------------------------------------------------------------------
    def _call(self, component: Component, fn: Callable[[], Any],
              check: Callable[[Any], None]) -> tuple[Any, str | None, float]:
        start = self.runner.clock()
        try:
            out = fn()
            check(out)
            err = None
        except Exception as exc:  # any failure of a component is handled by its declared policy
            out, err = None, f"{type(exc).__name__}: {exc}"
            self.counters["failed"] += 1
            self.counters[f"{component.name}:failed"] += 1
            log.warning("slot %s: %s failed (fail %s): %s", self.slot.name, component.name, component.fail, err)
        return out, err, (self.runner.clock() - start) / 1e6

    def _transform(self, stage: str, component: Component, fn: Callable[[], CandidateFrame],
                   frame: CandidateFrame) -> CandidateFrame:
        """Run a rule or selector, which returns a frame; on failure apply its policy."""
        out, err, ms = self._call(component, fn, partial(self._check_frame, at_most=len(frame)))
        if err is not None:
            out = frame if component.fail == "open" else frame.take(np.zeros(len(frame), bool))
        self._report(stage, component, ms, len(frame), len(out), err)
        return out

    def _score_with(self, scorer: Scorer, frame: CandidateFrame) -> np.ndarray | None:
        scores, err, ms = self._call(scorer, partial(scorer.score, frame, self.batch, self.ctx),
                                     partial(self._check_scores, frame=frame))
        self._report("scorer", scorer, ms, len(frame), len(frame), err)
        return None if err is not None else np.asarray(scores, dtype=np.float64)

    def _keep_on_failure(self, flt: Filter, frame: CandidateFrame) -> np.ndarray:
        try:
            mask = np.asarray(flt.keep_on_failure(frame, self.batch, self.ctx))
            self._check_mask(mask, frame)
            return mask
        except Exception:  # the safe subset itself failed: keep nothing
            log.exception("slot %s: %s keep_on_failure failed; dropping every row", self.slot.name, flt.name)
            return np.zeros(len(frame), dtype=bool)

    def _report(self, stage: str, component: Component, ms: float, rows_in: int, rows_out: int,
                err: str | None) -> None:
        self.reports.append(StageReport(stage, component.name, ms, rows_in, rows_out, err is not None, err))
        self.timings[component.name] = self.timings.get(component.name, 0.0) + ms
        if rows_out < rows_in:
            self.counters[f"{component.name}:dropped"] += rows_in - rows_out

    def _stage_time(self, stage: str, ms: float) -> None:
        self.timings[stage] = ms
        budget = self.runner.budgets_ms.get(stage)
        if budget is not None and ms > budget * max(len(self.batch), 1):
            self.counters["over_budget"] += 1
            self.counters[f"{stage}:over_budget"] += 1

    def _check_frame(self, frame: object, at_most: int | None = None) -> None:
        if not isinstance(frame, CandidateFrame):
            raise ComponentOutputError(f"expected a CandidateFrame, got {type(frame).__name__}")
        if not frame.is_grouped():
            raise ComponentOutputError("rows are not grouped by request in ascending order")
        if len(frame) and (frame.request[0] < 0 or frame.request[-1] >= len(self.batch)):
            raise ComponentOutputError("request index out of range of the batch")
        if at_most is not None and len(frame) > at_most:
            raise ComponentOutputError(f"returned {len(frame)} rows from {at_most}; rules and selectors never add")

    @staticmethod
    def _check_mask(mask: object, frame: CandidateFrame) -> None:
        if not isinstance(mask, np.ndarray) or mask.dtype != bool or mask.shape != (len(frame),):
            raise ComponentOutputError(f"expected a boolean mask of {len(frame)} rows")

    @staticmethod
    def _check_scores(scores: object, frame: CandidateFrame) -> None:
        arr = np.asarray(scores)
        if arr.shape != (len(frame),) or not np.issubdtype(arr.dtype, np.number):
            raise ComponentOutputError(f"expected {len(frame)} numeric scores, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ComponentOutputError("scores must be finite")
