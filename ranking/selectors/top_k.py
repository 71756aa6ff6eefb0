"""``selectors/top_k``: the page is the k best-scored rows of each request."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.base import FailPolicy, RankContext, Selector
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch


@dataclass(frozen=True, kw_only=True)
class TopK(Selector):
    """Highest score first, ties in row order (stable), ``requests.k`` rows per request.

    Writes ``position`` (0 .. k-1) and returns the rows ordered by request, then position. Fails closed:
    without it there is no page, and an unbounded, unordered candidate list is not one.
    """

    name: str = "selectors/top_k"
    fail: FailPolicy = "closed"

    def select(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> CandidateFrame:
        rank = frame.rank_within_request()
        order = np.lexsort((rank, frame.request))
        order = order[rank[order] < requests.k[frame.request[order]]]
        return frame.take(order).with_columns(position=rank[order])
