"""The runner on whole slots: known pages, failure policies, timings, budgets."""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import count

import numpy as np
import pytest

from ranking.base import RankContext, RankingError, SlotDefinition, SlotDefinitionError
from ranking.filters.visibility import VisibilityFilter
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch
from ranking.rules.author_cap import AuthorCap
from ranking.runner import DeadlineExceeded, RankResult, Runner
from ranking.scorers.callable import CallableScorer
from ranking.selectors.top_k import TopK
from ranking.settings import RankingSettings
from ranking.slots import follow_feed_slot, new_arrival_slot
from ranking.sources.following_posts import FollowingPosts
from tests.ranking.worlds import FAN, NEWFAN, NOBODY, requests, tiny_catalog

BY_ID = CallableScorer(name="scorers/by_id", fn=lambda f: f.item_id / 100.0)


class Boom(RuntimeError):
    pass


def boom(*_: object) -> np.ndarray:
    raise Boom("broken on purpose")


@dataclass(frozen=True, kw_only=True)
class BrokenVisibility(VisibilityFilter):
    def keep(self, *args: object) -> np.ndarray:
        return boom()


@dataclass(frozen=True, kw_only=True)
class BrokenSource(FollowingPosts):
    name: str = "sources/broken"

    def fetch(self, *args: object) -> CandidateFrame:
        return boom()  # type: ignore[return-value]


def ctx() -> RankContext:
    return RankContext(catalog=tiny_catalog())


def run(slot: SlotDefinition, batch: RequestBatch, runner: Runner | None = None) -> RankResult:
    return (runner or Runner()).run(slot, batch, ctx())


def feed(**settings: float) -> SlotDefinition:
    return follow_feed_slot(RankingSettings(**settings), BY_ID)


def test_follow_feed_known_page() -> None:
    result = run(feed(), requests([FAN, NOBODY, NEWFAN], candidates=[None, None, [12, 11]]))
    # FAN: posts of 1, 2, 3 minus H1 account 3; 11 and 12 weighted ×1.2 (preferred shop 1, FAN its fan);
    # diversity keeps 21 above 12 (.89 - 0.6 for 22's author and category, against .14).
    # NEWFAN: its feed (41, 42) plus provided 11; provided 12 is private to fans of account 1.
    assert [p.tolist() for p in result.pages()] == [[22, 21, 12, 11], [], [42, 41, 11]]
    page = result.page(0)
    assert page.extra["position"].tolist() == [0, 1, 2, 3]
    assert page.score.tolist() == pytest.approx([0.22, 0.21, 0.144, 0.132])
    assert [page.explain(i) for i in (2, 3)] == [["preferred shop ×1.2"]] * 2
    assert page.extra["model_score"].tolist() == pytest.approx([0.22, 0.21, 0.12, 0.11])
    assert result.counters.get("failed", 0) == 0


def test_timings_for_every_stage_and_component() -> None:
    slot = feed()
    result = run(slot, requests([FAN]))
    assert set(result.timings_ms) == {"sources", "filters", "scorer", "rules", "selectors"} | {
        c.name for c in slot.components() if c is not slot.fallback_scorer}
    assert all(v >= 0 for v in result.timings_ms.values())
    assert [r.stage for r in result.reports][:2] == ["sources", "sources"]
    assert {r.component: (r.rows_in, r.rows_out) for r in result.reports}["filters/h1_excluded"] == (5, 4)
    assert result.counters["filters/h1_excluded:dropped"] == 1


def test_a_private_post_never_reaches_a_non_fan() -> None:
    batch = requests([NOBODY, NEWFAN, FAN], candidates=[[41, 12, 42, 11, 21], [12, 21], [41]])
    pages = run(feed(), batch).pages()
    assert set(pages[0].tolist()) == {42, 11}
    assert set(pages[1].tolist()) == {41, 42}  # NEWFAN's own feed; 12 and 21 (private, not its accounts) gone
    assert 41 not in pages[2].tolist()


def test_visibility_filter_fails_closed_private_rows_dropped() -> None:
    base = feed()
    slot = replace(base, filters=(BrokenVisibility(), *base.filters[1:]))
    result = run(slot, requests([FAN, NEWFAN]))
    # Without the privacy check only public posts are served: 11 and 22 of FAN's feed, 42 of NEWFAN's.
    assert [sorted(p.tolist()) for p in result.pages()] == [[11, 22], [42]]
    assert result.counters["filters/visibility:failed"] == 1 and result.counters["failed"] == 1
    assert next(r for r in result.reports if r.component == "filters/visibility").error == "Boom: broken on purpose"


def test_a_failing_source_fails_open_and_the_others_serve() -> None:
    base = feed()
    slot = replace(base, sources=(BrokenSource(), *base.sources[1:]))
    result = run(slot, requests([FAN, NOBODY], candidates=[[11, 22], [42]]))
    assert [sorted(p.tolist()) for p in result.pages()] == [[11, 22], [42]]
    assert result.counters["sources/broken:failed"] == 1
    closed = replace(base, sources=(BrokenSource(fail="closed"), *base.sources[1:]))
    assert [len(p) for p in run(closed, requests([FAN], candidates=[[11, 22]])).pages()] == [0]


