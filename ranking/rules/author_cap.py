"""``rules/author_cap``: at most N items of one author on a page."""

from __future__ import annotations

from dataclasses import dataclass

from ranking.base import FailPolicy, RankContext, Rule
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch

REASON = "author cap"


@dataclass(frozen=True, kw_only=True)
class AuthorCap(Rule):
    """Keeps each author's ``max_per_author`` best-scored rows per request and drops the rest.

    Applied to all candidates before the selector, so no page can hold more than the cap. The kept rows of
    an author who lost rows carry the reason ``"author cap"`` (the seller sees why fewer items showed).
    """

    max_per_author: int = 2
    name: str = "rules/author_cap"
    fail: FailPolicy = "open"

    def apply(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> CandidateFrame:
        keep = frame.occurrence(frame.author_id) < self.max_per_author
        capped = frame.count_per(frame.author_id) > self.max_per_author
        return frame.with_reason(capped, REASON).take(keep)
