"""``sources/provided``: the candidate ids a request brings with it, hydrated from the catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ranking.base import FailPolicy, RankContext, Source
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch


@dataclass(frozen=True, kw_only=True)
class ProvidedCandidates(Source):
    """The ids in each request's ``candidates`` (posts or products, per ``item_type``).

    Ids unknown to the catalogue and items created or launched at or after the request time are dropped:
    the caller may name anything, but only items that exist at ``now`` can be served. Nothing else is
    checked here; visibility and the other filters apply as to any source.
    """

    item_type: Literal["post", "product"] = "post"
    name: str = "sources/provided"
    fail: FailPolicy = "open"

    def fetch(self, requests: RequestBatch, ctx: RankContext) -> CandidateFrame:
        counts = np.array([0 if c is None else len(c) for c in requests.candidates], dtype=np.int64)
        request = np.repeat(np.arange(len(requests), dtype=np.int64), counts)
        ids = np.concatenate([np.asarray(c, np.int64) for c in requests.candidates if c is not None] or
                             [np.zeros(0, np.int64)])
        if self.item_type == "post":
            rows = ctx.catalog.post_rows(ids)
            frame = ctx.catalog.post_candidates(request[rows >= 0], rows[rows >= 0])
        else:
            rows = ctx.catalog.product_rows(ids)
            frame = ctx.catalog.product_candidates(request[rows >= 0], rows[rows >= 0])
        return frame.take(frame.created_ms < requests.now_ms[frame.request])
