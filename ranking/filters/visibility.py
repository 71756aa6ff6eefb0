"""``filters/visibility``: fans-only posts reach fans only. Fails closed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.base import FailPolicy, Filter, RankContext
from ranking.frame import PUBLIC, CandidateFrame
from ranking.request import RequestBatch


@dataclass(frozen=True, kw_only=True)
class VisibilityFilter(Filter):
    """Keeps public rows, and private rows whose user follows the author at the request time.

    Whatever a source claims, fan status is checked again here against the follow graph. If this check
    fails, the runner keeps only public rows (:meth:`keep_on_failure`): a broken privacy check never
    shows a fans-only post to anyone.
    """

    name: str = "filters/visibility"
    fail: FailPolicy = "closed"

    def keep(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> np.ndarray:
        public = frame.visibility == PUBLIC
        private = ~public
        keep = public.copy()
        req = frame.request[private]
        keep[private] = ctx.catalog.is_fan(requests.user_id[req], frame.author_id[private], requests.now_ms[req])
        return keep

    def keep_on_failure(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> np.ndarray:
        return frame.visibility == PUBLIC
