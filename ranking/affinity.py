"""User × account embedding similarity at ranking time, from the factors a ranker was trained with.

Training writes ``affinity.npz`` (``allow_pickle=False``) next to the heads; ranking reads it here so the
service and the simulated world compute exactly the feature the model saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from features.ids import IdIndex
from ranking.ann import ItemIndex

FILE = "affinity.npz"
INDEX_FILE = "accounts.faiss"  # the account vectors' faiss index, in faiss's own format


@dataclass(frozen=True)
class Affinity:
    """Sorted user and account ids with their factor rows."""

    user_ids: np.ndarray
    user_factors: np.ndarray
    item_ids: np.ndarray
    item_factors: np.ndarray

    def user_rows(self, users: np.ndarray) -> np.ndarray:
        """Row of each user in ``user_factors``, -1 for a user without a vector."""
        return self._users.rows(users)

    @cached_property
    def _users(self) -> IdIndex:
        return IdIndex(self.user_ids)

    @cached_property
    def _items(self) -> IdIndex:
        return IdIndex(self.item_ids)

    def account_index(self) -> ItemIndex:
        """A faiss index over the account vectors, searched by a user's vector (inner product)."""
        return ItemIndex.build(np.asarray(self.item_factors, np.float32), np.asarray(self.item_ids, np.int64))

    def similarity(self, users: np.ndarray, accounts: np.ndarray) -> np.ndarray:
        """Dot product of each (user, account) pair's factors; 0 where either is unknown."""
        u, a = self._users.rows(users), self._items.rows(accounts)
        ok = (u >= 0) & (a >= 0)
        out = np.zeros(len(ok))
        if ok.all():
            out = np.einsum("ij,ij->i", self.user_factors[u], self.item_factors[a])
        elif ok.any():
            out[ok] = np.einsum("ij,ij->i", self.user_factors[u[ok]], self.item_factors[a[ok]])
        return out

    def save(self, folder: Path) -> Path:
        """Write the factors (``.npz``, no pickle) and the account index (faiss format) into ``folder``."""
        path = folder / FILE
        np.savez(path, user_ids=self.user_ids, user_factors=self.user_factors, item_ids=self.item_ids,
                 item_factors=self.item_factors)
        if len(self.item_ids):
            self.account_index().save(folder / INDEX_FILE)
        return path

    @staticmethod
    def load_index(folder: Path) -> ItemIndex | None:
        """The account index saved beside the factors, or None for a model saved without one."""
        path = folder / INDEX_FILE
        return ItemIndex.load(path) if path.exists() else None

    @classmethod
    def load(cls, folder: Path) -> Affinity | None:
        """The model's affinity factors, or None when it was trained without them."""
        path = folder / FILE
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as z:
            return cls(z["user_ids"], z["user_factors"], z["item_ids"], z["item_factors"])