def test_a_failing_model_falls_back_to_recency() -> None:
    slot = follow_feed_slot(RankingSettings(diversity_weight=0), CallableScorer(fn=boom))
    result = run(slot, requests([FAN]))
    # Recency (24 h half-life): 21 (1 h) .97, 11 (2 h) .94 × 1.2, 22 (3 h) .92, 12 (5 h) .87 × 1.2.
    assert result.pages()[0].tolist() == [11, 12, 21, 22]
    assert result.page(0).extra["model_score"] == pytest.approx(0.5 ** (np.array([2, 5, 1, 3]) / 24))
    assert result.counters["fallback"] == 1 and result.counters["scorers/callable:fallback"] == 1
    nan = follow_feed_slot(RankingSettings(), CallableScorer(fn=lambda f: np.full(len(f), np.nan)))
    assert run(nan, requests([FAN])).counters["scorers/callable:failed"] == 1
    closed = follow_feed_slot(RankingSettings(), CallableScorer(fn=boom, fail="closed"))
    assert len(run(closed, requests([FAN])).frame) == 0


def test_broken_outputs_count_as_failures() -> None:
    @dataclass(frozen=True, kw_only=True)
    class ShortMask(VisibilityFilter):
        name: str = "filters/short"
        fail: str = "open"  # type: ignore[assignment]

        def keep(self, frame: CandidateFrame, *args: object) -> np.ndarray:
            return np.ones(len(frame) - 1, bool)

    @dataclass(frozen=True, kw_only=True)
    class Adds(AuthorCap):
        def apply(self, frame: CandidateFrame, *args: object) -> CandidateFrame:
            return CandidateFrame.concat([frame, frame])

    base = feed(diversity_weight=0)
    slot = replace(base, filters=(*base.filters, ShortMask()), rules=(Adds(), *base.rules[:1]))
    result = run(slot, requests([FAN]))
    assert result.counters["filters/short:failed"] == 1 and result.counters["rules/author_cap:failed"] == 1
    assert result.pages()[0].tolist() == [22, 21, 12, 11]  # both skipped: open


def test_failing_rule_closed_and_selector_closed_empty_the_page() -> None:
    base = feed()
    rule = replace(base, rules=(CallableRule(),))
    assert len(run(rule, requests([FAN])).frame) == 0
    sel = replace(base, selectors=(BrokenTopK(),))
    result = run(sel, requests([FAN]))
    assert len(result.frame) == 0 and result.counters["selectors/top_k:failed"] == 1
    assert "position" in result.frame.extra


@dataclass(frozen=True, kw_only=True)
class CallableRule(AuthorCap):
    fail: str = "closed"  # type: ignore[assignment]

    def apply(self, *args: object) -> CandidateFrame:
        return boom()  # type: ignore[return-value]


@dataclass(frozen=True, kw_only=True)
class BrokenTopK(TopK):
    def select(self, *args: object) -> CandidateFrame:
        return boom()  # type: ignore[return-value]


def test_stage_over_budget_is_counted_not_interrupted() -> None:
    ticks = count(step=1_000_000_000)  # every clock reading is one second later
    slow = Runner(budgets_ms=RankingSettings().budget_ms.model_dump(), clock=lambda: next(ticks))
    result = run(feed(), requests([FAN]), slow)
    assert result.counters["over_budget"] == 5 and result.counters["rules:over_budget"] == 1
    assert len(result.pages()[0]) == 4
    fast = Runner.from_settings(RankingSettings(budget_ms={"sources": 1e6, "filters": 1e6, "scorer": 1e6,
                                                            "rules": 1e6, "selectors": 1e6}))
    assert fast.run(feed(), requests([FAN]), ctx()).counters.get("over_budget", 0) == 0


def test_a_run_past_its_deadline_stops_between_stages() -> None:
    ticks = count(step=1_000_000_000)  # every clock reading is one second later
    slow = Runner(clock=lambda: next(ticks))
    with pytest.raises(DeadlineExceeded) as err:
        slow.run(feed(), requests([FAN]), ctx(), deadline_ns=1)  # already passed when "sources" ends
    assert err.value.stage == "sources" and "sources" in err.value.timings_ms
    assert "filters" not in err.value.timings_ms  # stopped: the later stages did not run
    ticks = count(step=1_000_000_000)
    assert len(slow.run(feed(), requests([FAN]), ctx(), deadline_ns=10**12).pages()[0]) == 4  # control


def test_requests_must_be_for_the_slot_and_declarations_are_checked() -> None:
    with pytest.raises(RankingError, match="new_arrival"):
        run(feed(), requests([FAN], slot="new_arrival"))
    with pytest.raises(SlotDefinitionError, match="unique"):
        SlotDefinition(name="x", sources=(FollowingPosts(), FollowingPosts()), scorer=BY_ID, selectors=(TopK(),))
    with pytest.raises(SlotDefinitionError, match="selector"):
        SlotDefinition(name="x", sources=(FollowingPosts(),), scorer=BY_ID)
    with pytest.raises(SlotDefinitionError, match="fail"):
        SlotDefinition(name="x", sources=(FollowingPosts(fail="maybe"),), scorer=BY_ID,  # type: ignore[arg-type]
                       selectors=(TopK(),))


def test_new_arrival_slot_known_page() -> None:
    slot = new_arrival_slot(RankingSettings(), CallableScorer(fn=lambda f: f.item_id / 1000.0))
    result = run(slot, requests([FAN, NEWFAN], slot="new_arrival"))
    # 103 is an H1 shop's: dropped. 101 is preferred shop 1's: 0.101 × 1.2 = 0.1212 ranks above 105's 0.105.
    assert [p.tolist() for p in result.pages()] == [[101, 105], [104]]
    assert result.page(0).explain(0) == ["preferred shop ×1.2"]
