"""Discovery candidates: recent public items of the accounts nearest a user's vector, never followed ones."""

from __future__ import annotations

import numpy as np

from ranking.affinity import Affinity
from ranking.base import RankContext
from ranking.sources.similar_accounts import REASON, SimilarAccounts
from tests.ranking.contract import SourceContract
from tests.ranking.worlds import FAN, NEWFAN, NOBODY, requests, tiny_catalog

# Two-dimensional tastes: NOBODY leans to accounts 2 then 4; FAN to 1 (followed) then 5.
AFFINITY = Affinity(np.array([FAN, NOBODY]), np.array([[1.0, 0.0], [0.0, 1.0]]),
                    np.array([1, 2, 3, 4, 5]), np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, 0.8], [0.9, 0.1]]))


def _source(item_type: str = "post", accounts: int = 2, limit: int = 50) -> SimilarAccounts:
    return SimilarAccounts(index=AFFINITY.account_index(), affinity=AFFINITY, item_type=item_type,  # type: ignore[arg-type]
                           accounts=accounts, window_hours=72.0 if item_type == "post" else 7 * 24.0, limit=limit)


class TestSimilarAccountsContract(SourceContract):
    def make(self) -> SimilarAccounts:  # the contract's NOBODY must get nothing: here it has no vector
        affinity = Affinity(np.array([FAN, NEWFAN]), np.array([[0.0, 1.0], [1.0, 0.0]]), AFFINITY.item_ids,
                            AFFINITY.item_factors)
        return SimilarAccounts(index=affinity.account_index(), affinity=affinity, accounts=3)


def _by_request(item_type: str, **kw: int) -> list[set[int]]:
    frame = _source(item_type, **kw).fetch(requests([FAN, NOBODY, NEWFAN]), RankContext(catalog=tiny_catalog()))
    assert frame.is_grouped() and bool(frame.has_reason(REASON).all())
    return [set(frame.item_id[frame.request == i].tolist()) for i in range(3)]


def test_nearest_accounts_recent_public_posts_and_never_a_followed_account() -> None:
    # NOBODY: accounts 2 and 4, public posts only (21 and 41 are fans-only). FAN: account 1 is followed (the
    # follow source has it), so only 5's post. NEWFAN has no vector.
    assert _by_request("post") == [{51}, {22, 42}, set()]
    assert _by_request("post", accounts=1) == [set(), {22}, set()]


def test_new_products_of_the_nearest_shops() -> None:
    assert _by_request("product") == [set(), {104, 105}, set()]
    assert _by_request("product", limit=1) == [set(), {104}, set()]  # the newest first


def test_the_index_is_saved_in_faiss_format_beside_the_factors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    AFFINITY.save(tmp_path)
    index = Affinity.load_index(tmp_path)
    assert index is not None
    _, ids = index.search(np.array([[0.0, 1.0]], np.float32), 2)
    assert ids.tolist() == [[2, 4]]
