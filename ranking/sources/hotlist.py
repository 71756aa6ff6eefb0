"""``sources/hotlist``: the posts on the picked-hot-list board, for every request."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ranking.base import FailPolicy, RankContext, Source
from ranking.frame import PUBLIC, CandidateFrame
from ranking.hotlist import HotlistBoard
from ranking.request import RequestBatch

HOUR_MS = 3_600_000


@dataclass(frozen=True, kw_only=True)
class HotlistPosts(Source):
    """Board posts created in ``[now - window_hours, now)``, with the board weight as ``board_weight``.

    A post on the board is public by the gate's decision (amplified) or an official pick, so its rows are
    marked public; posts the catalogue does not know are dropped.
    """

    board: HotlistBoard
    window_hours: float = 48.0
    name: str = "sources/hotlist"
    fail: FailPolicy = "open"

    def fetch(self, requests: RequestBatch, ctx: RankContext) -> CandidateFrame:
        state = self.board.state  # one read: the whole batch sees one board
        rows = ctx.catalog.post_rows(state.post_ids)
        known = rows >= 0
        rows, weight, official = rows[known], state.weight[known], state.official[known]
        n_req, n_post = len(requests), len(rows)
        request = np.repeat(np.arange(n_req, dtype=np.int64), n_post)
        frame = ctx.catalog.post_candidates(request, np.tile(rows, n_req))
        frame = frame.with_columns(board_weight=np.tile(weight, n_req), official=np.tile(official, n_req))
        frame = replace(frame, visibility=np.full(len(frame), PUBLIC))
        frame = frame.with_reason(frame.extra["official"], "official pick")
        frame = frame.with_reason(~frame.extra["official"], "amplified from fans to the public")
        now = requests.now_ms[frame.request]
        return frame.take((frame.created_ms < now) & (frame.created_ms >= now - int(self.window_hours * HOUR_MS)))
