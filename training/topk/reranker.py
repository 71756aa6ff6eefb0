"""A LightGBM re-ranker over the union of several candidate generators.

Training never sees the evaluation split. Every user's *training* items are dealt to K folds
(:func:`fold_splits`); per fold the generators are fitted on the other folds, their candidates are labelled
by the fold's items, and LightGBM learns to order them (LambdaRank by default, grouped by user and fold).
For prediction the generators are refitted on the whole training matrix and the learned ranker orders their
candidates. Generator-score features are monotone constraints of the trees (see
:mod:`training.topk.candidates`): the generators of the folds see less data than the final ones, and without
the constraints the trees learn orderings that do not survive that shift.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
import pandas as pd
import scipy.sparse as sp

from training.embeddings_interactions import Interactions
from training.topk.base import TopKModel, clone
from training.topk.candidates import CandidateTable, PairContext, candidate_table, monotone_constraints
from training.topk.ease import EASE
from training.topk.factor import FactorModel
from training.topk.itemknn import ItemKNN
from training.topk.popularity import Popularity
from training.topk.side import SideFeatures

#: ALS hyper-parameters picked on an inner split of MovieLens-100k's training data (not on its test split).
ALS_PARAMS = {"factors": 128, "regularization": 20.0, "alpha": 1.0, "iterations": 15}
#: Session EASE splits a user's history at gaps over a minute: picked on the same inner split (gaps of 0 s to
#: 1 day tried; 30 s-2 min did best, alone +0.009 nDCG@10 over plain EASE; in the re-ranker about +0.0015).
SESSION_GAP_MS = 60_000.0
#: LightGBM objectives of the ranker: two listwise ones (grouped by user and fold) and a pointwise one.
OBJECTIVES: tuple[str, ...] = ("lambdarank", "rank_xendcg", "binary")


def default_generators(*, random_state: int | None = 0, num_threads: int = 1,
                       sequential: bool = True) -> list[tuple[str, TopKModel]]:
    """EASE, item-kNN, then (when ``sequential``) time-windowed item-kNN and session EASE, ALS, popularity."""
    gens: list[tuple[str, TopKModel]] = [("ease", EASE(l2=500.0)), ("itemknn", ItemKNN())]
    if sequential:
        gens += [("seqknn", ItemKNN(window=3)), ("sessease", EASE(l2=500.0, session_gap_ms=SESSION_GAP_MS))]
    gens += [("als", FactorModel(kind="als", params=ALS_PARAMS, random_state=random_state,
                                 num_threads=num_threads)),
             ("popularity", Popularity())]
    return gens


def fold_splits(interactions: Interactions, n_folds: int, rng: np.random.Generator, *,
                folds_used: int | None = None) -> list[tuple[Interactions, Interactions]]:
    """Per-user K-fold partition of the entries: ``[(rest, fold) for each fold]``.

    Every user's items are shuffled and dealt to the ``n_folds`` folds in turn from a random fold, so each
    fold holds about ``1/n_folds`` of every user's items. Only the first ``folds_used`` (default all) pairs
    are built. Both parts keep the rows and columns of ``interactions``; times follow their entries.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds: must be >= 2, got {n_folds}")
    used = n_folds if folds_used is None else folds_used
    if not 1 <= used <= n_folds:
        raise ValueError(f"folds_used: must lie in 1..{n_folds}, got {folds_used}")
    m = interactions.matrix.tocoo()
    order = np.lexsort((rng.random(m.nnz), m.row))
    row = m.row[order]
    starts = np.r_[0, np.flatnonzero(np.diff(row)) + 1] if len(row) else np.zeros(0, dtype=np.int64)
    position = np.arange(len(row)) - np.repeat(starts, np.diff(np.r_[starts, len(row)]))
    offset = rng.integers(0, n_folds, interactions.shape[0])
    fold = np.empty(m.nnz, dtype=np.int64)
    fold[order] = (position + offset[row]) % n_folds
    return [(_subset(interactions, fold != f), _subset(interactions, fold == f)) for f in range(used)]


