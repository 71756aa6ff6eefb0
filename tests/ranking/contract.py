"""The shared contract every source, filter, rule, selector and scorer passes.

A component's test module subclasses the mixin of its kind and defines ``make()``; the mixin's tests then
run against it (shapes, grouping by request, an empty frame or batch, a request with no candidates, inputs
left untouched, determinism). Adding a component means adding one such class.
"""

from __future__ import annotations

import numpy as np

from ranking.base import Filter, RankContext, Rule, Scorer, Selector, Source
from ranking.frame import POST, CandidateFrame
from ranking.request import RequestBatch
from ranking.scorers.recency import RecencyScorer
from ranking.seen import InMemorySeenStore
from ranking.sources.following_posts import FollowingPosts
from ranking.sources.new_arrivals import NewArrivals
from ranking.sources.provided import ProvidedCandidates
from tests.ranking.worlds import FAN, HOUR, NEWFAN, NOBODY, NOW, requests, tiny_catalog


def contract_context() -> RankContext:
    """The tiny world, with a history: FAN saw post 11 an hour ago and author 2 six times today."""
    seen = InMemorySeenStore()
    seen.record(np.array([FAN]), np.array([POST]), np.array([11]), np.array([1]), NOW - HOUR)
    seen.record(np.full(6, FAN), np.full(6, POST), np.arange(900, 906), np.full(6, 2), NOW - 2 * HOUR)
    return RankContext(catalog=tiny_catalog(), seen=seen)


def contract_requests() -> RequestBatch:
    """Four requests; the second (NOBODY, follows no one, brings nothing) has no candidates at all."""
    return requests([FAN, NOBODY, NEWFAN, FAN], candidates=[[41, 42, 999], None, [41, 11], [104, 101]])


def mixed_frame(ctx: RankContext, batch: RequestBatch) -> CandidateFrame:
    """Posts and products for the contract requests, scored by recency (ties included)."""
    sources = [FollowingPosts(), NewArrivals(), ProvidedCandidates(item_type="post"),
               ProvidedCandidates(item_type="product", name="sources/provided_products")]
    frame = CandidateFrame.concat([s.fetch(batch, ctx) for s in sources]).first_per_item()
    return frame.with_score(RecencyScorer().score(frame, batch, ctx))


def check_frame(frame: CandidateFrame, n_requests: int) -> None:
    assert isinstance(frame, CandidateFrame)
    assert frame.is_grouped()
    assert np.all((frame.request >= 0) & (frame.request < n_requests))
    for col in (frame.item_id, frame.author_id, frame.created_ms, frame.score, frame.reasons):
        assert col.shape == (len(frame),)


def pairs(frame: CandidateFrame) -> set[tuple[int, int, int]]:
    return set(zip(frame.request.tolist(), frame.item_type.tolist(), frame.item_id.tolist(), strict=True))


def _check_name(component: object, folder: str) -> None:
    name = component.name  # type: ignore[attr-defined]
    assert name.startswith(folder + "/") and len(name) > len(folder) + 1
    assert component.fail in ("open", "closed")  # type: ignore[attr-defined]


class SourceContract:
    def make(self) -> Source:
        raise NotImplementedError

    def test_declares_name_and_policy(self) -> None:
        _check_name(self.make(), "sources")

    def test_rows_grouped_by_request_and_existing_at_request_time(self) -> None:
        ctx, batch = contract_context(), contract_requests()
        frame = self.make().fetch(batch, ctx)
        check_frame(frame, len(batch))
        assert np.all(frame.created_ms < batch.now_ms[frame.request])
        assert not np.any(frame.request == 1)

    def test_empty_batch(self) -> None:
        frame = self.make().fetch(requests([]), contract_context())
        assert len(frame) == 0

    def test_request_with_no_candidates(self) -> None:
        frame = self.make().fetch(requests([NOBODY]), contract_context())
        check_frame(frame, 1)
        assert len(frame) == 0


