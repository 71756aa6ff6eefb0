"""``sources/similar_accounts``: discovery — recent items of the accounts nearest a user's taste.

The slot ranker's embeddings (``ranking.affinity``: ALS factors of users and accounts) place each user
near the accounts they engage with; a faiss index over the account vectors (``ranking.ann.ItemIndex``)
finds the nearest ``accounts`` for each request's user. Their recent public posts (or newly launched
products) become candidates; accounts the user already follows are left to the follow source, so the two
never overlap. Fans-only posts are never offered here (a non-fan may not see them), and the visibility
filter checks again. Users without a vector get nothing from this source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ranking.affinity import Affinity
from ranking.ann import ItemIndex
from ranking.base import FailPolicy, RankContext, Source
from ranking.frame import PUBLIC, CandidateFrame
from ranking.request import RequestBatch

HOUR_MS = 3_600_000
REASON = "discovery: from an account like the ones you engage with"


@dataclass(frozen=True, kw_only=True)
class SimilarAccounts(Source):
    """Items of the ``accounts`` nearest the user (by the index), created in ``[now - window_hours, now)``;
    at most ``limit`` per request, the newest first."""

    index: ItemIndex
    affinity: Affinity
    item_type: Literal["post", "product"] = "post"
    accounts: int = 20
    window_hours: float = 72.0
    limit: int = 50
    name: str = "sources/similar_accounts"
    fail: FailPolicy = "open"

    def fetch(self, requests: RequestBatch, ctx: RankContext) -> CandidateFrame:
        users = np.asarray(requests.user_id, np.int64)
        known = self.affinity.user_rows(users)
        asked = np.flatnonzero(known >= 0)
        query = account = np.zeros(0, np.int64)
        if len(asked):
            vectors = np.ascontiguousarray(self.affinity.user_factors[known[asked]], dtype=np.float32)
            _, found = self.index.search(vectors, self.accounts)
            query, account = np.repeat(asked, found.shape[1]), found.ravel().astype(np.int64)
        now = requests.now_ms[query]
        fresh = (account >= 0) & ~ctx.catalog.is_fan(users[query], account, now)
        query, account, now = query[fresh], account[fresh], now[fresh]
        window = (account, now - int(self.window_hours * HOUR_MS), now)
        if self.item_type == "post":
            at, rows = ctx.catalog.posts_in_window(*window)
        else:
            at, rows = ctx.catalog.products_in_window(*window)
        order = np.lexsort((rows, query[at]))  # requests grouped, as every source hands them on
        request, rows = query[at][order], rows[order]
        if self.item_type == "post":
            frame = ctx.catalog.post_candidates(request, rows)
            frame = frame.take(frame.visibility == PUBLIC)
        else:
            frame = ctx.catalog.product_candidates(request, rows)
        frame = frame.take(frame.top_per_request(self.limit, frame.created_ms.astype(float)))
        return frame.with_reason(np.ones(len(frame), bool), REASON)
