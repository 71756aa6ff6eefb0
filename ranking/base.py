"""The contracts of a slot pipeline: sources → filters → scorer → rules → selectors.

Every component works on a whole :class:`~ranking.request.RequestBatch` and a
:class:`~ranking.frame.CandidateFrame` whose rows are grouped by request, so one component serves one live
request or an hour of simulated sessions with the same code. Every component has

* ``name``: ``"<stage folder>/<what>"`` (e.g. ``"sources/following_posts"``); the metric label, the log key
  and the config key;
* ``fail``: its declared failure policy, which the runner applies when the component raises or returns
  output that breaks its contract:

  - ``"open"``: the component is skipped and the failure counted (a source contributes nothing, a filter
    keeps every row, a rule leaves the frame as it was, a scorer gives way to the slot's fallback scorer);
  - ``"closed"``: the requests get no candidates from that stage, except that a filter may declare, in
    :meth:`Filter.keep_on_failure`, the rows that are safe without it (the visibility filter keeps public
    rows and drops every private one). Privacy never leaks because a component broke.

A failure applies to the whole batch the component was called with.
A slot is a :class:`SlotDefinition`: a declaration that :class:`~ranking.runner.Runner` executes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

from ranking.catalog import CatalogIndex
from ranking.frame import CandidateFrame
from ranking.request import RequestBatch
from ranking.seen import InMemorySeenStore, SeenStore

FailPolicy = Literal["open", "closed"]
STAGES = ("sources", "filters", "scorer", "rules", "selectors")


class RankingError(Exception):
    """Root of the ranking layer's errors."""


class ComponentOutputError(RankingError):
    """A component returned output that breaks its contract (handled like an exception it raised)."""


class SlotDefinitionError(RankingError, ValueError):
    """A slot declaration that cannot run."""


@dataclass(frozen=True)
class RankContext:
    """What components read besides the requests: the catalogue and the impression history."""

    catalog: CatalogIndex
    seen: SeenStore = field(default_factory=InMemorySeenStore)


class Component(ABC):
    """Anything a slot declares: a name and a failure policy."""

    name: str
    fail: FailPolicy


class Source(Component):
    """Produces candidates."""

    @abstractmethod
    def fetch(self, requests: RequestBatch, ctx: RankContext) -> CandidateFrame:
        """Candidates for every request; ``frame.request`` indexes ``requests``, rows grouped by request."""


class Filter(Component):
    """Drops candidates."""

    @abstractmethod
    def keep(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> np.ndarray:
        """Boolean mask over ``frame``'s rows: True keeps the row."""

    def keep_on_failure(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> np.ndarray:
        """Rows kept when ``keep`` failed and the filter fails closed: by default none."""
        return np.zeros(len(frame), dtype=bool)


class Scorer(Component):
    """Scores candidates; the model plugs in here."""

    @abstractmethod
    def score(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> np.ndarray:
        """One finite float score per row of ``frame``; higher is better."""


class Rule(Component):
    """A business rule: rescores, reorders or drops rows (never adds any)."""

    @abstractmethod
    def apply(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> CandidateFrame:
        """The frame after the rule; rows stay grouped by request."""


class Selector(Component):
    """Chooses the final page and writes its ``position`` column (0-based)."""

    @abstractmethod
    def select(self, frame: CandidateFrame, requests: RequestBatch, ctx: RankContext) -> CandidateFrame:
        """The served rows, grouped by request and ordered by ``extra['position']`` within it."""


@dataclass(frozen=True, kw_only=True)
class SlotDefinition:
    """A slot pipeline as a declaration; :class:`~ranking.runner.Runner` has all the control flow.

    ``fallback_scorer`` scores the candidates when ``scorer`` fails open (a model that cannot be read must
    not empty the feed).
    """

    name: str
    sources: tuple[Source, ...]
    scorer: Scorer
    filters: tuple[Filter, ...] = ()
    rules: tuple[Rule, ...] = ()
    selectors: tuple[Selector, ...] = ()
    fallback_scorer: Scorer | None = None

    def __post_init__(self) -> None:
        for stage in ("sources", "filters", "rules", "selectors"):
            object.__setattr__(self, stage, tuple(getattr(self, stage)))
        if not self.sources:
            raise SlotDefinitionError(f"slot {self.name!r}: declare at least one source")
        if not self.selectors:
            raise SlotDefinitionError(f"slot {self.name!r}: declare at least one selector (it writes positions)")
        names = [c.name for c in self.components()]
        if len(set(names)) != len(names):
            raise SlotDefinitionError(f"slot {self.name!r}: component names must be unique, got {names}")
        for c in self.components():
            if getattr(c, "fail", None) not in get_args(FailPolicy):
                raise SlotDefinitionError(f"slot {self.name!r}: {c.name}: fail must be 'open' or 'closed'")

    def components(self) -> list[Component]:
        """Every declared component, in execution order."""
        extra = [self.fallback_scorer] if self.fallback_scorer is not None else []
        return [*self.sources, *self.filters, self.scorer, *extra, *self.rules, *self.selectors]