class FilterContract:
    def make(self) -> Filter:
        raise NotImplementedError

    def test_declares_name_and_policy(self) -> None:
        _check_name(self.make(), "filters")

    def test_mask_over_a_mixed_frame(self) -> None:
        ctx, batch = contract_context(), contract_requests()
        frame = mixed_frame(ctx, batch)
        before = frame.item_id.copy()
        mask = self.make().keep(frame, batch, ctx)
        assert isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == (len(frame),)
        assert np.array_equal(frame.item_id, before)
        check_frame(frame.take(mask), len(batch))
        assert np.array_equal(mask, self.make().keep(frame, batch, ctx))

    def test_empty_frame(self) -> None:
        mask = self.make().keep(CandidateFrame.empty(), contract_requests(), contract_context())
        assert mask.dtype == bool and mask.shape == (0,)

    def test_request_with_no_candidates(self) -> None:
        ctx, batch = contract_context(), requests([NOBODY, FAN])
        frame = mixed_frame(ctx, batch)
        assert not np.any(frame.request == 0)
        assert self.make().keep(frame, batch, ctx).shape == (len(frame),)

    def test_failure_mask_is_a_mask(self) -> None:
        ctx, batch = contract_context(), contract_requests()
        frame = mixed_frame(ctx, batch)
        mask = np.asarray(self.make().keep_on_failure(frame, batch, ctx))
        assert mask.dtype == bool and mask.shape == (len(frame),)


class _FrameToFrame:
    folder = ""

    def make(self) -> Rule | Selector:
        raise NotImplementedError

    def run(self, frame: CandidateFrame, batch: RequestBatch, ctx: RankContext) -> CandidateFrame:
        raise NotImplementedError

    def test_declares_name_and_policy(self) -> None:
        _check_name(self.make(), self.folder)

    def test_rows_are_a_grouped_subset(self) -> None:
        ctx, batch = contract_context(), contract_requests()
        frame = mixed_frame(ctx, batch)
        score = frame.score.copy()
        out = self.run(frame, batch, ctx)
        check_frame(out, len(batch))
        assert pairs(out) <= pairs(frame) and len(pairs(out)) == len(out)
        assert np.array_equal(frame.score, score)  # the input frame is untouched
        again = self.run(frame, batch, ctx)
        assert np.array_equal(again.item_id, out.item_id) and np.array_equal(again.score, out.score)

    def test_empty_frame(self) -> None:
        out = self.run(CandidateFrame.empty(), contract_requests(), contract_context())
        check_frame(out, 4)
        assert len(out) == 0

    def test_request_with_no_candidates(self) -> None:
        ctx, batch = contract_context(), requests([NOBODY, FAN])
        out = self.run(mixed_frame(ctx, batch), batch, ctx)
        check_frame(out, 2)
        assert not np.any(out.request == 0) and np.any(out.request == 1)


class RuleContract(_FrameToFrame):
    folder = "rules"

    def run(self, frame: CandidateFrame, batch: RequestBatch, ctx: RankContext) -> CandidateFrame:
        return self.make().apply(frame, batch, ctx)  # type: ignore[union-attr]


class SelectorContract(_FrameToFrame):
    folder = "selectors"

    def run(self, frame: CandidateFrame, batch: RequestBatch, ctx: RankContext) -> CandidateFrame:
        out = self.make().select(frame, batch, ctx)  # type: ignore[union-attr]
        assert "position" in out.extra
        return out


class ScorerContract:
    def make(self) -> Scorer:
        raise NotImplementedError

    def test_declares_name_and_policy(self) -> None:
        _check_name(self.make(), "scorers")

    def test_one_finite_score_per_row(self) -> None:
        ctx, batch = contract_context(), contract_requests()
        frame = mixed_frame(ctx, batch)
        scores = np.asarray(self.make().score(frame, batch, ctx))
        assert scores.shape == (len(frame),) and np.all(np.isfinite(scores))
        assert self.make().score(CandidateFrame.empty(), batch, ctx).shape == (0,)
