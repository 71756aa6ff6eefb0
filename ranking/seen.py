"""What each user was already shown: the store behind the already-seen and fatigue filters."""

from __future__ import annotations

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

    Impressions are appended with :meth:`record`; the indices are rebuilt lazily on the next query.
    """

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, ...]] = []
        self._items: WindowIndex | None = None
        self._authors: WindowIndex | None = None

    def record(self, user_id: np.ndarray, item_type: np.ndarray, item_id: np.ndarray, author_id: np.ndarray,
               shown_ms: np.ndarray | int) -> None:
        """Remember that each item (by its author) was shown to the user at ``shown_ms``."""
        user = np.asarray(user_id, dtype=np.int64)
        cols = (user, np.asarray(item_type, np.int64), np.asarray(item_id, np.int64),
                np.asarray(author_id, np.int64), np.broadcast_to(np.asarray(shown_ms, np.int64), user.shape))
        if len({len(c) for c in cols}) > 1:
            raise ValueError("record: every argument needs one entry per impression")
        self._parts.append(cols)
        self._items = self._authors = None

    def __len__(self) -> int:
        return sum(len(p[0]) for p in self._parts)

    def _index(self) -> tuple[WindowIndex, WindowIndex]:
        if self._items is None or self._authors is None:
            user, itype, item, author, shown = (
                np.concatenate([p[i] for p in self._parts]) if self._parts else np.zeros(0, np.int64)
                for i in range(5))
            self._items = WindowIndex((user, itype, item), shown)
            self._authors = WindowIndex((user, author), shown)
        return self._items, self._authors

    def seen(self, user_id: np.ndarray, item_type: np.ndarray, item_id: np.ndarray,
             since_ms: np.ndarray, until_ms: np.ndarray) -> np.ndarray:
        """True where the item was shown to the user in ``[since_ms, until_ms)``."""
        items, _ = self._index()
        return items.count((user_id, item_type, item_id), since_ms, until_ms) > 0

    def author_impressions(self, user_id: np.ndarray, author_id: np.ndarray,
                           since_ms: np.ndarray, until_ms: np.ndarray) -> np.ndarray:
        """Impressions of the author's items shown to the user in ``[since_ms, until_ms)``."""
        _, authors = self._index()
        return authors.count((user_id, author_id), since_ms, until_ms)
