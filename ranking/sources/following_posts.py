"""``sources/following_posts``: the follow-feed's candidates, recent posts of the accounts a user follows."""

from __future__ import annotations

from dataclasses import dataclass

from ranking.base import FailPolicy, RankContext, Source
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch

HOUR_MS = 3_600_000


@dataclass(frozen=True, kw_only=True)
class FollowingPosts(Source):
    """Posts created in ``[now - window_hours, now)`` by accounts the user follows at ``now``.

    Private (fans-only) posts are included: every account here is followed by the user, so the user is its
    fan; the visibility filter still checks it, independently. At most ``limit`` posts per request, the
    newest first.
    """

    window_hours: float = 72.0
    limit: int = 500
    name: str = "sources/following_posts"
    fail: FailPolicy = "open"

    def fetch(self, requests: RequestBatch, ctx: RankContext) -> CandidateFrame:
        query, account = ctx.catalog.followed(requests.user_id, requests.now_ms)
        now = requests.now_ms[query]
        row, post = ctx.catalog.posts_in_window(account, now - int(self.window_hours * HOUR_MS), now)
        # Queries are ascending and rows ascending within a query, so requests stay grouped.
        frame = ctx.catalog.post_candidates(query[row], post)
        return frame.take(frame.top_per_request(self.limit, frame.created_ms.astype(float)))
