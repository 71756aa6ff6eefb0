"""Filters: the shared contract, and known answers on the tiny world."""

from __future__ import annotations

import numpy as np

from ranking.base import RankContext
from ranking.filters.already_seen import AlreadySeen
from ranking.filters.fatigue import AuthorFatigue
from ranking.filters.h1_excluded import H1Excluded
from ranking.filters.visibility import VisibilityFilter
from ranking.frame import POST, PRODUCT, CandidateFrame
from ranking.seen import InMemorySeenStore
from ranking.sources.provided import ProvidedCandidates
from tests.ranking.contract import FilterContract
from tests.ranking.worlds import FAN, HOUR, NEWFAN, NOBODY, NOW, requests, tiny_catalog


class TestVisibilityContract(FilterContract):
    def make(self) -> VisibilityFilter:
        return VisibilityFilter()


class TestH1Contract(FilterContract):
    def make(self) -> H1Excluded:
        return H1Excluded()


class TestAlreadySeenContract(FilterContract):
    def make(self) -> AlreadySeen:
        return AlreadySeen()


class TestFatigueContract(FilterContract):
    def make(self) -> AuthorFatigue:
        return AuthorFatigue()


def provided(users: list[int], ids: list[list[int]], ctx: RankContext, now: int = NOW):  # type: ignore[no-untyped-def]
    batch = requests(users, candidates=ids, now=now)
    return ProvidedCandidates(item_type="post").fetch(batch, ctx), batch


def kept(frame: CandidateFrame, mask: np.ndarray) -> list[tuple[int, int]]:
    return list(zip(frame.request[mask].tolist(), frame.item_id[mask].tolist(), strict=True))


def test_private_posts_reach_only_fans_of_the_author_at_request_time() -> None:
    ctx = RankContext(catalog=tiny_catalog())
    ids = [[41, 42, 12, 11], [41, 42, 12, 11], [41, 42, 12, 11]]
    frame, batch = provided([FAN, NOBODY, NEWFAN], ids, ctx)
    mask = VisibilityFilter().keep(frame, batch, ctx)
    # 41 is private to fans of 4 (NEWFAN only); 12 is private to fans of 1 (FAN; NEWFAN only from NOW + 1h).
    assert kept(frame, mask) == [(0, 42), (0, 12), (0, 11), (1, 42), (1, 11), (2, 41), (2, 42), (2, 11)]
    # Fan status is taken at the request time: NEWFAN follows account 1 from NOW + 1h.
    frame, batch = provided([NEWFAN], [[12]], ctx, now=NOW + 2 * HOUR)
    assert kept(frame, VisibilityFilter().keep(frame, batch, ctx)) == [(0, 12)]


def test_visibility_safe_subset_is_public_rows() -> None:
    ctx = RankContext(catalog=tiny_catalog())
    frame, batch = provided([FAN], [[41, 42, 12, 11]], ctx)
    assert VisibilityFilter().fail == "closed"
    assert kept(frame, VisibilityFilter().keep_on_failure(frame, batch, ctx)) == [(0, 42), (0, 11)]


def test_h1_accounts_are_never_served() -> None:
    ctx = RankContext(catalog=tiny_catalog())
    frame, batch = provided([FAN], [[31, 11, 22]], ctx)
    assert kept(frame, H1Excluded().keep(frame, batch, ctx)) == [(0, 11), (0, 22)]
    products = ProvidedCandidates(item_type="product").fetch(requests([FAN], candidates=[[103, 101]]), ctx)
    assert products.item_id[H1Excluded().keep(products, batch, ctx)].tolist() == [101]
    assert H1Excluded().fail == "closed" and not H1Excluded().keep_on_failure(frame, batch, ctx).any()


def test_already_seen_drops_items_shown_in_earlier_sessions_within_the_window() -> None:
    seen = InMemorySeenStore()
    seen.record(np.array([FAN, FAN, FAN, NEWFAN]), np.array([POST, POST, PRODUCT, POST]),
                np.array([11, 22, 12, 42]), np.array([1, 2, 1, 4]),
                np.array([NOW - HOUR, NOW - 80 * HOUR, NOW - HOUR, NOW]))
    ctx = RankContext(catalog=tiny_catalog(), seen=seen)
    frame, batch = provided([FAN, NEWFAN], [[11, 22, 12], [42, 11]], ctx)
    mask = AlreadySeen(window_hours=72).keep(frame, batch, ctx)
    # 11 seen an hour ago: dropped. 22 seen 80 h ago: outside the window. The product with id 12 is not
    # the post 12. NEWFAN's impression of 42 is at NOW: the current page, not an earlier session.
    assert kept(frame, mask) == [(0, 22), (0, 12), (1, 42), (1, 11)]
    assert kept(frame, AlreadySeen(window_hours=100).keep(frame, batch, ctx)) == [(0, 12), (1, 42), (1, 11)]


def test_fatigue_drops_authors_shown_too_often_in_the_window() -> None:
    seen = InMemorySeenStore()
    n = 3
    seen.record(np.full(n, FAN), np.full(n, POST), np.arange(900, 900 + n), np.full(n, 2), NOW - 2 * HOUR)
    seen.record(np.full(n, FAN), np.full(n, POST), np.arange(910, 910 + n), np.full(n, 1), NOW - 30 * HOUR)
    ctx = RankContext(catalog=tiny_catalog(), seen=seen)
    frame, batch = provided([FAN, NOBODY], [[21, 22, 11], [21]], ctx)
    mask = AuthorFatigue(max_impressions=3, window_hours=24).keep(frame, batch, ctx)
    # FAN saw author 2 three times today: both of its posts go. Author 1's three were 30 h ago.
    assert kept(frame, mask) == [(0, 11), (1, 21)]
    assert kept(frame, AuthorFatigue(max_impressions=4, window_hours=24).keep(frame, batch, ctx)) == kept(
        frame, np.ones(len(frame), bool))
    assert kept(frame, AuthorFatigue(max_impressions=3, window_hours=48).keep(frame, batch, ctx)) == [(1, 21)]


def test_seen_store_two_levels_answer_like_one_index() -> None:
    rng = np.random.default_rng(3)
    n = 4_000
    cols = [rng.integers(0, 30, n), rng.integers(0, 2, n), rng.integers(0, 50, n), rng.integers(0, 9, n),
            rng.integers(0, 10_000, n)]
    tiered, flat = InMemorySeenStore(merge_share=0.1, merge_floor=100), InMemorySeenStore(merge_floor=10**9)
    probe = [rng.integers(0, 30, 500), rng.integers(0, 2, 500), rng.integers(0, 50, 500), rng.integers(0, 9, 500)]
    lo, hi = rng.integers(0, 5_000, 500), rng.integers(5_000, 10_001, 500)
    for start in range(0, n, 37):  # many small batches, queried in between, as a live service does
        part = [c[start:start + 37] for c in cols]
        tiered.record(*part)
        flat.record(*part)
        if start % 370 == 0:
            assert np.array_equal(tiered.seen(*probe[:3], lo, hi), flat.seen(*probe[:3], lo, hi))
    assert tiered._base and len(tiered) == len(flat) == n  # it did merge into the base level
    assert np.array_equal(tiered.author_impressions(probe[0], probe[3], lo, hi),
                          flat.author_impressions(probe[0], probe[3], lo, hi))
    assert np.array_equal(tiered.seen(*probe[:3], lo, hi), flat.seen(*probe[:3], lo, hi))
