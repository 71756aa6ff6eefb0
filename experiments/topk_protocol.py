"""The top-k protocol: train/test splits of interaction pairs and top-10 scoring, as published tables use them.

* :func:`stratified_split` reproduces microsoft/recommenders 1.2.1 ``python_stratified_split`` row for row
  (the protocol of its MovieLens-100k table): one uniform draw per row in input order from the stream that
  seed gives numpy's legacy generator (recommenders seeds numpy's global one; here a local
  ``RandomState(seed)`` gives the same stream and touches no global state), rows sorted by (user, that
  number), and per user the first ``round(ratio · n)`` rows (numpy's round, half to even) go to train.
  recommenders is not a dependency; its algorithm is re-implemented here.
* :func:`temporal_split` is the temporal protocol of this project: **per user**, the last ``1 - ratio`` of
  the user's interactions by time are the test (recommenders' ``python_chrono_split`` semantics; ties in
  time keep input order). Chosen over a global cut-off because every user with two or more interactions is
  then evaluated (as in the stratified protocol, so the numbers compare) and data sets whose events share one
  timestamp (Last.fm) still split; the price is that other users' later interactions can be in training.
* :func:`score_topk` scores a top-k list with :mod:`experiments.metrics` (recommenders' definitions):
  ``map`` is ``mean_average_precision`` (the published table's MAP), ``map_at_k`` the normalised-by-k one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.metrics import (
    map_at_k,
    mean_average_precision,
    ndcg_at_k,
    precision_at_k,
    ranking_data,
    recall_at_k,
)

#: Metric names of :func:`score_topk`, in table order.
METRICS: tuple[str, ...] = ("map", "map_at_k", "ndcg_at_k", "precision_at_k", "recall_at_k")

#: microsoft/recommenders' published MovieLens-100k table (stratified 75/25 split, seed 42, top-10).
PUBLISHED: dict[str, dict[str, float]] = {
    "BiVAE": {"map": 0.146, "ndcg_at_k": 0.475, "precision_at_k": 0.412, "recall_at_k": 0.219},
    "BPR": {"map": 0.132, "ndcg_at_k": 0.442, "precision_at_k": 0.388, "recall_at_k": 0.213},
    "SAR": {"map": 0.111, "ndcg_at_k": 0.382, "precision_at_k": 0.331, "recall_at_k": 0.176},
}


def _check_ratio(ratio: float) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, float | int) or not 0.0 < float(ratio) < 1.0:
        raise ValueError(f"ratio: must be a float strictly between 0 and 1, got {ratio!r}")
    return float(ratio)


def _check_columns(frame: pd.DataFrame, *columns: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns))
        raise ValueError(f"data: missing column(s) {', '.join(missing)} (columns: {have})")


def _first_share(frame: pd.DataFrame, sort_keys: list[np.ndarray], user: np.ndarray, ratio: float,
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sort rows by ``sort_keys`` (last key primary, numpy lexsort), then per user the first
    ``round(ratio · n)`` rows are train and the rest test; both keep the sorted order."""
    order = np.lexsort(sort_keys)
    ordered = frame.iloc[order]
    u = user[order]
    starts = np.r_[True, u[1:] != u[:-1]] if len(u) else np.zeros(0, dtype=bool)
    idx = np.arange(len(u))
    rank = idx - np.maximum.accumulate(np.where(starts, idx, 0)) + 1
    _, inverse, counts = np.unique(u, return_inverse=True, return_counts=True)
    in_train = rank <= np.round(ratio * counts[inverse])
    return ordered[in_train], ordered[~in_train]


def stratified_split(data: pd.DataFrame, *, ratio: float = 0.75, col_user: str = "user", col_item: str = "item",
                     seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user random split, identical to recommenders 1.2.1 ``python_stratified_split`` (filter by user).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per interaction, in the order recommenders would read them (the file order).
    ratio : float
        Share of each user's rows in train (``0 < ratio < 1``).
    col_user, col_item : str
        Column names (``col_item`` is only checked, as recommenders does).
    seed : int
        Seed of the per-row random numbers.

    Returns
    -------
    (train, test) : tuple of pandas.DataFrame
        Rows of ``data`` (same columns and index), each sorted by user then by the random number.
    """
    ratio = _check_ratio(ratio)
    _check_columns(data, col_user, col_item)
    draws = np.random.RandomState(seed).random_sample(len(data))
    user = data[col_user].to_numpy()
    return _first_share(data, [draws, user], user, ratio)


def temporal_split(data: pd.DataFrame, *, ratio: float = 0.75, col_user: str = "user", col_time: str = "time",
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user chronological split: each user's earliest ``round(ratio · n)`` rows train, the rest test.

    Rows with equal times keep their input order. Returns ``(train, test)``, each sorted by user then time.
    """
    ratio = _check_ratio(ratio)
    _check_columns(data, col_user, col_time)
    user = data[col_user].to_numpy()
    return _first_share(data, [np.arange(len(data)), data[col_time].to_numpy(), user], user, ratio)


def split_table(train: pd.DataFrame, test: pd.DataFrame, *, col_user: str = "user", col_item: str = "item",
                ) -> pd.DataFrame:
    """The split as one frame ``user, item, split`` (``"train"``/``"test"``), sorted by user and item."""
    parts = [pd.DataFrame({"user": f[col_user].to_numpy(), "item": f[col_item].to_numpy(), "split": name})
             for name, f in (("train", train), ("test", test))]
    return pd.concat(parts, ignore_index=True).sort_values(["user", "item"], kind="stable").reset_index(drop=True)


def check_recs(recs: pd.DataFrame, train: pd.DataFrame, *, k: int = 10, col_user: str = "user",
               col_item: str = "item") -> None:
    """Raise ``ValueError`` unless ``recs`` (``user, item, rank``) is a valid top-``k`` list: ranks 1..k
    without gaps per user, no repeated item per user and no item of the user's training rows."""
    _check_columns(recs, "user", "item", "rank")
    if len(recs) == 0:
        return
    if recs["rank"].min() < 1 or recs["rank"].max() > k:
        raise ValueError(f"recs: ranks must lie in 1..{k}")
    if recs.duplicated(["user", "item"]).any() or recs.duplicated(["user", "rank"]).any():
        raise ValueError("recs: a user has the same item or the same rank twice")
    seen = recs.merge(train[[col_user, col_item]].rename(columns={col_user: "user", col_item: "item"}),
                      on=["user", "item"])
    if len(seen):
        raise ValueError(f"recs: {len(seen)} recommended item(s) are in the user's training rows")


def score_topk(test: pd.DataFrame, recs: pd.DataFrame, *, k: int = 10, col_user: str = "user",
               col_item: str = "item") -> dict[str, float]:
    """Top-``k`` metrics of ``recs`` (``user, item, rank``; rank 1 best) against every row of ``test``.

    Returns ``{"map", "map_at_k", "ndcg_at_k", "precision_at_k", "recall_at_k"}`` with recommenders 1.2.1
    semantics (see :mod:`experiments.metrics.ranking`): nDCG averages over every test user, the others over
    users with both test rows and recommendations.
    """
    _check_columns(test, col_user, col_item)
    _check_columns(recs, "user", "item", "rank")
    data = ranking_data(test[col_user].to_numpy(), test[col_item].to_numpy(), recs["user"].to_numpy(),
                        recs["item"].to_numpy(), -recs["rank"].to_numpy(np.float64), k=k)
    return {
        "map": mean_average_precision(data), "map_at_k": map_at_k(data), "ndcg_at_k": ndcg_at_k(data),
        "precision_at_k": precision_at_k(data), "recall_at_k": recall_at_k(data),
    }
