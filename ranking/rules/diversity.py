"""``rules/diversity``: an MMR-like re-rank that spreads a page across authors and categories."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from ranking.base import FailPolicy, RankContext, Rule
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch

REASON = "diversity re-rank"


@dataclass(frozen=True, kw_only=True)
class Diversity(Rule):
    """Greedy re-rank of each request's top ``k``: at every position take the row with the highest

    ``relevance - weight × (rows of the same author placed above + rows of the same category placed above)``

    where relevance is the score scaled to [0, 1] within the request. Ties go to the earlier row, so the
    result is deterministic; rows not placed keep score order after the placed ones. The frame comes back in
    the new order with the request's own score values handed out in that order (so the selector, sorting by
    score with stable ties, keeps it); the score before the re-rank is kept in ``pre_diversity_score`` and
    moved rows carry the reason ``"diversity re-rank"``. ``weight = 0`` leaves the frame as it is.
    """

    weight: float = 0.3
    name: str = "rules/diversity"
    fail: FailPolicy = "open"

    def apply(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> CandidateFrame:
        if self.weight == 0 or not len(frame):
            return frame
        placed = self._placement(frame, requests.k[frame.request])
        unplaced = placed < 0
        key = np.where(unplaced, len(frame), placed)
        order = np.lexsort((np.where(unplaced, -frame.score, 0.0), key, frame.request))
        handed_out = frame.score[np.lexsort((-frame.score, frame.request))]
        before = frame.rank_within_request()[order]
        out = frame.take(order)
        after = np.arange(len(out)) - np.searchsorted(out.request, out.request)
        return (out.with_score(handed_out).with_columns(pre_diversity_score=frame.score[order])
                .with_reason(before != after, REASON))

    def _placement(self, frame: CandidateFrame, depth: np.ndarray) -> np.ndarray:
        """Position each row gets in the greedy re-rank of its request, -1 beyond the request's depth."""
        if frame.request[0] == frame.request[-1]:  # one request (the live service): a cheaper, identical walk
            return self._placement_one(frame, int(depth[0]))
        starts, group = np.unique(frame.request, return_index=True, return_inverse=True)[1:]
        group = group.ravel()
        lo = np.minimum.reduceat(frame.score, starts)[group]
        span = np.maximum.reduceat(frame.score, starts)[group] - lo
        relevance = np.where(span > 0, (frame.score - lo) / np.where(span > 0, span, 1.0), 1.0)
        author, n_author = frame.group_ids(frame.author_id)
        category, n_category = frame.group_ids(frame.category)
        above_author, above_category = np.zeros(n_author), np.zeros(n_category)
        placed = np.full(len(frame), -1, dtype=np.int64)
        for step in range(int(depth.max(initial=0))):
            open_ = (placed < 0) & (depth > step)
            if not open_.any():
                break
            gain = relevance - self.weight * (above_author[author] + above_category[category])
            gain = np.where(open_, gain, -np.inf)
            best = np.maximum.reduceat(gain, starts)[group]
            rows = np.flatnonzero(open_ & (gain == best))
            req = frame.request[rows]  # grouped ascending, as rows are: the first row of each request wins
            chosen = rows[np.concatenate([[True], req[1:] != req[:-1]])] if len(rows) else rows
            placed[chosen] = step
            # One row per request per step, and pairs are per request: no index repeats here.
            above_author[author[chosen]] += 1
            above_category[category[chosen]] += 1
        return placed

    def _placement_one(self, frame: CandidateFrame, depth: int) -> np.ndarray:
        """:meth:`_placement` for a frame of one request, as a lazy greedy walk: a row's gain only falls as rows
        are placed above it, so a heap of gains computed earlier bounds every row's current gain, and only the
        rows at the top of the heap are re-evaluated at each step. Gains are the same floating-point
        expression as the batch walk's and ties go to the earlier row (heap order is (-gain, row)), so the
        placement is identical (a test holds the two equal)."""
        score = frame.score
        lo, span = score.min(), score.max() - score.min()
        relevance = ((score - lo) / span if span > 0 else np.ones(len(score))).tolist()
        author = np.unique(frame.author_id, return_inverse=True)[1].ravel().tolist()
        category = np.unique(frame.category, return_inverse=True)[1].ravel().tolist()
        above_author, above_category = [0.0] * (max(author) + 1), [0.0] * (max(category) + 1)
        weight = float(self.weight)
        heap = [(-r, i) for i, r in enumerate(relevance)]
        heapq.heapify(heap)
        placed = np.full(len(frame), -1, dtype=np.int64)
        for step in range(min(depth, len(frame))):
            while True:
                stale, i = heap[0]
                gain = relevance[i] - weight * (above_author[author[i]] + above_category[category[i]])
                if -gain == stale:
                    break
                heapq.heapreplace(heap, (-gain, i))  # fell since computed: back in at its current gain
            heapq.heappop(heap)
            placed[i] = step
            above_author[author[i]] += 1
            above_category[category[i]] += 1
        return placed
