"""User × account embedding similarity at ranking time, from the factors a ranker was trained with.

Training writes ``affinity.npz`` (``allow_pickle=False``) next to the heads; ranking reads it here so the
service and the simulated world compute exactly the feature the model saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILE = "affinity.npz"


@dataclass(frozen=True)
class Affinity:
    """Sorted user and account ids with their factor rows."""

    user_ids: np.ndarray
    user_factors: np.ndarray
    item_ids: np.ndarray
    item_factors: np.ndarray

    def similarity(self, users: np.ndarray, accounts: np.ndarray) -> np.ndarray:
        """Dot product of each (user, account) pair's factors; 0 where either is unknown."""
        u = np.searchsorted(self.user_ids, users)
        a = np.searchsorted(self.item_ids, accounts)
        u_ok = (u < len(self.user_ids)) & (self.user_ids[np.minimum(u, len(self.user_ids) - 1)] == users)
        a_ok = (a < len(self.item_ids)) & (self.item_ids[np.minimum(a, len(self.item_ids) - 1)] == accounts)
        ok = u_ok & a_ok
        out = np.zeros(len(users))
        if ok.any():
            out[ok] = np.einsum("ij,ij->i", self.user_factors[u[ok]], self.item_factors[a[ok]])
        return out

    def save(self, folder: Path) -> Path:
        path = folder / FILE
        np.savez(path, user_ids=self.user_ids, user_factors=self.user_factors, item_ids=self.item_ids,
                 item_factors=self.item_factors)
        return path

    @classmethod
    def load(cls, folder: Path) -> Affinity | None:
        """The model's affinity factors, or None when it was trained without them."""
        path = folder / FILE
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as z:
            return cls(z["user_ids"], z["user_factors"], z["item_ids"], z["item_factors"])
