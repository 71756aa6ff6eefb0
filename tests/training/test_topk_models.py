"""Top-k generators and the list maker: known answers on matrices small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.adapters import base
from training.embeddings_interactions import Interactions
from training.topk import (
    EASE,
    MODEL_NAMES,
    FactorModel,
    ItemKNN,
    Popularity,
    clone,
    make_model,
    top_k,
)
from training.topk.base import NotFittedError
from training.topk.side import contract_side


def pairs(rows: list[tuple[int, int]], times: list[int] | None = None) -> Interactions:
    frame = pd.DataFrame(rows, columns=["user", "item"]).assign(weight=1.0)
    if times is not None:
        frame["time"] = times
    return Interactions.from_pairs(frame)


@pytest.fixture
def small() -> Interactions:
    # items 10 (3 users), 20 (2 users), 30 (1 user), 40 (1 user); user 4 has seen only item 40
    return pairs([(1, 10), (1, 20), (2, 10), (2, 30), (3, 10), (3, 20), (4, 40)])


def test_popularity_ranks_by_users_and_top_k_removes_seen_items(small: Interactions) -> None:
    model = Popularity().fit(small)
    recs = top_k(model, small, k=2)
    assert recs.columns.tolist() == ["user", "item", "rank", "score"]
    by_user = recs.groupby("user")["item"].apply(list).to_dict()
    assert by_user == {1: [30, 40], 2: [20, 40], 3: [30, 40], 4: [10, 20]}  # ties: lower id first
    assert recs.groupby("user")["rank"].apply(list).to_dict()[4] == [1, 2]
    one = top_k(model, small, k=10, user_rows=np.array([3]))
    assert one["item"].tolist() == [10, 20, 30] and one["user"].unique().tolist() == [4]


def test_ease_matches_its_closed_form(small: Interactions) -> None:
    x = small.binary().toarray()
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(4))
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    model = EASE(l2=2.0).fit(small)
    np.testing.assert_allclose(model.score(np.arange(4)), x @ b)
    with pytest.raises(ValueError, match="l2"):
        EASE(l2=0.0).fit(small)


def test_ease_keeps_only_the_most_popular_columns_when_asked(small: Interactions) -> None:
    scores = EASE(l2=2.0, max_items=2).fit(small).score(np.arange(4))
    assert np.isneginf(scores[:, 2:]).all() and np.isfinite(scores[:, :2]).all()  # items 30, 40 dropped
    recs = top_k(EASE(l2=2.0, max_items=2).fit(small), small, k=5)
    assert set(recs["item"]) <= {10, 20}  # an item EASE cannot score is never listed


def test_itemknn_is_cosine_of_cooccurrence(small: Interactions) -> None:
    model = ItemKNN(shrink=0.0).fit(small)
    sim = model.similarity_.toarray()
    assert sim[0, 1] == pytest.approx(2 / np.sqrt(3 * 2))  # items 10 and 20 share users 1 and 3
    assert sim[0, 0] == 0 and sim[3].sum() == 0  # no self-similarity; item 40 shares no user
    np.testing.assert_allclose(model.score(np.array([3])), [[0, 0, 0, 0]])


def test_sequential_itemknn_counts_only_nearby_interactions() -> None:
    # user 1: 10, 20, 30 in that order; user 2: 30, 40. With window 1, 10 and 30 are two steps apart.
    world = pairs([(1, 10), (1, 20), (1, 30), (2, 30), (2, 40)], times=[1, 2, 3, 1, 2])
    near = ItemKNN(window=1, shrink=0.0).fit(world).similarity_.toarray()
    assert near[0, 2] == 0 and near[0, 1] > 0 and near[2, 3] > 0
    wide = ItemKNN(window=2, shrink=0.0).fit(world).similarity_.toarray()
    assert wide[0, 2] == pytest.approx(0.5 / np.sqrt(1 * 2))  # 1/distance
    with pytest.raises(ValueError, match="times"):
        ItemKNN(window=2).fit(pairs([(1, 10), (1, 20)]))


def test_factor_models_score_with_their_embeddings(small: Interactions) -> None:
    model = FactorModel(kind="als", params={"factors": 2}, num_threads=1).fit(small)
    emb = model.embeddings_
    np.testing.assert_allclose(model.score(np.array([1])), emb.user_factors_[[1]] @ emb.item_factors_.T, rtol=1e-6)
    with pytest.raises(ValueError, match="kind"):
        FactorModel(kind="svd").fit(small)


def test_every_named_model_follows_the_contract(small: Interactions) -> None:
    for name in MODEL_NAMES:
        model = make_model(name, random_state=0, n_jobs=1)
        with pytest.raises(NotFittedError):
            model.score(np.arange(2))
        again = clone(model)
        assert type(again) is type(model) and again.get_params() == model.get_params()
        assert not hasattr(again, "item_ids_")
    with pytest.raises(ValueError, match="unknown top-k model"):
        make_model("slim")


def test_top_k_refuses_a_matrix_the_model_was_not_fitted_on(small: Interactions) -> None:
    model = Popularity().fit(small)
    other = pairs([(1, 10), (1, 99)])
    with pytest.raises(ValueError, match="not the items"):
        top_k(model, other)
    with pytest.raises(ValueError, match="k"):
        top_k(model, small, k=0)


def test_contract_side_describes_the_items_of_each_target() -> None:
    tables = {
        "accounts": base.accounts(np.array([1, 2]), "shop", 0, category=np.array([7, 8])),
        "posts": base.posts(np.array([10, 11]), np.array([1, 2]), "info", "video", "public", np.array([0, 0])),
        "products": base.products(np.array([5]), np.array([2]), np.array([3]), 9.5, 0),
    }
    posts = contract_side(tables, "post")
    assert posts.item_matrix(np.array([11, 99])).shape == (2, 4)
    assert posts.items.loc[11, "account_category"] == 8 and np.isnan(posts.item_matrix(np.array([99]))).all()
    assert posts.group_matrix("account", np.array([10, 11])).toarray().tolist() == [[1, 0], [0, 1]]
    products = contract_side(tables, "product")
    assert products.items.loc[5].tolist() == [3.0, 9.5] and "shop" in products.groups
    assert contract_side(tables, "account").items.loc[2, "category"] == 8
    with pytest.raises(ValueError, match="target"):
        contract_side(tables, "video")
