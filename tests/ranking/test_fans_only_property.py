"""Fans-only posts reach fans only, whatever the follow graph, the posts and the candidates (hypothesis).

Each example draws a small world: who followed whom and when (re-follows and unfollows included), posts of
both visibilities, and requests at any time with or without candidate ids of their own. The follow-feed
slot, as the service declares it, ranks them; every fans-only post served must be by an account the user
followed at the request time, by the follow intervals themselves (``followed <= t < unfollowed``), not by
the catalogue's index. The control runs the same worlds without the visibility filter and finds leaks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from features.contract import code
from ranking.base import RankContext, SlotDefinition
from ranking.catalog import CatalogIndex
from ranking.catalog_tables import NEVER, Accounts, Follows, Posts, Products
from ranking.frame import PRIVATE, PUBLIC
from ranking.request import RankRequest, RequestBatch
from ranking.runner import Runner
from ranking.scorers.callable import CallableScorer
from ranking.settings import RankingSettings
from ranking.slots import follow_feed_slot
from tests.ranking.worlds import HOUR, NOW

USERS, ACCOUNTS, POSTS = (100, 101, 102), (1, 2, 3, 4), 12
#: Scores favour fans-only posts, so a leak would be near the top of every page rather than cut by k.
FAVOUR_PRIVATE = CallableScorer(name="scorers/private_first",
                                fn=lambda f: (f.visibility == PRIVATE) + f.item_id / 1e6)


@dataclass(frozen=True)
class World:
    catalog: CatalogIndex
    follows: list[tuple[int, int, int, int]]  # (user, account, followed_ms, unfollowed_ms)
    author: dict[int, int]
    private: set[int]
    requests: list[RankRequest]

    def fan(self, user: int, account: int, at_ms: int) -> bool:
        return any(u == user and a == account and since <= at_ms < until for u, a, since, until in self.follows)


hours = st.integers(-60, 2)  # follows begin up to 60 h before NOW; requests fall around NOW
follow = st.tuples(st.sampled_from(USERS), st.sampled_from(ACCOUNTS), hours,
                   st.one_of(st.none(), st.integers(0, 48)))


@st.composite
def worlds(draw: st.DrawFn) -> World:
    follows = []
    for user, account, start_h, lasts_h in draw(st.lists(follow, max_size=14)):
        since = NOW + start_h * HOUR + draw(st.integers(0, HOUR - 1))
        follows.append((user, account, since, NEVER if lasts_h is None else since + lasts_h * HOUR + 1))
    post_ids = np.arange(1, POSTS + 1, dtype=np.int64)
    authors = np.array(draw(st.lists(st.sampled_from(ACCOUNTS), min_size=POSTS, max_size=POSTS)), np.int64)
    private = np.array(draw(st.lists(st.booleans(), min_size=POSTS, max_size=POSTS)))
    created = NOW - np.array(draw(st.lists(st.integers(0, 48 * HOUR), min_size=POSTS, max_size=POSTS)), np.int64)
    f = np.array(follows, np.int64).reshape(-1, 4)
    n = len(ACCOUNTS)
    catalog = CatalogIndex(
        Accounts(np.array(ACCOUNTS, np.int64), np.zeros(n, np.int8), np.full(n, code("tier", "W2"), np.int8),
                 np.zeros(n, bool), np.arange(n, dtype=np.int32)),
        Follows(f[:, 0], f[:, 1], f[:, 2], f[:, 3]),
        Posts(post_ids, authors, created, np.where(private, PRIVATE, PUBLIC).astype(np.int8)),
        Products(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int64)))
    requests = []
    for user in draw(st.lists(st.sampled_from(USERS), min_size=1, max_size=4)):
        now = NOW + draw(st.integers(-12 * HOUR, 2 * HOUR))
        own = draw(st.one_of(st.none(), st.lists(st.sampled_from(post_ids.tolist()), min_size=1, max_size=8,
                                                 unique=True)))
        requests.append(RankRequest(user, "follow_feed", 20, now, own))
    return World(catalog, follows, dict(zip(post_ids.tolist(), authors.tolist(), strict=True)),
                 set(post_ids[private].tolist()), requests)


def served_private(world: World, slot: SlotDefinition) -> list[tuple[int, int, bool]]:
    """(user, post, whether the user followed its author at the time) of every fans-only post served."""
    result = Runner().run(slot, RequestBatch.of(world.requests), RankContext(world.catalog))
    return [(r.user_id, post, world.fan(r.user_id, world.author[post], r.now_ms))
            for r, page in zip(world.requests, result.pages(), strict=True)
            for post in page.tolist() if post in world.private]


def leaks(world: World, slot: SlotDefinition) -> list[tuple[int, int]]:
    """(user, post) of every fans-only post served to a user who did not follow its author at the time."""
    return [(user, post) for user, post, fan in served_private(world, slot) if not fan]


FEED = follow_feed_slot(RankingSettings(), FAVOUR_PRIVATE)


@settings(max_examples=300, deadline=None)
@given(world=worlds())
def test_no_fans_only_post_reaches_a_non_fan_whatever_the_follow_graph(world: World) -> None:
    assert leaks(world, FEED) == []


def test_control_without_the_visibility_filter_the_same_worlds_leak() -> None:
    unsafe = replace(FEED, filters=tuple(f for f in FEED.filters if f.name != "filters/visibility"))
    leaked, to_fans = [], []

    @settings(max_examples=300, deadline=None, database=None)
    @given(world=worlds())
    def search(world: World) -> None:
        leaked.extend(leaks(world, unsafe))
        to_fans.extend(p for p in served_private(world, FEED) if p[2])

    search()
    assert leaked  # the property above would fail on these worlds without the filter
    assert to_fans  # and it does not pass by serving no fans-only post at all: fans get them
