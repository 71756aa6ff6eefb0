"""``sources/new_arrivals``: the new-arrival slot's candidates, products newly launched by followed shops."""

from __future__ import annotations

from dataclasses import dataclass

from ranking.base import FailPolicy, RankContext, Source
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch

DAY_MS = 86_400_000


@dataclass(frozen=True, kw_only=True)
class NewArrivals(Source):
    """Products launched in ``[now - window_days, now)`` by shops the user follows at ``now``.

    At most ``limit`` products per request, the most recently launched first.
    """

    window_days: float = 7.0
    limit: int = 500
    name: str = "sources/new_arrivals"
    fail: FailPolicy = "open"

    def fetch(self, requests: RequestBatch, ctx: RankContext) -> CandidateFrame:
        query, account = ctx.catalog.followed(requests.user_id, requests.now_ms)
        now = requests.now_ms[query]
        row, product = ctx.catalog.products_in_window(account, now - int(self.window_days * DAY_MS), now)
        frame = ctx.catalog.product_candidates(query[row], product)
        return frame.take(frame.top_per_request(self.limit, frame.created_ms.astype(float)))
