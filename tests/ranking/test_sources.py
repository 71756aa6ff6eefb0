"""Candidate sources: the shared contract, and known answers on the tiny world."""

from __future__ import annotations

import numpy as np

from ranking.base import RankContext
from ranking.sources.following_posts import FollowingPosts
from ranking.sources.new_arrivals import NewArrivals
from ranking.sources.provided import ProvidedCandidates
from tests.ranking.contract import SourceContract
from tests.ranking.worlds import (
    DAY,
    FAN,
    FOLLOW_FEED_OF_FAN,
    HOUR,
    NEW_ARRIVALS_OF_FAN,
    NEWFAN,
    NOBODY,
    NOW,
    requests,
    tiny_catalog,
)


class TestFollowingPostsContract(SourceContract):
    def make(self) -> FollowingPosts:
        return FollowingPosts()


class TestNewArrivalsContract(SourceContract):
    def make(self) -> NewArrivals:
        return NewArrivals()


class TestProvidedContract(SourceContract):
    def make(self) -> ProvidedCandidates:
        return ProvidedCandidates(item_type="post")


def ctx() -> RankContext:
    return RankContext(catalog=tiny_catalog())


def by_request(frame, n: int) -> list[set[int]]:  # type: ignore[no-untyped-def]
    return [set(frame.item_id[frame.request == i].tolist()) for i in range(n)]


def test_follow_feed_is_exactly_the_followed_accounts_recent_posts() -> None:
    frame = FollowingPosts(window_hours=72).fetch(requests([FAN, NOBODY, NEWFAN]), ctx())
    # FAN: accounts 1, 2, 3 (not 5, unfollowed), minus post 13 (too old) and 14 (future).
    # NEWFAN: account 4 followed an hour ago; account 1 only from an hour from now.
    assert by_request(frame, 3) == [FOLLOW_FEED_OF_FAN, set(), {41, 42}]
    fan = frame.take(frame.request == 0)
    assert dict(zip(fan.item_id.tolist(), fan.author_id.tolist(), strict=True)) == {
        11: 1, 12: 1, 21: 2, 22: 2, 31: 3}
    assert set(fan.category.tolist()) == {10, 20}  # a post takes its account's category


def test_follow_feed_window_is_half_open_and_at_the_request_time() -> None:
    # At NOW - 2h, post 11 (created exactly then) is not yet a candidate; 12 (NOW - 5h) is.
    early = FollowingPosts(window_hours=72).fetch(requests([FAN], now=NOW - 2 * HOUR), ctx())
    assert set(early.item_id.tolist()) == {12, 22}
    narrow = FollowingPosts(window_hours=2).fetch(requests([FAN]), ctx())
    assert set(narrow.item_id.tolist()) == {11, 21, 31}  # 11 created exactly 2 h before: inside


def test_follow_feed_limit_keeps_the_newest() -> None:
    frame = FollowingPosts(limit=2).fetch(requests([FAN, FAN]), ctx())
    assert by_request(frame, 2) == [{21, 31}, {21, 31}]


def test_private_posts_come_only_from_followed_accounts() -> None:
    frame = FollowingPosts().fetch(requests([FAN, NOBODY, NEWFAN]), ctx())
    followed = {0: {1, 2, 3}, 1: set(), 2: {4}}
    for req, author in zip(frame.request.tolist(), frame.author_id.tolist(), strict=True):
        assert author in followed[req]


def test_new_arrivals_are_recent_products_of_followed_shops() -> None:
    frame = NewArrivals(window_days=7).fetch(requests([FAN, NOBODY, NEWFAN], slot="new_arrival"), ctx())
    assert by_request(frame, 3) == [NEW_ARRIVALS_OF_FAN, set(), {104}]
    assert np.all(frame.visibility == 1)  # products are public
    wider = NewArrivals(window_days=9).fetch(requests([FAN], slot="new_arrival"), ctx())
    assert set(wider.item_id.tolist()) == NEW_ARRIVALS_OF_FAN | {102}


def test_provided_hydrates_known_existing_ids_only() -> None:
    batch = requests([FAN, NOBODY, FAN], candidates=[[42, 999, 14, 11], None, []])
    frame = ProvidedCandidates(item_type="post").fetch(batch, ctx())
    # 999 is unknown and 14 is published after the request: both dropped; order kept.
    assert frame.item_id.tolist() == [42, 11] and frame.request.tolist() == [0, 0]
    assert frame.author_id.tolist() == [4, 1]
    products = ProvidedCandidates(item_type="product").fetch(
        requests([FAN], slot="new_arrival", candidates=[[106, 102, 11]]), ctx())
    assert products.item_id.tolist() == [102]  # 106 launches tomorrow; 11 is a post id
    assert products.created_ms.tolist() == [NOW - 8 * DAY]
