"""User and item attributes for the re-ranker, keyed by the data's own ids.

:class:`SideFeatures` holds numeric user and item columns (categorical ones as integer codes, named in
``categorical``) and item *groups*: multi-label families such as an item's account or a movie's genres,
from which the re-ranker derives a user's affinity to a candidate's groups. :func:`contract_side` reads
what the data contract carries (a post's account, kind and format; the account's kind and category).
Attributes beyond the contract (MovieLens ages, occupations, genres) come from
:mod:`training.topk.side_movielens`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from features.contract import enum_codes


@dataclass(frozen=True)
class SideFeatures:
    """Attributes of users and items.

    Attributes
    ----------
    users, items : pandas.DataFrame
        Indexed by user / item id; numeric columns (NaN = unknown).
    groups : dict of str to pandas.DataFrame
        Family name → long frame with columns ``item`` and ``label`` (an item may carry several labels).
    categorical : tuple of str
        Names of columns in ``users``/``items`` that are integer codes of categories, not quantities.
    """

    users: pd.DataFrame = field(default_factory=pd.DataFrame)
    items: pd.DataFrame = field(default_factory=pd.DataFrame)
    groups: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    categorical: tuple[str, ...] = ()

    def user_matrix(self, user_ids: np.ndarray) -> np.ndarray:
        """``(len(user_ids), n_user_columns)`` float64 values, NaN for unknown users."""
        return _aligned(self.users, user_ids)

    def item_matrix(self, item_ids: np.ndarray) -> np.ndarray:
        """``(len(item_ids), n_item_columns)`` float64 values, NaN for unknown items."""
        return _aligned(self.items, item_ids)

    def group_matrix(self, family: str, item_ids: np.ndarray) -> sp.csr_matrix:
        """``(len(item_ids), n_labels)`` 0/1 matrix of the items' labels in ``family``."""
        frame = self.groups[family]
        labels, codes = np.unique(frame["label"].to_numpy(), return_inverse=True)
        ids = np.asarray(item_ids, dtype=np.int64)
        order = np.argsort(ids)
        pos = np.searchsorted(ids[order], frame["item"].to_numpy(np.int64))
        pos = np.minimum(pos, len(ids) - 1)
        found = ids[order][pos] == frame["item"].to_numpy(np.int64) if len(ids) else np.zeros(len(frame), bool)
        rows = order[pos[found]]
        out = sp.csr_matrix((np.ones(found.sum()), (rows, codes[found])), shape=(len(ids), len(labels)))
        out.data[:] = 1.0  # a label given twice is still one label
        return out

    def merge(self, other: SideFeatures) -> SideFeatures:
        """Columns and groups of both (``other`` wins on a name clash)."""
        users = _join(self.users, other.users)
        items = _join(self.items, other.items)
        return SideFeatures(users=users, items=items, groups={**self.groups, **other.groups},
                            categorical=tuple(dict.fromkeys(self.categorical + other.categorical)))


def _aligned(frame: pd.DataFrame, ids: np.ndarray) -> np.ndarray:
    if frame.shape[1] == 0:
        return np.zeros((len(ids), 0))
    return frame.reindex(np.asarray(ids, dtype=np.int64)).to_numpy(np.float64, na_value=np.nan)


def _join(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    if left.shape[1] == 0:
        return right
    if right.shape[1] == 0:
        return left
    return left.drop(columns=[c for c in right.columns if c in left.columns]).join(right, how="outer")


def contract_side(tables: Mapping[str, pa.Table], target: str = "post") -> SideFeatures:
    """Attributes the contract carries for the items of ``target`` (users get none: a registration time
    says little about taste).

    * ``post``: the post's kind and format, its account's kind and category; group ``account``.
    * ``product``: category and price; group ``shop``.
    * ``account``: kind and category.
    """
    if target == "post":
        return _post_side(tables)
    if target == "product":
        products = tables.get("products")
        if products is None or products.num_rows == 0:
            return SideFeatures()
        ids = products.column("product_id").to_numpy()
        items = pd.DataFrame({"category": products.column("category").to_numpy().astype(np.float64),
                              "price": products.column("price").to_numpy()}, index=pd.Index(ids, name="item"))
        groups = {"shop": pd.DataFrame({"item": ids, "label": products.column("shop_id").to_numpy()})}
        return SideFeatures(items=items.astype(np.float64), groups=groups, categorical=("category",))
    if target == "account":
        accounts = tables.get("accounts")
        if accounts is None or accounts.num_rows == 0:
            return SideFeatures()
        return SideFeatures(items=_account_frame(accounts, "").astype(np.float64), categorical=("kind", "category"))
    raise ValueError(f"target: expected 'post', 'product' or 'account', got {target!r}")


def _account_frame(accounts: pa.Table, prefix: str) -> pd.DataFrame:
    return pd.DataFrame({
        f"{prefix}kind": enum_codes(accounts.column("kind"), "account_kind"),
        f"{prefix}category": accounts.column("category").to_numpy(),
    }, index=pd.Index(accounts.column("account_id").to_numpy(), name="item"))


def _post_side(tables: Mapping[str, pa.Table]) -> SideFeatures:
    posts = tables.get("posts")
    if posts is None or posts.num_rows == 0:
        return SideFeatures()
    items = pd.DataFrame({
        "post_kind": enum_codes(posts.column("kind"), "post_kind"),
        "post_format": enum_codes(posts.column("format"), "post_format"),
        "account": posts.column("account_id").to_numpy(),
    }, index=pd.Index(posts.column("post_id").to_numpy(), name="item"))
    categorical = ["post_kind", "post_format"]
    accounts = tables.get("accounts")
    if accounts is not None and accounts.num_rows:
        items = items.join(_account_frame(accounts, "account_"), on="account")
        categorical += ["account_kind", "account_category"]
    groups = {"account": pd.DataFrame({"item": items.index.to_numpy(), "label": items["account"].to_numpy()})}
    return SideFeatures(items=items.drop(columns="account").astype(np.float64), groups=groups,
                        categorical=tuple(categorical))
