"""Embeddings (ALS/BPR), interaction matrices from events, and the one known-answer test every model passes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features.adapters import base
from features.contract import code
from training.embeddings import (
    ACTION_WEIGHTS,
    ALSEmbeddings,
    BPREmbeddings,
    EmbeddingModel,
    Interactions,
    NotFittedError,
    interaction_pairs,
    load_embeddings,
    make_embeddings,
)
from training.topk import EASE, CandidateReranker, FactorModel, ItemKNN, UserKNN

BLOCKS, USERS_PER_BLOCK, ITEMS_PER_BLOCK, TAKEN = 3, 12, 10, 7


def block_pairs(seed: int = 3) -> pd.DataFrame:
    """Users of block b interact only with items of block b: each with 7 of its 10 items, in random order.

    User ids are 100 + row and item ids 1000 + column, so ids and positions differ on purpose.
    """
    rng = np.random.default_rng(seed)
    rows, t = [], 0
    for b in range(BLOCKS):
        for u in range(USERS_PER_BLOCK):
            for j in rng.permutation(ITEMS_PER_BLOCK)[:TAKEN]:
                t += 60_000
                rows.append((100 + b * USERS_PER_BLOCK + u, 1000 + b * ITEMS_PER_BLOCK + int(j), 1.0, t))
    return pd.DataFrame(rows, columns=["user", "item", "weight", "time"])


@pytest.fixture(scope="module")
def block_world() -> Interactions:
    return Interactions.from_pairs(block_pairs())


def assert_blocks_rank_first(scores: np.ndarray, world: Interactions) -> None:
    """Every user's unseen items of the own block score above every item of the other blocks."""
    seen = world.matrix.toarray() > 0
    block_of_item = (world.item_ids - 1000) // ITEMS_PER_BLOCK
    block_of_user = (world.user_ids - 100) // USERS_PER_BLOCK
    for r in range(len(world.user_ids)):
        own = (block_of_item == block_of_user[r]) & ~seen[r]
        other = block_of_item != block_of_user[r]
        assert own.any()
        assert scores[r, own].min() > scores[r, other].max(), f"user row {r}: another block outranks its own"


# Every model, embedding or top-k, one shared known-answer test (one thread everywhere: deterministic).
MODELS: dict[str, Callable[[], object]] = {
    "als": lambda: make_embeddings("als", factors=3, regularization=0.1, iterations=20, num_threads=1),
    "bpr": lambda: make_embeddings("bpr", factors=4, learning_rate=0.01, iterations=200, num_threads=1),
    "ease": lambda: EASE(l2=20.0),
    "itemknn": lambda: ItemKNN(),
    "seqknn": lambda: ItemKNN(window=3),
    "userknn": lambda: UserKNN(neighbours=11, batch_size=7),
    "topk-als": lambda: FactorModel(kind="als", params={"factors": 3, "regularization": 0.1}, num_threads=1),
    "reranker": lambda: CandidateReranker(n_estimators=30, min_child_samples=10, num_leaves=4, n_jobs=1),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_ranks_the_users_own_block_first(name: str, block_world: Interactions) -> None:
    model = MODELS[name]().fit(block_world)  # type: ignore[attr-defined]
    scores = model.score(np.arange(len(block_world.user_ids)))
    assert scores.shape == block_world.shape
    assert_blocks_rank_first(scores, block_world)


def test_the_block_check_catches_a_model_that_ignores_blocks(block_world: Interactions) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(AssertionError, match="another block outranks"):
        assert_blocks_rank_first(rng.random(block_world.shape), block_world)


@pytest.mark.parametrize("kind", ["als", "bpr"])
def test_save_load_round_trip_without_pickle(kind: str, block_world: Interactions, tmp_path: Path) -> None:
    model = make_embeddings(kind, factors=4, iterations=5, num_threads=1).fit(block_world)
    path = model.save(tmp_path / f"{kind}.npz")
    with np.load(path, allow_pickle=False) as npz:  # loadable without executing code
        assert set(npz.files) == {"user_factors", "item_factors", "user_ids", "item_ids", "meta"}
    loaded = load_embeddings(path)
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.user_ids_, block_world.user_ids)
    np.testing.assert_array_equal(loaded.item_ids_, block_world.item_ids)
    rows = np.arange(5)
    np.testing.assert_array_equal(loaded.score(rows), model.score(rows))
    other = BPREmbeddings if kind == "als" else ALSEmbeddings
    with pytest.raises(ValueError, match="holds a"):
        other.load(path)