def _subset(interactions: Interactions, keep: np.ndarray) -> Interactions:
    m = interactions.matrix.tocoo()
    shape = interactions.shape
    matrix = _csr(m.data[keep], m.row[keep], m.col[keep], shape)
    times = None
    if interactions.times is not None:
        t = interactions.times.tocoo()  # same structure and entry order as the matrix
        times = _csr(t.data[keep], t.row[keep], t.col[keep], shape)
    return Interactions(matrix, interactions.user_ids, interactions.item_ids, times)


def _csr(data: np.ndarray, row: np.ndarray, col: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    order = np.lexsort((col, row))
    indptr = np.r_[0, np.cumsum(np.bincount(row, minlength=shape[0]))]
    return sp.csr_matrix((data[order], col[order], indptr), shape=shape)


class CandidateReranker(TopKModel):
    """LightGBM over the candidates of several generators, trained on an inner split of the training data.

    Parameters
    ----------
    generators : list of (name, TopKModel), optional
        Candidate generators (cloned, never fitted in place); default :func:`default_generators`.
    n_candidates : int
        Items taken from each generator per user (the union is ranked).
    n_folds : int
        Each user's training items are dealt to ``n_folds`` folds; per fold, the generators are fitted on
        the other folds and the fold's items label their candidates (cross-fitting).
        Default 5, chosen on two inner 75/25 splits of MovieLens-100k's training data (seeds 7 and 11;
        never its test split). Inner MAP, mean of both: 0.0958 for 5 folds, 0.0956 for 4 (nDCG@10 0.2831 for
        both); on seed 7 alone 6 folds gave 0.0961. Within noise, but 5 folds won MAP on both splits, and
        their generators see 4/5 of the data, nearer to the final fit on all of it.
        Also tried on seed 7 (4 folds: MAP 0.0970): truncation levels 10/20/60, ``rank_xendcg``, ``binary``
        and a user-kNN generator were worse (0.0951-0.0966); 100 candidates (0.0971, 2.5x the ranker's time)
        and 5 repeats (0.0970; 0.0967 with 5 folds) no better beyond noise.
    folds_used : int, optional
        How many of the folds produce training rows (default all; 1 is a single holdout of ``1/n_folds``).
    n_repeats : int
        Independent fold partitions, one ranker each; predictions are their mean (bagging).
    objective : {"lambdarank", "rank_xendcg", "binary"}
        LightGBM objective: a listwise ranker grouped by user and fold, or a pointwise classifier.
    truncation_level : int
        LambdaRank only: how deep in each user's list pairs are weighted (LightGBM's
        ``lambdarank_truncation_level``; its default is 30).
    n_estimators, learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree :
        LightGBM hyper-parameters; the defaults (small, heavily regularised trees) were chosen on an inner
        split of MovieLens-100k's training data.
    max_train_users : int
        Users sampled (seeded) for the ranker's training rows; bounds its cost on large data.
    random_state : int
        Seeds the fold partitions, the user sample, the default ALS generator and LightGBM.
    n_jobs : int
        Threads for LightGBM and the default ALS generator.
    """

    name: ClassVar[str] = "reranker"

    def __init__(self, *, generators: Sequence[tuple[str, TopKModel]] | None = None, n_candidates: int = 50,
                 n_folds: int = 5, folds_used: int | None = None, n_repeats: int = 1,
                 objective: str = "lambdarank", truncation_level: int = 30, n_estimators: int = 500,
                 learning_rate: float = 0.03, num_leaves: int = 7, min_child_samples: int = 500, subsample: float = 0.8,
                 colsample_bytree: float = 0.8, max_train_users: int = 20_000,
                 random_state: int = 0, n_jobs: int = 1) -> None:
        self.generators = generators
        self.n_candidates = n_candidates
        self.n_folds = n_folds
        self.folds_used = folds_used
        self.n_repeats = n_repeats
        self.objective = objective
        self.truncation_level = truncation_level
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.max_train_users = max_train_users
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _generator_specs(self, interactions: Interactions) -> list[tuple[str, TopKModel]]:
        if self.generators is not None:
            return list(self.generators)
        return default_generators(random_state=self.random_state, num_threads=self.n_jobs,
                                  sequential=interactions.times is not None)

    def _fit(self, interactions: Interactions, side: SideFeatures | None) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective: expected one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.truncation_level < 1:
            raise ValueError(f"truncation_level: must be >= 1, got {self.truncation_level}")
        if self.n_repeats < 1:
            raise ValueError(f"n_repeats: must be >= 1, got {self.n_repeats}")
        rng = np.random.default_rng(self.random_state)
        specs = self._generator_specs(interactions)
        self.context_ = PairContext(interactions, side)
        self.models_: list[lgb.LGBMModel] = []
        found = held_total = 0
        for _ in range(self.n_repeats):
            tables, labels, groups = [], [], []
            for inner, held in fold_splits(interactions, self.n_folds, rng, folds_used=self.folds_used):
                table, label = self._labelled_candidates(specs, inner, held, side, rng)
                tables.append(table.features)
                labels.append(label)
                sizes = np.bincount(table.positions)
                groups.append(sizes[sizes > 0])
                found, held_total = found + int(label.sum()), held_total + held.matrix.nnz
            features = pd.concat(tables, ignore_index=True)
            self.models_.append(self._fit_ranker(features, np.concatenate(labels), np.concatenate(groups),
                                                 [n for n, _ in specs], self.context_.categorical()))
        self.candidate_recall_ = found / max(1, held_total)
        self.generators_ = [(name, clone(g).fit(interactions, side)) for name, g in specs]
        self.matrix_ = interactions
        self.feature_names_ = list(features.columns)

    def _labelled_candidates(self, specs: list[tuple[str, TopKModel]], inner: Interactions, held: Interactions,
                             side: SideFeatures | None, rng: np.random.Generator) -> tuple[CandidateTable, np.ndarray]:
        """Candidates of generators fitted on ``inner``, labelled 1 when the item is in ``held``."""
        gens = [(name, clone(g).fit(inner, side)) for name, g in specs]
        rows = np.flatnonzero(np.diff(held.matrix.indptr) > 0)
        if len(rows) > self.max_train_users:
            rows = np.sort(rng.choice(rows, self.max_train_users, replace=False))
        table = candidate_table(gens, inner, PairContext(inner, side), rows, self.n_candidates)
        labels = np.asarray(held.matrix[table.user_rows, table.item_cols]).ravel() > 0
        return table, labels.astype(np.int64)

    def _fit_ranker(self, features: pd.DataFrame, labels: np.ndarray, groups: np.ndarray, names: list[str],
                    categorical: list[str]) -> lgb.LGBMModel:
        if labels.sum() == 0:
            raise ValueError("interactions: no held-out item is among the candidates; nothing to learn")
        params: dict[str, Any] = dict(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate, num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples, subsample=self.subsample, subsample_freq=1,
            colsample_bytree=self.colsample_bytree, random_state=self.random_state, n_jobs=self.n_jobs,
            verbose=-1, monotone_constraints=monotone_constraints(features.columns, names),
            monotone_constraints_method="intermediate")
        cats = [c for c in categorical if c in features.columns]
        if self.objective == "lambdarank":
            params["lambdarank_truncation_level"] = self.truncation_level
        if self.objective != "binary":
            return lgb.LGBMRanker(objective=self.objective, **params).fit(
                features, labels, group=groups, categorical_feature=cats or "auto")
        return lgb.LGBMClassifier(objective="binary", **params).fit(
            features, labels, categorical_feature=cats or "auto")

    def _score(self, user_rows: np.ndarray) -> np.ndarray:
        table = candidate_table(self.generators_, self.matrix_, self.context_, user_rows, self.n_candidates)
        # Bagging: the rankers of every repeat (different fold partitions) vote by their mean score.
        pred = np.mean([np.asarray(m.predict_proba(table.features))[:, 1] if isinstance(m, lgb.LGBMClassifier)
                        else m.predict(table.features) for m in self.models_], axis=0)
        # Equal predictions (trees are piecewise constant) fall back to the first generator's order.
        first_rank = table.features[f"{self.generators_[0][0]}_rank"].to_numpy()
        tie_break = 1e-9 * (1.0 - first_rank / max(1, self.matrix_.shape[1]))
        out = np.full((len(user_rows), self.matrix_.shape[1]), -np.inf)
        out[table.positions, table.item_cols] = pred + tie_break
        return out
