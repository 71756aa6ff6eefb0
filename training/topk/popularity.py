"""Most-popular baseline: every user gets the items with the most interacting users."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from training.embeddings_interactions import Interactions
from training.topk.base import TopKModel
from training.topk.side import SideFeatures


class Popularity(TopKModel):
    """Scores an item by its number of users in the training matrix (the same list for everyone)."""

    name: ClassVar[str] = "popularity"

    def __init__(self) -> None:
        pass

    def _fit(self, interactions: Interactions, side: SideFeatures | None) -> None:
        self.item_counts_ = np.diff(interactions.matrix.tocsc().indptr).astype(np.float64)

    def _score(self, user_rows: np.ndarray) -> np.ndarray:
        return np.tile(self.item_counts_, (len(user_rows), 1))
