"""Deterministic bucketing of users into layered experiments.

Each layer splits all users into arms by shares; a user's arm in a layer is a pure function of the user id
and the layer's name (a 64-bit mix of both, read as a number in [0, 1)), so every worker, every replay and
the analysis agree without storing assignments. Different layer names give independent hashes: a user's
arm in one layer says nothing about their arm in another, so layers can run side by side (one experiment
per layer) and each is analysed as if it ran alone.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


@functools.cache
def _salt_key(salt: str) -> np.uint64:
    """64 bits of the salt (hashed once per salt: /rank assigns arms on every request)."""
    return np.uint64(int.from_bytes(hashlib.blake2b(salt.encode(), digest_size=8).digest(), "little"))


def unit_hash(user_ids: np.ndarray, salt: str) -> np.ndarray:
    """A number in [0, 1) per user, uniform over users, fixed by ``salt`` (splitmix64 of id xor salt)."""
    key = _salt_key(salt)
    with np.errstate(over="ignore"):
        z = np.asarray(user_ids, np.int64).astype(np.uint64) ^ key
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@dataclass(frozen=True)
class Layer:
    """One experiment: arm names and their shares of users (shares sum to 1)."""

    name: str
    arms: tuple[str, ...]
    shares: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.arms) != len(self.shares) or not self.arms:
            raise ValueError(f"layer {self.name}: one share per arm, at least one arm")
        if any(s <= 0 for s in self.shares) or abs(sum(self.shares) - 1.0) > 1e-9:
            raise ValueError(f"layer {self.name}: arm shares must be positive and sum to 1, got {self.shares}")

    def assign(self, user_ids: np.ndarray) -> np.ndarray:
        """The arm index of each user."""
        edges = np.cumsum(self.shares)[:-1]
        return np.searchsorted(edges, unit_hash(user_ids, f"layer:{self.name}"), side="right")

    def arm_of(self, user_id: int) -> str:
        return self.arms[int(self.assign(np.array([user_id]))[0])]
