"""The LightGBM re-ranker: cross-fitted folds, candidates and features, the fit/predict contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.embeddings_interactions import Interactions
from training.topk import (
    EASE,
    CandidateReranker,
    ItemKNN,
    Popularity,
    SideFeatures,
    candidate_table,
    fold_splits,
    monotone_constraints,
    top_k,
)
from training.topk.candidates import PairContext


@pytest.fixture(scope="module")
def world() -> tuple[Interactions, SideFeatures]:
    """150 users in two taste groups (a user attribute) over 60 items of two genres (an item group)."""
    rng = np.random.default_rng(5)
    rows = []
    for u in range(150):
        group = u % 2
        for j, item in enumerate(rng.choice(30, 12, replace=False)):
            own = rng.random() < 0.8
            rows.append((u, int(item) + (30 if own == bool(group) else 0), 1.0 + (j % 3 == 0), u * 100 + j))
    pairs = pd.DataFrame(rows, columns=["user", "item", "weight", "time"]).drop_duplicates(["user", "item"])
    side = SideFeatures(
        users=pd.DataFrame({"age": 20.0 + 30 * (np.arange(150) % 2)}, index=np.arange(150)),
        items=pd.DataFrame({"year": 1990.0 + np.arange(60) % 7}, index=np.arange(60)),
        groups={"genre": pd.DataFrame({"item": np.arange(60), "label": np.where(np.arange(60) < 30, "a", "b")})},
    )
    return Interactions.from_pairs(pairs), side


def small_reranker(**kw: object) -> CandidateReranker:
    params: dict[str, object] = dict(generators=[("ease", EASE(l2=10.0)), ("itemknn", ItemKNN()),
                                                 ("popularity", Popularity())],
                                     n_candidates=15, n_estimators=40, min_child_samples=20, n_jobs=1)
    params.update(kw)
    return CandidateReranker(**params)  # type: ignore[arg-type]


def test_folds_partition_every_users_items(world: tuple[Interactions, SideFeatures]) -> None:
    x, _ = world
    folds = fold_splits(x, 4, np.random.default_rng(0))
    assert len(folds) == 4
    held_total = sum(held.matrix for _, held in folds)
    np.testing.assert_array_equal(held_total.toarray(), x.matrix.toarray())  # every entry held out once
    for rest, held in folds:
        np.testing.assert_array_equal((rest.matrix + held.matrix).toarray(), x.matrix.toarray())
        assert rest.matrix.multiply(held.matrix).nnz == 0
        assert held.times is not None and held.times.nnz == held.matrix.nnz
        share = np.diff(held.matrix.indptr) / np.diff(x.matrix.indptr)
        assert share.min() >= 0.25 - 1 / 12 - 1e-9 and share.max() <= 0.25 + 1 / 12 + 1e-9
    assert len(fold_splits(x, 4, np.random.default_rng(0), folds_used=1)) == 1
    with pytest.raises(ValueError, match="n_folds"):
        fold_splits(x, 1, np.random.default_rng(0))


def test_candidates_carry_generator_context_and_side_features(world: tuple[Interactions, SideFeatures]) -> None:
    x, side = world
    gens = [("ease", EASE(l2=10.0).fit(x)), ("popularity", Popularity().fit(x))]
    rows = np.array([3, 0, 7])
    table = candidate_table(gens, x, PairContext(x, side), rows, n_candidates=5)
    assert set(table.user_rows) == {0, 3, 7} and (rows[table.positions] == table.user_rows).all()
    seen = x.matrix[table.user_rows, table.item_cols]
    assert np.asarray(seen).ravel().max() == 0  # a user's training items are never candidates
    per_user = pd.Series(table.positions).value_counts()
    assert (per_user >= 5).all() and (per_user <= 10).all()
    cols = set(table.features.columns)
    assert {"ease_z", "ease_rank", "popularity_rank", "user_n", "item_share", "affinity_genre",
            "flag_genre_a", "user_age", "item_year", "item_year_minus_user_mean",
            "user_age_minus_item_mean", "item_first_minus_user_last_days"} <= cols
    assert table.features.loc[table.features["ease_rank"] < 5].shape[0] == 15  # each generator's best 5
    mono = monotone_constraints(table.features.columns, ["ease", "popularity"])
    assert dict(zip(table.features.columns, mono, strict=True))["ease_z"] == 1
    assert dict(zip(table.features.columns, mono, strict=True))["popularity_rank"] == -1
    assert dict(zip(table.features.columns, mono, strict=True))["user_age"] == 0


def test_fit_predict_contract(world: tuple[Interactions, SideFeatures]) -> None:
    x, side = world
    model = small_reranker(n_repeats=2)
    assert model.fit(x, side) is model
    assert len(model.models_) == 2 and 0 < model.candidate_recall_ <= 1
    assert [n for n, _ in model.generators_] == ["ease", "itemknn", "popularity"]
    assert "affinity_genre" in model.feature_names_
    params = model.models_[0].booster_.params
    assert "monotone_constraints" in params
    scores = model.score(np.arange(10))
    finite = np.isfinite(scores)
    assert finite.sum(axis=1).min() >= 15 and not (finite & (x.matrix[:10].toarray() > 0)).any()
    recs = top_k(model, x, k=10)
    assert recs.groupby("user").size().eq(10).all()
    again = small_reranker(n_repeats=2).fit(x, side)
    np.testing.assert_array_equal(again.score(np.arange(10)), scores)  # seeded


def test_a_clone_has_fresh_unfitted_generators(world: tuple[Interactions, SideFeatures]) -> None:
    """scikit-learn's clone copies the generators' settings without their fitted state, and fits the same."""
    from sklearn.base import clone

    x, side = world
    model = small_reranker(n_estimators=10).fit(x, side)
    again = clone(model)
    assert [type(g) for _, g in again.generators] == [type(g) for _, g in model.generators]
    assert all(a is not b for (_, a), (_, b) in zip(again.generators, model.generators, strict=True))
    assert again.generators[0][1].get_params()["l2"] == 10.0 and not hasattr(again, "models_")
    np.testing.assert_array_equal(again.fit(x, side).score(np.arange(5)), model.score(np.arange(5)))


def test_the_binary_objective_and_argument_checks(world: tuple[Interactions, SideFeatures]) -> None:
    x, side = world
    model = small_reranker(objective="binary", folds_used=1).fit(x, side)
    assert np.isfinite(model.score(np.arange(3))).any()
    with pytest.raises(ValueError, match="objective"):
        small_reranker(objective="xendcg").fit(x, side)
    with pytest.raises(ValueError, match="n_repeats"):
        small_reranker(n_repeats=0).fit(x, side)
    with pytest.raises(ValueError, match="truncation_level"):
        small_reranker(truncation_level=0).fit(x, side)


def test_listwise_objectives_reach_lightgbm(world: tuple[Interactions, SideFeatures]) -> None:
    """The truncation level is LambdaRank's; the cross-entropy ranker is a listwise alternative."""
    x, side = world
    params = small_reranker(truncation_level=12, n_estimators=10).fit(x, side).models_[0].booster_.params
    assert params["objective"] == "lambdarank" and int(params["lambdarank_truncation_level"]) == 12
    xendcg = small_reranker(objective="rank_xendcg", n_estimators=10).fit(x, side)
    assert xendcg.models_[0].booster_.params["objective"] == "rank_xendcg"
    assert np.isfinite(xendcg.score(np.arange(3))).sum(axis=1).min() >= 15


def test_the_ranker_uses_side_attributes(world: tuple[Interactions, SideFeatures]) -> None:
    """Users' genre taste is also in their attribute and their genre affinity: the trees split on them."""
    x, side = world
    model = small_reranker(n_estimators=80).fit(x, side)
    gain = dict(zip(model.feature_names_, model.models_[0].booster_.feature_importance("gain"), strict=True))
    assert gain["affinity_genre"] + gain["flag_genre_a"] + gain["user_age"] > 0
