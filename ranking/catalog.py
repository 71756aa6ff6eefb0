"""The catalogue as the ranking layer queries it: built once from contract tables, asked in bulk.

Every look-up takes arrays (one entry per request or per candidate) and answers with arrays, through
sorted arrays and ``searchsorted`` (:class:`~ranking.windows.WindowIndex`); nothing loops over requests.
Time windows are half-open, ``[lo, hi)``: "posts of the last 72 hours at ``now``" are those created in
``[now - 72 h, now)``, so nothing published at or after the request time is ever a candidate.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa

from features.ids import IdIndex
from features.storage import read_table
from ranking.catalog_tables import Accounts, Follows, Posts, Products, tables_from_arrow
from ranking.frame import POST, PRODUCT, PUBLIC, CandidateFrame
from ranking.windows import WindowIndex

_EARLIEST = np.iinfo(np.int64).min


def lookup(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Position of each id in ``sorted_ids``, or -1 where it is absent."""
    ids = np.asarray(ids, dtype=np.int64)
    pos = np.searchsorted(sorted_ids, ids)
    hit = pos < len(sorted_ids)
    hit[hit] = sorted_ids[pos[hit]] == ids[hit]
    return np.where(hit, pos, -1)


def _order(ids: np.ndarray) -> np.ndarray | None:
    """The stable order that sorts ``ids``, or None when they are in order already (the usual export)."""
    return None if bool((ids[1:] >= ids[:-1]).all()) else np.argsort(ids, kind="stable")


