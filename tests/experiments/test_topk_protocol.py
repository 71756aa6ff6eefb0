"""The top-k protocol: recommenders' stratified split replicated, the temporal split, top-k scoring."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from experiments.topk_protocol import (
    METRICS,
    check_recs,
    score_topk,
    split_table,
    stratified_split,
    temporal_split,
)


def frame(seed: int = 0, users: int = 40) -> pd.DataFrame:
    """Users with 1..30 interactions each (odd and even counts, so rounding matters), rows shuffled."""
    rng = np.random.default_rng(seed)
    rows = [(u, i, float(rng.integers(1, 6)), int(rng.integers(0, 10_000)))
            for u in range(users) for i in rng.choice(500, int(rng.integers(1, 31)), replace=False)]
    df = pd.DataFrame(rows, columns=["userID", "itemID", "rating", "timestamp"])
    return df.iloc[rng.permutation(len(df))].reset_index(drop=True)


def recommenders_reading(data: pd.DataFrame, ratio: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """recommenders 1.2.1 ``_do_stratification(is_random=True, filter_by="user")`` as its source reads,
    in pandas (the legacy seeded stream, without touching numpy's global state)."""
    data = data.copy()
    data["random"] = np.random.RandomState(seed).rand(data.shape[0])
    data = data.sort_values(["userID", "random"])
    groups = data.groupby("userID")
    data["count"] = groups["userID"].transform("count")
    data["rank"] = groups.cumcount() + 1
    data = data.drop("random", axis=1)
    splits, prev = [], None
    for threshold in np.cumsum([ratio, 1 - ratio]):
        cond = data["rank"] <= round(threshold * data["count"])
        if prev is not None:
            cond &= data["rank"] > round(prev * data["count"])
        splits.append(data[cond].drop(["rank", "count"], axis=1))
        prev = threshold
    return splits[0], splits[1]


@pytest.mark.parametrize("seed", [42, 7])
def test_stratified_split_equals_recommenders_algorithm(seed: int) -> None:
    data = frame()
    train, test = stratified_split(data, ratio=0.75, col_user="userID", col_item="itemID", seed=seed)
    ref_train, ref_test = recommenders_reading(data, 0.75, seed)
    assert train.index.tolist() == ref_train.index.tolist()  # same rows, same order
    assert test.index.tolist() == ref_test.index.tolist()
    assert list(train.columns) == list(data.columns)


def test_per_user_proportions_round_half_to_even() -> None:
    data = frame()
    train, test = stratified_split(data, col_user="userID", col_item="itemID")
    n = data.groupby("userID").size()
    n_train = train.groupby("userID").size().reindex(n.index, fill_value=0)
    assert (n_train == np.round(0.75 * n)).all()  # 2 → 2 (1.5 rounds up to even), 6 → 4 (4.5 down)
    assert len(train) + len(test) == len(data)
    assert not set(train.index) & set(test.index)
    one = n[n == 1].index
    assert not test["userID"].isin(one).any()  # a single interaction stays in train


def test_split_is_deterministic_and_depends_on_the_seed_and_the_row_order() -> None:
    data = frame()
    a, _ = stratified_split(data, col_user="userID", col_item="itemID", seed=42)
    b, _ = stratified_split(data, col_user="userID", col_item="itemID", seed=42)
    c, _ = stratified_split(data, col_user="userID", col_item="itemID", seed=43)
    d, _ = stratified_split(data.iloc[::-1], col_user="userID", col_item="itemID", seed=42)
    assert a.index.tolist() == b.index.tolist()
    assert set(a.index) != set(c.index)
    assert set(a.index) != set(d.index)  # one random number per row in input order, as recommenders


def test_split_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="ratio"):
        stratified_split(frame(), ratio=1.0, col_user="userID", col_item="itemID")
    with pytest.raises(ValueError, match="missing column"):
        stratified_split(frame(), col_user="user")


