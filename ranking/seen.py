"""What each user was already shown: the store behind the already-seen and fatigue filters."""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np

from ranking.windows import WindowIndex


class SeenStore(Protocol):
    """Impressions served to users, asked in bulk with one time window per query row.

    Windows are half-open, ``[since_ms, until_ms)``: asking with ``until_ms = now`` counts earlier sessions
    only, never the page being ranked.
    """

    def seen(self, user_id: np.ndarray, item_type: np.ndarray, item_id: np.ndarray,
             since_ms: np.ndarray, until_ms: np.ndarray) -> np.ndarray:
        """True where the item was shown to the user in the window."""
        ...

    def author_impressions(self, user_id: np.ndarray, author_id: np.ndarray,
                           since_ms: np.ndarray, until_ms: np.ndarray) -> np.ndarray:
        """How many impressions of the author's items the user had in the window."""
        ...


class InMemorySeenStore:
    """A :class:`SeenStore` in process memory (tests, the simulated world, a single service replica).

    Impressions are appended with :meth:`record`. Queries read two levels: a large base index, rebuilt only
    when the recent level grows past ``merge_share`` of it, and a small index of the recent records, rebuilt
    lazily on the next query. So a live service that records a few impressions between requests pays for
    re-indexing the recent records, not the whole history (counts of the two levels add up).
    """

    def __init__(self, merge_share: float = 0.1, merge_floor: int = 50_000) -> None:
        self.merge_share, self.merge_floor = merge_share, merge_floor
        self._base: list[tuple[np.ndarray, ...]] = []
        self._parts: list[tuple[np.ndarray, ...]] = []
        self._base_index: tuple[WindowIndex, WindowIndex] | None = None
        self._recent_index: tuple[WindowIndex, WindowIndex] | None = None
        self._lock = threading.Lock()  # the service records from the events thread while requests read

    def record(self, user_id: np.ndarray, item_type: np.ndarray, item_id: np.ndarray, author_id: np.ndarray,
               shown_ms: np.ndarray | int) -> None:
        """Remember that each item (by its author) was shown to the user at ``shown_ms``."""
        user = np.asarray(user_id, dtype=np.int64)
        cols = (user, np.asarray(item_type, np.int64), np.asarray(item_id, np.int64),
                np.asarray(author_id, np.int64), np.broadcast_to(np.asarray(shown_ms, np.int64), user.shape))
        if len({len(c) for c in cols}) > 1:
            raise ValueError("record: every argument needs one entry per impression")
        with self._lock:
            self._parts.append(cols)
            self._recent_index = None
            recent, base = sum(len(p[0]) for p in self._parts), sum(len(p[0]) for p in self._base)
            if recent > max(self.merge_floor, self.merge_share * base):
                self._base += self._parts
                self._parts, self._base_index = [], None

    def __len__(self) -> int:
        return sum(len(p[0]) for p in self._base) + sum(len(p[0]) for p in self._parts)

    @staticmethod
    def _build(parts: list[tuple[np.ndarray, ...]]) -> tuple[WindowIndex, WindowIndex]:
        user, itype, item, author, shown = (
            np.concatenate([p[i] for p in parts]) if parts else np.zeros(0, np.int64) for i in range(5))
        return WindowIndex((user, itype, item), shown), WindowIndex((user, author), shown)

    def _indices(self) -> tuple[tuple[WindowIndex, WindowIndex], ...]:
        """The non-empty levels (an empty one counts nothing, and asking it costs a request its look-ups)."""
        with self._lock:
            if self._base_index is None:
                self._base_index = self._build(self._base)
            if self._recent_index is None:
                self._recent_index = self._build(self._parts)
            return tuple(level for level in (self._base_index, self._recent_index) if len(level[0]))

    def seen(self, user_id: np.ndarray, item_type: np.ndarray, item_id: np.ndarray,
             since_ms: np.ndarray, until_ms: np.ndarray) -> np.ndarray:
        """True where the item was shown to the user in ``[since_ms, until_ms)``."""
        counts = np.zeros(len(user_id), np.int64)
        for items, _ in self._indices():
            counts += items.count((user_id, item_type, item_id), since_ms, until_ms)
        return counts > 0

    def author_impressions(self, user_id: np.ndarray, author_id: np.ndarray,
                           since_ms: np.ndarray, until_ms: np.ndarray) -> np.ndarray:
        """Impressions of the author's items shown to the user in ``[since_ms, until_ms)``."""
        counts = np.zeros(len(user_id), np.int64)
        for _, authors in self._indices():
            counts += authors.count((user_id, author_id), since_ms, until_ms)
        return counts
