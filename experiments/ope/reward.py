"""The reward model q̂(x, a, k) that doubly robust estimation needs, cross-fitted like obp's RegressionModel.

obp 0.5.7's ``RegressionModel.fit_predict`` (fitting_method ``normal``) fits one classifier per position
on features ``[context, action_context[action]]`` and, with ``n_folds`` > 1, predicts every row with the
models trained on the other folds (cross-fitting keeps DR's correction term honest: a row's own reward
never informs its prediction). This module does the same with one change: folds come from a passed-in
``numpy.random.Generator`` (obp: sklearn ``KFold(shuffle=True, random_state)``), and a fold whose
training rows hold a single reward value predicts that value (a classifier cannot be fitted to one class).

Classifiers: ``logistic`` (scikit-learn, the C and iteration cap of obp's example configuration) or
``lightgbm`` (a small boosted model; probabilities, as obp takes ``predict_proba[:, 1]`` of classifiers).
"""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np

RewardModelKind = Literal["logistic", "lightgbm"]
REWARD_MODELS: tuple[RewardModelKind, ...] = ("logistic", "lightgbm")
N_FOLDS = 3  # obp's examples cross-fit DR's regression model with 3 folds


class _Classifier(Protocol):
    def fit(self, x: np.ndarray, y: np.ndarray) -> object: ...

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...


class _Constant:
    """What a fold with a single observed reward value predicts: that value."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = np.full(len(x), self.value)
        return np.column_stack([1 - p, p])


def make_classifier(kind: RewardModelKind, rng: np.random.Generator) -> _Classifier:
    """A fresh binary classifier of ``kind``, seeded from ``rng``."""
    seed = int(rng.integers(0, 2**31 - 1))
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=100.0, max_iter=10_000, random_state=seed)
    if kind == "lightgbm":
        from lightgbm import LGBMClassifier

        # Small and single-threaded: the machine is shared and click logs are tiny and sparse.
        return LGBMClassifier(n_estimators=100, learning_rate=0.05, num_leaves=15, min_child_samples=20,
                              random_state=seed, n_jobs=1, verbose=-1)
    raise ValueError(f"reward_model: unknown {kind!r} (known: {', '.join(REWARD_MODELS)})")


def fold_ids(n: int, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold of each of ``n`` rows: a shuffled split into ``n_folds`` near-equal parts (as KFold(shuffle=True))."""
    if not 1 <= n_folds <= n:
        raise ValueError(f"n_folds: must be in [1, {n}], got {n_folds}")
    fold = np.empty(n, dtype=np.int64)
    for k, part in enumerate(np.array_split(rng.permutation(n), n_folds)):
        fold[part] = k
    return fold


class CrossFitted:
    """One classifier per (group, fold), each trained on the group's rows outside the fold.

    ``group`` is obp's position (one model per position); pass zeros for a single model. With one fold
    every model is trained on all of its group's rows, as obp does for ``n_folds=1``.
    """

    def __init__(self, kind: RewardModelKind, n_folds: int = N_FOLDS) -> None:
        self.kind = kind
        self.n_folds = n_folds
        self.models: dict[tuple[int, int], _Classifier | _Constant] = {}

    def fit(self, x: np.ndarray, reward: np.ndarray, group: np.ndarray, fold: np.ndarray,
            rng: np.random.Generator) -> CrossFitted:
        """Train every (group, fold) model on ``x`` → ``reward`` (binary)."""
        if x.ndim != 2 or len(x) != len(reward):
            raise ValueError(f"x: must be 2D with one row per reward, got shape {x.shape} for {len(reward)} rewards")
        for g in np.unique(group):
            for k in range(self.n_folds):
                train = (group == g) & ((fold != k) if self.n_folds > 1 else True)
                y = reward[train]
                if len(y) == 0:
                    raise ValueError(f"position: no training rows for position {g} outside fold {k}")
                if np.all(y == y[0]):
                    self.models[(int(g), k)] = _Constant(float(y[0]))
                    continue
                model = make_classifier(self.kind, rng)
                model.fit(x[train], y)
                self.models[(int(g), k)] = model
        return self

    def predict(self, x: np.ndarray, group: np.ndarray, fold: np.ndarray) -> np.ndarray:
        """P(reward = 1) of each query row by the model of its (group, fold)."""
        out = np.empty(len(x))
        fold = fold if self.n_folds > 1 else np.zeros_like(fold)
        for (g, k), model in self.models.items():
            rows = np.flatnonzero((group == g) & (fold == k))
            if len(rows):
                out[rows] = model.predict_proba(x[rows])[:, 1]
        return out


def q_hat_by_action(context: np.ndarray, action: np.ndarray, reward: np.ndarray, position: np.ndarray,
                    action_context: np.ndarray, len_list: int, kind: RewardModelKind, rng: np.random.Generator,
                    n_folds: int = N_FOLDS) -> np.ndarray:
    """obp's ``RegressionModel(...).fit_predict``: q̂ of shape (n, n_actions, len_list), cross-fitted."""
    n, n_actions = len(action), len(action_context)
    fold = fold_ids(n, n_folds, rng)
    model = CrossFitted(kind, n_folds).fit(np.c_[context, action_context[action]], reward, position, fold, rng)
    q_hat = np.empty((n, n_actions, len_list))
    for k in range(len_list):
        for a in range(n_actions):
            x = np.c_[context, np.broadcast_to(action_context[a], (n, action_context.shape[1]))]
            q_hat[:, a, k] = model.predict(x, np.full(n, k), fold)
    return q_hat