def test_temporal_split_holds_out_each_users_latest_quarter() -> None:
    data = pd.DataFrame({"user": [1] * 8 + [2] * 3, "item": range(11),
                         "time": [5, 1, 9, 3, 7, 2, 8, 5, 10, 10, 10]})
    train, test = temporal_split(data)
    assert sorted(test.loc[test.user == 1, "item"]) == [2, 6]  # times 9 and 8
    assert test.loc[test.user == 2, "item"].tolist() == [10]  # equal times: input order, the last row last
    assert train.groupby("user")["time"].max().le(test.groupby("user")["time"].min()).all()
    table = split_table(train, test)
    assert table.columns.tolist() == ["user", "item", "split"] and len(table) == len(data)
    assert table["split"].value_counts().to_dict() == {"train": 8, "test": 3}


def test_scores_match_a_hand_computed_example() -> None:
    test = pd.DataFrame({"user": [1, 1, 2], "item": [10, 20, 30]})
    recs = pd.DataFrame({"user": [1, 1, 1, 2], "item": [10, 99, 20, 31], "rank": [1, 2, 3, 1]})
    got = score_topk(test, recs, k=10)
    assert list(got) == list(METRICS)
    ap1 = (1 / 1 + 2 / 3) / 2  # hits at ranks 1 and 3 of user 1; user 2 has none
    assert got["map"] == pytest.approx(ap1 / 2)
    assert got["map_at_k"] == pytest.approx(ap1 / 2)
    assert got["precision_at_k"] == pytest.approx((2 / 10 + 0) / 2)
    assert got["recall_at_k"] == pytest.approx((1.0 + 0) / 2)
    ndcg1 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert got["ndcg_at_k"] == pytest.approx(ndcg1 / 2)


def test_check_recs_refuses_seen_items_and_bad_ranks() -> None:
    train = pd.DataFrame({"user": [1], "item": [10]})
    check_recs(pd.DataFrame({"user": [1, 1], "item": [11, 12], "rank": [1, 2]}), train)
    with pytest.raises(ValueError, match="training rows"):
        check_recs(pd.DataFrame({"user": [1], "item": [10], "rank": [1]}), train)
    with pytest.raises(ValueError, match="ranks"):
        check_recs(pd.DataFrame({"user": [1], "item": [11], "rank": [11]}), train)
    with pytest.raises(ValueError, match="twice"):
        check_recs(pd.DataFrame({"user": [1, 1], "item": [11, 11], "rank": [1, 2]}), train)


@pytest.mark.slow
def test_movielens_split_and_metrics_reproduce_recommenders_own_numbers() -> None:
    """The yardstick (recommenders' own split and metrics, /work/shared/tools) printed, for the same models:
    popularity MAP 0.0554 nDCG 0.2497 P 0.2238 R 0.1102 and EASE(λ=500) 0.1476 / 0.4799 / 0.4201 / 0.2230."""
    from features.fetch import fetch_movielens_100k
    from features.settings import DataSettings

    folder = fetch_movielens_100k(DataSettings().download_cache.expanduser())
    df = pd.read_csv(folder / "ml-100k.inter", sep="\t")
    df.columns = ["userID", "itemID", "rating", "timestamp"]
    train, test = stratified_split(df, col_user="userID", col_item="itemID", seed=42)
    users, items = np.sort(df.userID.unique()), np.sort(train.itemID.unique())
    x = np.zeros((len(users), len(items)))
    x[np.searchsorted(users, train.userID), np.searchsorted(items, train.itemID)] = 1
    gram = x.T @ x
    p = np.linalg.inv(gram + 500 * np.eye(len(items)))
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0)
    scores = np.where(x > 0, -np.inf, x @ b)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    recs = pd.DataFrame({"user": np.repeat(users, 10), "item": items[top].ravel(),
                         "rank": np.tile(np.arange(1, 11), len(users))})
    got = score_topk(test.rename(columns={"userID": "user", "itemID": "item"}), recs)
    assert [round(got[m], 4) for m in ("map", "ndcg_at_k", "precision_at_k", "recall_at_k")] == [
        0.1476, 0.4799, 0.4201, 0.2230]