def _take(column: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    """``column`` in ``order``; itself (no copy) when it is in order already."""
    return column if order is None else column[order]


class CatalogIndex:
    """Accounts, follows, posts and products, indexed for the questions candidate generation asks."""

    def __init__(self, accounts: Accounts, follows: Follows, posts: Posts, products: Products) -> None:
        order = np.argsort(accounts.account_id, kind="stable")
        self._account_ids = accounts.account_id[order]
        self._account_rows = IdIndex(self._account_ids)
        self._account_kind, self._account_tier = accounts.kind[order], accounts.tier[order]
        self._account_preferred, self._account_category = accounts.preferred[order], accounts.category[order]
        self._follows = follows
        self._follows_by_user = WindowIndex(follows.user_id, follows.followed_ms)
        self._follows_by_pair = WindowIndex((follows.user_id, follows.account_id), follows.followed_ms)
        order = _order(posts.post_id)
        self._posts = Posts(*(_take(getattr(posts, n), order) for n in ("post_id", "account_id", "created_ms",
                                                                          "visibility")))
        self._post_rows = IdIndex(self._posts.post_id)
        self._posts_by_account = WindowIndex(self._posts.account_id, self._posts.created_ms)
        order = _order(products.product_id)
        self._products = Products(
            *(_take(getattr(products, n), order) for n in ("product_id", "shop_id", "category", "launched_ms")))
        self._product_rows = IdIndex(self._products.product_id)
        self._products_by_shop = WindowIndex(self._products.shop_id, self._products.launched_ms)

    @classmethod
    def from_tables(cls, tables: Mapping[str, pa.Table]) -> CatalogIndex:
        """Index the validated contract tables ``accounts``, ``follows``, ``posts`` and ``products``."""
        return cls(*tables_from_arrow(tables))

    @classmethod
    def from_dir(cls, data_dir: Path) -> CatalogIndex:
        """Index the contract tables stored in ``data_dir`` (see :mod:`features.storage`)."""
        names = ("accounts", "follows", "posts", "products")
        return cls.from_tables({name: read_table(data_dir, name) for name in names})

    # ---- follow graph ------------------------------------------------------------------------------
    def followed(self, users: np.ndarray, at_ms: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """``(query, account_id)``: the accounts each ``users[i]`` follows at ``at_ms[i]``, each once.

        A follow counts from ``followed_ms`` (inclusive) until ``unfollowed_ms`` (exclusive).
        """
        users = np.asarray(users, dtype=np.int64)
        at = np.broadcast_to(np.asarray(at_ms, dtype=np.int64), users.shape)
        query, rows = self._follows_by_user.rows(users, _EARLIEST, at + 1)
        live = self._follows.unfollowed_ms[rows] > at[query]
        query, account = query[live], self._follows.account_id[rows[live]]
        # Overlapping follow rows of one pair would list the account twice: keep one, accounts ascending.
        order = np.lexsort((account, query))
        query, account = query[order], account[order]
        first = np.ones(len(query), dtype=bool)
        first[1:] = (query[1:] != query[:-1]) | (account[1:] != account[:-1])
        return query[first], account[first]

    def is_fan(self, users: np.ndarray, accounts: np.ndarray, at_ms: np.ndarray | int) -> np.ndarray:
        """True where ``users[i]`` followed ``accounts[i]`` at ``at_ms[i]`` (any of its follow intervals)."""
        users = np.asarray(users, dtype=np.int64)
        at = np.broadcast_to(np.asarray(at_ms, dtype=np.int64), users.shape)
        query, rows = self._follows_by_pair.rows((users, accounts), _EARLIEST, at + 1)
        live = self._follows.unfollowed_ms[rows] > at[query]
        return np.bincount(query[live], minlength=len(users)) > 0

    # ---- items in a time window --------------------------------------------------------------------
    def posts_in_window(self, accounts: np.ndarray, lo_ms: np.ndarray | int,
                        hi_ms: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """``(query, post_row)``: posts of ``accounts[i]`` created in ``[lo_ms[i], hi_ms[i])``."""
        return self._posts_by_account.rows(np.asarray(accounts, dtype=np.int64), lo_ms, hi_ms)

    def products_in_window(self, shops: np.ndarray, lo_ms: np.ndarray | int,
                           hi_ms: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """``(query, product_row)``: products of ``shops[i]`` launched in ``[lo_ms[i], hi_ms[i])``."""
        return self._products_by_shop.rows(np.asarray(shops, dtype=np.int64), lo_ms, hi_ms)

    def post_rows(self, post_ids: np.ndarray) -> np.ndarray:
        """Row of each post id, -1 for an unknown id."""
        return self._post_rows.rows(post_ids)

    def product_rows(self, product_ids: np.ndarray) -> np.ndarray:
        """Row of each product id, -1 for an unknown id."""
        return self._product_rows.rows(product_ids)

    # ---- account attributes (unknown accounts: -1 codes, not preferred) ----------------------------
    def _account(self, column: np.ndarray, ids: np.ndarray, missing: int | bool) -> np.ndarray:
        rows = self._account_rows.rows(ids)
        return np.where(rows >= 0, column[np.maximum(rows, 0)] if len(column) else missing, missing)

    def tier(self, account_ids: np.ndarray) -> np.ndarray:
        """Contract ``tier`` code of each account (-1 if unknown)."""
        return self._account(self._account_tier, account_ids, -1).astype(np.int8)

    def kind(self, account_ids: np.ndarray) -> np.ndarray:
        """Contract ``account_kind`` code of each account (-1 if unknown)."""
        return self._account(self._account_kind, account_ids, -1).astype(np.int8)

    def preferred(self, account_ids: np.ndarray) -> np.ndarray:
        """Whether each account is a certified preferred shop (优选好店)."""
        return self._account(self._account_preferred, account_ids, False).astype(bool)

    def category(self, account_ids: np.ndarray) -> np.ndarray:
        """Main category of each account (-1 if unknown)."""
        return self._account(self._account_category, account_ids, -1).astype(np.int32)

    # ---- hydration into candidates -----------------------------------------------------------------
    def post_candidates(self, request: np.ndarray, post_rows: np.ndarray) -> CandidateFrame:
        """Candidates for posts at ``post_rows`` (rows from this index), one per ``request`` entry.

        A post's category is its account's main category (posts carry none in the contract).
        """
        p, rows = self._posts, np.asarray(post_rows, dtype=np.int64)
        author = p.account_id[rows]
        return CandidateFrame(request=request, item_id=p.post_id[rows], item_type=np.full(len(rows), POST),
                              author_id=author, category=self.category(author), created_ms=p.created_ms[rows],
                              visibility=p.visibility[rows], score=np.zeros(len(rows)))

    def product_candidates(self, request: np.ndarray, product_rows: np.ndarray) -> CandidateFrame:
        """Candidates for products at ``product_rows``; a product is public and authored by its shop."""
        p, rows = self._products, np.asarray(product_rows, dtype=np.int64)
        return CandidateFrame(request=request, item_id=p.product_id[rows], item_type=np.full(len(rows), PRODUCT),
                              author_id=p.shop_id[rows], category=p.category[rows],
                              created_ms=p.launched_ms[rows], visibility=np.full(len(rows), PUBLIC),
                              score=np.zeros(len(rows)))
