"""User × target interaction matrices built from contract events, with actions weighted by kind.

The weights of every action are declared once, in :data:`ACTION_WEIGHTS`; an action that is not listed there
(``impression``, ``unfollow``) carries no preference and is dropped. One ``(user, target)`` pair is one
interaction whose weight is the sum of its events' weights, whose time is the first weighted event's time
and whose order key is the smallest event id of those events (the file order for adapters that number rows).

Targets are items (``post`` or ``product`` events) or accounts: for ``target="account"`` events on accounts
count directly, events on posts count for the post's account and events on products for the product's shop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from features.contract import ENUMS, enum_codes

#: Preference carried by one event of each action (declared once; impressions and unfollows carry none).
ACTION_WEIGHTS: dict[str, float] = {
    "click": 1.0, "dwell": 0.5, "like": 2.0, "comment": 3.0, "share": 4.0, "follow": 5.0, "cart": 4.0,
    "purchase": 8.0,
}

Target = Literal["post", "product", "account"]
PAIR_COLUMNS = ("user", "item", "weight", "time", "first_event")


def _weight_lookup(weights: dict[str, float]) -> np.ndarray:
    unknown = sorted(set(weights) - set(ENUMS["action"]))
    if unknown:
        raise ValueError(f"weights: unknown action(s) {', '.join(unknown)}; known: {', '.join(ENUMS['action'])}")
    return np.array([float(weights.get(a, 0.0)) for a in ENUMS["action"]], dtype=np.float64)


def _owner_map(table: pa.Table | None, key: str, owner: str, what: str) -> pd.Series:
    if table is None:
        raise ValueError(f"{what}: needed to map events on {what} to their accounts (target='account')")
    return pd.Series(table.column(owner).to_numpy(), index=table.column(key).to_numpy())


def interaction_pairs(
    events: pa.Table, *, target: Target = "post", posts: pa.Table | None = None,
    products: pa.Table | None = None, weights: dict[str, float] | None = None,
) -> pd.DataFrame:
    """One row per ``(user, item)`` pair with a positive summed weight, sorted by ``first_event``.

    Parameters
    ----------
    events : pyarrow.Table
        Contract ``events`` (needs ``event_id``, ``user_id``, ``target_type``, ``target_id``, ``action``,
        ``event_time``).
    target : {"post", "product", "account"}
        What the columns of the matrix are; see the module docstring for ``"account"``.
    posts, products : pyarrow.Table, optional
        Contract tables used to map post and product events to accounts (``target="account"`` only).
    weights : dict, optional
        Action → weight; defaults to :data:`ACTION_WEIGHTS`.

    Returns
    -------
    pandas.DataFrame
        Columns ``user``, ``item`` (int64 ids as in the data), ``weight`` (float64 > 0), ``time`` (epoch ms
        of the first weighted event), ``first_event`` (smallest event id of the pair).
    """
    if target not in ("post", "product", "account"):
        raise ValueError(f"target: expected 'post', 'product' or 'account', got {target!r}")
    lookup = _weight_lookup(ACTION_WEIGHTS if weights is None else weights)
    w = lookup[enum_codes(events.column("action"), "action").astype(np.int64)]
    ttype = enum_codes(events.column("target_type"), "target_type")
    frame = pd.DataFrame({
        "user": events.column("user_id").to_numpy(), "item": events.column("target_id").to_numpy(),
        "weight": w, "time": events.column("event_time").cast(pa.int64()).to_numpy(),
        "first_event": events.column("event_id").to_numpy(), "ttype": ttype,
    })
    frame = frame[frame["weight"] > 0]
    if target == "account":
        frame = _to_accounts(frame, posts, products)
    else:
        frame = frame[frame["ttype"] == ENUMS["target_type"].index(target)]
    pairs = frame.groupby(["user", "item"], sort=False).agg(
        weight=("weight", "sum"), time=("time", "min"), first_event=("first_event", "min")).reset_index()
    pairs = pairs.astype({"user": np.int64, "item": np.int64, "time": np.int64, "first_event": np.int64})
    return pairs.sort_values("first_event", kind="stable").reset_index(drop=True)[list(PAIR_COLUMNS)]


def _to_accounts(frame: pd.DataFrame, posts: pa.Table | None, products: pa.Table | None) -> pd.DataFrame:
    """Events on posts and products re-targeted at the publishing account or the selling shop."""
    frame = frame.copy()
    on_post = frame["ttype"] == ENUMS["target_type"].index("post")
    on_product = frame["ttype"] == ENUMS["target_type"].index("product")
    if on_post.any():
        frame.loc[on_post, "item"] = frame.loc[on_post, "item"].map(
            _owner_map(posts, "post_id", "account_id", "posts")).to_numpy()
    if on_product.any():
        frame.loc[on_product, "item"] = frame.loc[on_product, "item"].map(
            _owner_map(products, "product_id", "shop_id", "products")).to_numpy()
    return frame.dropna(subset=["item"])


@dataclass(frozen=True)
class Interactions:
    """A users × items matrix of summed action weights, with the ids of its rows and columns.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        ``(len(user_ids), len(item_ids))`` float32 weights; an explicit entry means an interaction.
    user_ids, item_ids : np.ndarray of int64
        Sorted distinct ids: row ``r`` is user ``user_ids[r]``, column ``c`` item ``item_ids[c]``.
    times : scipy.sparse.csr_matrix or None
        Same sparsity as ``matrix``: epoch milliseconds of each interaction's first event (float64).
    """

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    times: sp.csr_matrix | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.user_ids), len(self.item_ids))

    @classmethod
    def from_pairs(
        cls, pairs: pd.DataFrame, *, user_ids: np.ndarray | None = None, item_ids: np.ndarray | None = None,
    ) -> Interactions:
        """Build from a frame with ``user``, ``item``, ``weight`` (and optionally ``time``) columns.

        ``user_ids``/``item_ids`` fix the rows and columns (sorted); pairs outside them are dropped. By
        default they are the distinct ids of ``pairs``. Repeated pairs are summed (times: the earliest).
        """
        users = np.unique(pairs["user"].to_numpy(np.int64)) if user_ids is None else np.unique(user_ids)
        items = np.unique(pairs["item"].to_numpy(np.int64)) if item_ids is None else np.unique(item_ids)
        rows = np.searchsorted(users, pairs["user"].to_numpy(np.int64))
        cols = np.searchsorted(items, pairs["item"].to_numpy(np.int64))
        keep = (rows < len(users)) & (cols < len(items))
        keep[keep] &= (users[rows[keep]] == pairs["user"].to_numpy(np.int64)[keep]) & (
            items[cols[keep]] == pairs["item"].to_numpy(np.int64)[keep])
        rows, cols = rows[keep], cols[keep]
        weight = pairs["weight"].to_numpy(np.float64)[keep]
        if weight.size and not (weight > 0).all():
            raise ValueError("pairs: every weight must be > 0 (an interaction carries a preference)")
        matrix = sp.csr_matrix((weight, (rows, cols)), shape=(len(users), len(items)), dtype=np.float64)
        matrix.sum_duplicates()
        matrix = matrix.astype(np.float32)
        times = None
        if "time" in pairs.columns:
            times = _min_times(rows, cols, pairs["time"].to_numpy(np.float64)[keep], matrix)
        return cls(matrix=matrix, user_ids=users, item_ids=items, times=times)

    def binary(self) -> sp.csr_matrix:
        """The matrix with every interaction set to 1 (float32)."""
        out = self.matrix.copy()
        out.data[:] = 1.0
        return out


def _min_times(rows: np.ndarray, cols: np.ndarray, times: np.ndarray, like: sp.csr_matrix) -> sp.csr_matrix:
    """A csr matrix with exactly ``like``'s structure holding the earliest time of each stored entry.

    Built from ``like``'s own ``indices``/``indptr`` so that a time of 0 (epoch) stays an explicit entry.
    """
    grouped = pd.DataFrame({"r": rows, "c": cols, "t": times}).groupby(["r", "c"], sort=True)["t"].min()
    # like is canonical (sorted, no duplicates): its entries are in the same (row, col) order as grouped.
    return sp.csr_matrix((grouped.to_numpy(np.float64), like.indices.copy(), like.indptr.copy()), shape=like.shape)
