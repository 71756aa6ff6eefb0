"""Top-k ranking metrics: hand-worked cases, recommenders 1.2.1 conventions, sklearn, per-user reference."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from experiments.metrics import (
    map_at_k,
    mean_average_precision,
    ndcg_at_k,
    precision_at_k,
    ranking_data,
    recall_at_k,
)

L3 = math.log2(3)  # discount of rank 2; rank 1 has log2(2) = 1, rank 3 has log2(4) = 2


def _fixture(swap_tie: bool = False) -> dict[str, np.ndarray]:
    """Truth: u1 -> {1, 2, 3}, u2 -> {1, 4}, u3 -> {9} (no predictions).

    Predictions: u1 -> 5 (.9), 1 (.8), 7 (.8), 3 (.1); u2 -> 4 (.5), 8 (.5); u4 -> 1 (1.0) (no truth).
    ``swap_tie`` lists item 7 before item 1 (same score), moving item 1 from rank 2 to rank 3.
    """
    items_u1 = [5, 7, 1, 3] if swap_tie else [5, 1, 7, 3]
    return {
        "true_user": np.array([1, 1, 1, 2, 2, 3]),
        "true_item": np.array([1, 2, 3, 1, 4, 9]),
        "pred_user": np.array([1, 1, 1, 1, 2, 2, 4]),
        "pred_item": np.array([*items_u1, 4, 8, 1]),
        "pred_score": np.array([0.9, 0.8, 0.8, 0.1, 0.5, 0.5, 1.0]),
    }


def test_hand_worked_fixture_k3() -> None:
    # Common users: u1, u2 (u3 has no predictions, u4 no truth).
    # u1 top-3 = [5, 1, 7] (1 before 7: tie kept in input order; 3 cut at rank 4)
    #   -> one hit, item 1 at rank 2.
    # u2 top-3 = [4, 8] -> one hit, item 4 at rank 1.
    d = ranking_data(**_fixture(), k=3)
    assert d.n_common_users == 2
    # precision = (1/3 + 1/3) / 2: u2 has 2 predictions yet divides by k = 3.
    assert precision_at_k(d) == pytest.approx(1 / 3)
    # recall = (1/3 + 1/2) / 2 = 5/12
    assert recall_at_k(d) == pytest.approx(5 / 12)
    # MAP: u1 (1/2) / 3 relevant = 1/6, u2 (1/1) / 2 = 1/2 -> (1/6 + 1/2) / 2 = 1/3.
    # Every n_rel <= k, so MAP@k is the same.
    assert mean_average_precision(d) == pytest.approx(1 / 3)
    assert map_at_k(d) == pytest.approx(1 / 3)
    # nDCG: u1 = (1/L3) / (1 + 1/L3 + 1/2), u2 = 1 / (1 + 1/L3), u3 = 0 (truth user without predictions),
    # averaged over the 3 truth users, as recommenders 1.2.1 does (outer join with the full truth).
    u1 = (1 / L3) / (1 + 1 / L3 + 1 / 2)
    u2 = 1 / (1 + 1 / L3)
    assert ndcg_at_k(d) == pytest.approx((u1 + u2 + 0) / 3)


def test_tied_scores_keep_input_order() -> None:
    # Listing item 7 before item 1 (both .8) moves u1's hit to rank 3:
    # MAP = ((1/3) / 3 + 1/2) / 2 = 11/36; precision and recall unchanged.
    d = ranking_data(**_fixture(swap_tie=True), k=3)
    assert mean_average_precision(d) == pytest.approx(11 / 36)
    assert precision_at_k(d) == pytest.approx(1 / 3)
    # With k = 2 the hit of u1 now falls outside the top 2: precision = (0 + 1/2) / 2.
    assert precision_at_k(ranking_data(**_fixture(swap_tie=True), k=2)) == pytest.approx(1 / 4)
    assert precision_at_k(ranking_data(**_fixture(), k=2)) == pytest.approx(1 / 2)


def test_string_ids_give_same_result() -> None:
    f = _fixture()
    s = {**f, "true_user": f["true_user"].astype(str), "pred_user": f["pred_user"].astype(str),
         "true_item": np.char.add("i", f["true_item"].astype(str)),
         "pred_item": np.char.add("i", f["pred_item"].astype(str))}
    for metric in (precision_at_k, recall_at_k, ndcg_at_k, mean_average_precision, map_at_k):
        assert metric(ranking_data(**s, k=3)) == pytest.approx(metric(ranking_data(**f, k=3)))


def test_map_denominators_follow_recommenders() -> None:
    # One user, 5 relevant items (a..e), k = 2, top-2 predictions both hits:
    # sum of precisions at hits = 1/1 + 2/2 = 2; map = 2 / 5 (all relevant), map_at_k = 2 / min(5, 2) = 1.
    # precision = 2 / k = 1, recall = 2 / 5.
    d = ranking_data(np.array(["u"] * 5), np.array(list("abcde")), np.array(["u"] * 3),
                     np.array(["a", "b", "z"]), np.array([3.0, 2.0, 1.0]), k=2)
    assert mean_average_precision(d) == pytest.approx(0.4)
    assert map_at_k(d) == pytest.approx(1.0)
    assert precision_at_k(d) == pytest.approx(1.0)
    assert recall_at_k(d) == pytest.approx(0.4)


def test_precision_denominator_is_k_even_with_fewer_predictions() -> None:
    # A single prediction, a hit, k = 5: precision 1/5 (Spark/recommenders convention), recall 1, nDCG 1.
    d = ranking_data(np.array([7]), np.array([3]), np.array([7]), np.array([3]), np.array([0.2]), k=5)
    assert precision_at_k(d) == pytest.approx(0.2)
    assert recall_at_k(d) == pytest.approx(1.0)
    assert ndcg_at_k(d) == pytest.approx(1.0)


def test_graded_ndcg_uses_raw_rating_as_gain() -> None:
    # Ratings a=3, b=2, c=1; predictions c (.9), a (.8), d (.7); k = 2 -> top-2 = [c, a].
    # DCG = 1/1 + 3/log2(3); ideal = top-2 ratings [3, 2] -> 3 + 2/log2(3) (not 2**r - 1).
    d = ranking_data(np.zeros(3, dtype=int), np.array(list("abc")), np.zeros(3, dtype=int),
                     np.array(list("cad")), np.array([0.9, 0.8, 0.7]), k=2,
                     true_rating=np.array([3.0, 2.0, 1.0]))
    assert ndcg_at_k(d, graded=True) == pytest.approx((1 + 3 / L3) / (3 + 2 / L3))
    # Binary: two hits in two ranks out of 3 relevant -> ideal over min(3, 2) = 2 ranks -> 1.
    assert ndcg_at_k(d) == pytest.approx(1.0)


def test_graded_ndcg_skips_users_with_all_zero_ratings() -> None:
    # u0's only rating is 0: DCG = IDCG = 0 -> NaN, skipped (pandas mean); u1 is perfect -> 1.0.
    args = (np.array([0, 1]), np.array([5, 6]), np.array([0, 1]), np.array([5, 6]), np.array([1.0, 1.0]))
    d = ranking_data(*args, k=3, true_rating=np.array([0.0, 2.0]))
    assert ndcg_at_k(d, graded=True) == pytest.approx(1.0)
    only_zero = ranking_data(*args, k=3, true_rating=np.array([0.0, 0.0]))
    assert math.isnan(ndcg_at_k(only_zero, graded=True))
    assert ndcg_at_k(only_zero) == pytest.approx(1.0)


def test_no_hits_and_no_common_users_give_zero() -> None:
    no_hits = ranking_data(np.array([1, 2]), np.array([1, 2]), np.array([1, 2]), np.array([3, 4]),
                           np.array([0.5, 0.5]), k=2)
    disjoint = ranking_data(np.array([1]), np.array([1]), np.array([2]), np.array([1]), np.array([0.5]))
    assert disjoint.n_common_users == 0
    for d in (no_hits, disjoint):
        for metric in (precision_at_k, recall_at_k, ndcg_at_k, mean_average_precision, map_at_k):
            assert metric(d) == 0.0


def test_ndcg_agrees_with_sklearn_on_dense_input() -> None:
    # Every user scores every item with distinct scores, so sklearn's tie handling and its use of all items
    # coincide with the top-k definition; every user has at least one relevant (positive) item.
    rng = np.random.default_rng(7)
    n_users, n_items, k = 20, 15, 5
    grades = rng.integers(0, 4, size=(n_users, n_items)).astype(float)
    grades[:, 0] = np.maximum(grades[:, 0], 1.0)
    scores = rng.permutation(n_users * n_items).reshape(n_users, n_items).astype(float)
    users, items = np.divmod(np.arange(n_users * n_items), n_items)
    relevant = grades.ravel() > 0
    binary = ranking_data(users[relevant], items[relevant], users, items, scores.ravel(), k=k)
    assert ndcg_at_k(binary) == pytest.approx(ndcg_score((grades > 0).astype(float), scores, k=k))
    graded = ranking_data(users, items, users, items, scores.ravel(), k=k, true_rating=grades.ravel())
    assert ndcg_at_k(graded, graded=True) == pytest.approx(ndcg_score(grades, scores, k=k))


def _reference(
    truth: list[tuple], preds: list[tuple], k: int, ratings: dict | None = None,
) -> dict[str, float]:
    """Plain per-user loops following recommenders 1.2.1 (``relevancy_method="top_k"``)."""
    relevant: dict = defaultdict(set)
    for u, i in truth:
        relevant[u].add(i)
    ranked: dict = defaultdict(list)
    for position, (u, i, s) in enumerate(preds):
        ranked[u].append((-s, position, i))
    sums: dict[str, float] = defaultdict(float)
    ndcgs, any_hit = [], False
    for u, rel in relevant.items():
        top = [i for _, _, i in sorted(ranked.get(u, []))[:k]]
        hit_ranks = [r for r, i in enumerate(top, start=1) if i in rel]
        any_hit = any_hit or bool(hit_ranks)
        gain = {i: ratings[(u, i)] if ratings else 1.0 for i in rel}
        dcg = sum(gain[i] / math.log2(r + 1) for r, i in enumerate(top, start=1) if i in rel)
        ideal_gains = sorted(gain.values(), reverse=True)[:k]
        idcg = sum(g / math.log2(r + 1) for r, g in enumerate(ideal_gains, start=1))
        if idcg > 0:
            ndcgs.append(dcg / idcg)
        if u not in ranked:
            continue
        ap_sum = sum((n + 1) / r for n, r in enumerate(hit_ranks))
        sums["precision"] += len(hit_ranks) / k
        sums["recall"] += len(hit_ranks) / len(rel)
        sums["map"] += ap_sum / len(rel)
        sums["map_at_k"] += ap_sum / min(len(rel), k)
    n_common = len(set(relevant) & set(ranked))
    out = {name: (value / n_common if any_hit else 0.0) for name, value in sums.items()}
    out["ndcg"] = float(np.mean(ndcgs)) if any_hit else 0.0
    return out


def _random_case(seed: int, as_str: bool) -> tuple[dict[str, np.ndarray], int]:
    """50 users (some without truth or predictions), 40 items, integer scores with many ties."""
    rng = np.random.default_rng(seed)

    def pairs(n: int, users: np.ndarray) -> np.ndarray:
        distinct = np.unique(np.stack([rng.choice(users, n), rng.integers(0, 40, n)], axis=1), axis=0)
        return distinct[rng.permutation(len(distinct))]

    truth = pairs(400, np.arange(0, 45))
    preds = pairs(900, np.arange(5, 50))
    cast = (lambda a: np.char.add("user", a.astype(str))) if as_str else (lambda a: a)
    return {
        "true_user": cast(truth[:, 0]), "true_item": truth[:, 1],
        "pred_user": cast(preds[:, 0]), "pred_item": preds[:, 1],
        "pred_score": rng.integers(0, 6, len(preds)).astype(float),
        "true_rating": rng.integers(0, 5, len(truth)).astype(float),
    }, int(rng.integers(1, 12))


@pytest.mark.parametrize(("seed", "as_str"), [(0, False), (1, True), (2, False), (3, True), (4, False)])
def test_vectorised_matches_per_user_reference(seed: int, as_str: bool) -> None:
    case, k = _random_case(seed, as_str)
    truth = list(zip(case["true_user"].tolist(), case["true_item"].tolist(), strict=True))
    preds = list(zip(case["pred_user"].tolist(), case["pred_item"].tolist(), case["pred_score"].tolist(),
                     strict=True))
    ratings = dict(zip(truth, case["true_rating"].tolist(), strict=True))
    expected = _reference(truth, preds, k)
    d = ranking_data(**case, k=k)
    assert d.n_common_users == 40
    assert precision_at_k(d) == pytest.approx(expected["precision"], rel=1e-12)
    assert recall_at_k(d) == pytest.approx(expected["recall"], rel=1e-12)
    assert mean_average_precision(d) == pytest.approx(expected["map"], rel=1e-12)
    assert map_at_k(d) == pytest.approx(expected["map_at_k"], rel=1e-12)
    assert ndcg_at_k(d) == pytest.approx(expected["ndcg"], rel=1e-12)
    assert ndcg_at_k(d, graded=True) == pytest.approx(_reference(truth, preds, k, ratings)["ndcg"], rel=1e-12)


def test_argument_validation_names_the_argument() -> None:
    f = _fixture()
    with pytest.raises(ValueError, match=r"pred_score: length 6 != pred_item length 7"):
        ranking_data(**{**f, "pred_score": f["pred_score"][:6]})
    with pytest.raises(ValueError, match=r"true_item: length 5 != true_user length 6"):
        ranking_data(**{**f, "true_item": f["true_item"][:5]})
    with pytest.raises(ValueError, match=r"^k: "):
        ranking_data(**f, k=0)
    with pytest.raises(ValueError, match=r"pred_score: contains NaN"):
        ranking_data(**{**f, "pred_score": np.full(7, np.nan)})
    with pytest.raises(ValueError, match=r"pred_item: duplicate"):
        ranking_data(**{**f, "pred_item": np.array([5, 5, 7, 3, 4, 8, 1])})
    with pytest.raises(ValueError, match=r"pred_user: dtype"):
        ranking_data(**{**f, "pred_user": f["pred_user"].astype(str)})
    with pytest.raises(ValueError, match=r"true_rating: length"):
        ranking_data(**f, true_rating=np.ones(2))
    with pytest.raises(ValueError, match=r"graded"):
        ndcg_at_k(ranking_data(**f), graded=True)