def test_same_seed_same_factors(block_world: Interactions) -> None:
    a = ALSEmbeddings(factors=4, random_state=7, num_threads=1).fit(block_world)
    b = ALSEmbeddings(factors=4, random_state=7, num_threads=1).fit(block_world)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    c = BPREmbeddings(factors=4, iterations=20, random_state=7, num_threads=1).fit(block_world)
    d = BPREmbeddings(factors=4, iterations=20, random_state=7, num_threads=1).fit(block_world)
    np.testing.assert_array_equal(c.item_factors_, d.item_factors_)


def test_contract_errors_name_the_argument(block_world: Interactions) -> None:
    with pytest.raises(ValueError, match="kind"):
        make_embeddings("svd")
    with pytest.raises(NotFittedError):
        ALSEmbeddings().score(np.arange(2))
    with pytest.raises(TypeError, match="interactions"):
        ALSEmbeddings().fit(block_world.matrix)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="factors"):
        ALSEmbeddings(factors=0).fit(block_world)
    assert isinstance(make_embeddings("bpr"), EmbeddingModel)


def _events(rows: list[tuple[int, int, str, str, int]]) -> pa.Table:
    """Events from (user, target, target_type, action, time_ms); ids in row order."""
    parts = []
    for ttype in ("post", "product", "account"):
        sel = [(i, r) for i, r in enumerate(rows) if r[2] == ttype]
        if sel:
            ids = np.array([i for i, _ in sel])
            parts.append(base.events(ids, np.array([r[0] for _, r in sel]), ttype, np.array([r[1] for _, r in sel]),
                                     np.array([code("action", r[3]) for _, r in sel], dtype=np.int8),
                                     np.array([r[4] for _, r in sel])))
    return pa.concat_tables(parts)


def test_pairs_sum_declared_weights_and_drop_impressions() -> None:
    events = _events([
        (1, 10, "post", "impression", 1_000), (1, 10, "post", "click", 2_000), (1, 10, "post", "like", 3_000),
        (2, 10, "post", "impression", 1_500), (2, 11, "post", "purchase", 500), (1, 7, "product", "cart", 100),
    ])
    pairs = interaction_pairs(events, target="post")
    assert pairs[["user", "item"]].values.tolist() == [[1, 10], [2, 11]]  # user 2 only saw post 10
    assert pairs["weight"].tolist() == [ACTION_WEIGHTS["click"] + ACTION_WEIGHTS["like"], ACTION_WEIGHTS["purchase"]]
    assert pairs["time"].tolist() == [2_000, 500]  # the first *weighted* event
    assert pairs["first_event"].tolist() == [1, 4]
    products = interaction_pairs(events, target="product")
    assert products[["user", "item", "weight"]].values.tolist() == [[1, 7, ACTION_WEIGHTS["cart"]]]


def test_account_pairs_map_posts_and_products_to_their_accounts() -> None:
    events = _events([(1, 10, "post", "click", 1), (1, 7, "product", "purchase", 2), (2, 5, "account", "follow", 3)])
    posts = pa.table({"post_id": pa.array([10], pa.int64()), "account_id": pa.array([5], pa.int64())})
    products = pa.table({"product_id": pa.array([7], pa.int64()), "shop_id": pa.array([5], pa.int64())})
    pairs = interaction_pairs(events, target="account", posts=posts, products=products)
    assert pairs[["user", "item", "weight"]].values.tolist() == [
        [1, 5, ACTION_WEIGHTS["click"] + ACTION_WEIGHTS["purchase"]], [2, 5, ACTION_WEIGHTS["follow"]]]
    with pytest.raises(ValueError, match="posts"):
        interaction_pairs(events, target="account", products=products)


def test_interactions_keep_ids_weights_and_times() -> None:
    pairs = pd.DataFrame({"user": [9, 3, 9, 9], "item": [50, 50, 70, 50], "weight": [1.0, 2.0, 3.0, 4.0],
                          "time": [0, 10, 20, 5]})
    m = Interactions.from_pairs(pairs)
    np.testing.assert_array_equal(m.user_ids, [3, 9])
    np.testing.assert_array_equal(m.item_ids, [50, 70])
    np.testing.assert_array_equal(m.matrix.toarray(), [[2, 0], [5, 3]])  # repeated pair summed
    assert m.times is not None
    assert m.times.nnz == m.matrix.nnz  # a time of 0 (epoch) is kept
    np.testing.assert_array_equal(m.times.toarray(), [[10, 0], [0, 20]])
    with pytest.raises(ValueError, match="weight"):
        Interactions.from_pairs(pairs.assign(weight=0.0))
    fixed = Interactions.from_pairs(pairs, item_ids=np.array([70, 80]))
    np.testing.assert_array_equal(fixed.matrix.toarray(), [[0, 0], [3, 0]])
