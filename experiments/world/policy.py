"""What a policy sees of the world and what it must answer, hour by hour.

A policy never sees hidden truth: only the catalogue, follower counts, counters that any observer
of the event stream could keep, and the events of the last hour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from experiments.world.events import Events
from experiments.world.population import Population


@dataclass
class Batch:
    """Candidates of one slot for the sessions of one hour; rows grouped by session, ascending."""

    slot: str
    now_ms: int
    session: np.ndarray
    user: np.ndarray
    item: np.ndarray  # post id, or product id for new_arrival
    author: np.ndarray  # account id
    is_fan: np.ndarray
    item_ms: np.ndarray  # created (posts) or launched (products)
    level: np.ndarray  # pool level of posts (hotlist); zeros elsewhere

    def __len__(self) -> int:
        return len(self.item)


@dataclass
class AmplifyBatch:
    """Live non-official posts (published in the last 48 h) the policy may move between pools."""

    now_ms: int
    post: np.ndarray
    author: np.ndarray
    created_ms: np.ndarray
    level: np.ndarray  # 0 private, 1 probe, 2 public pool 1, 3 pool 2, ...


@dataclass
class Catalog:
    """Observable catalogue columns (contract tables), indexed by id."""

    post_account: np.ndarray
    post_kind: np.ndarray
    post_format: np.ndarray
    post_created_ms: np.ndarray
    account_kind: np.ndarray
    account_tier: np.ndarray
    account_state: np.ndarray
    account_preferred: np.ndarray
    account_category: np.ndarray
    account_created_ms: np.ndarray
    product_shop: np.ndarray
    product_launched_ms: np.ndarray
    product_price: np.ndarray

    @classmethod
    def of(cls, pop: Population) -> Catalog:
        po, a, pr = pop.posts, pop.accounts, pop.products
        return cls(po.account, po.kind, po.format, po.created_ms, a.kind, a.tier, a.tier_state, a.preferred,
                   a.category, a.created_ms, pr.shop, pr.launched_ms, pr.price)


class Counters:
    """Per-post and per-product counters kept from the event stream (fan / non-fan split for posts)."""

    FIELDS = ("imp_fan", "imp_nonfan", "click_fan", "click_nonfan", "engage_fan", "engage_nonfan",
              "dwell_fan", "dwell_nonfan")

    def __init__(self, n_posts: int, n_products: int) -> None:
        for f in self.FIELDS:
            setattr(self, f, np.zeros(n_posts))
        self.product_imp = np.zeros(n_products)
        self.product_click = np.zeros(n_products)
        self.product_buy = np.zeros(n_products)

    def engagements(self) -> np.ndarray:
        return self.engage_fan + self.engage_nonfan  # type: ignore[attr-defined]

    def copy(self) -> Counters:
        c = Counters(0, 0)
        c.__dict__ = {k: v.copy() for k, v in self.__dict__.items()}
        return c


@dataclass
class Observation:
    """Everything a policy may read at the current hour."""

    now_ms: int
    catalog: Catalog
    followers: np.ndarray
    counters: Counters
    level: np.ndarray
    last_events: Events
    is_fan: Callable[[np.ndarray, np.ndarray], np.ndarray] = field(default=lambda u, a: np.zeros(len(u), bool))
    """Fan status of (user, account) pairs now: observable from the follows table."""


class Policy(Protocol):
    """A ranking and amplification policy that can run inside the world."""

    name: str

    def score(self, batch: Batch, obs: Observation) -> np.ndarray:
        """One score per candidate row; higher is shown first."""
        ...

    def amplify(self, batch: AmplifyBatch, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        """Target level and priority for each live post; capacity goes to the highest priority."""
        ...
