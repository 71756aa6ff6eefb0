"""Candidate generation and the features of every (user, candidate) pair, for the re-ranker.

Candidates of a user are the union of each generator's ``n`` best unseen items. Every pair carries, per
generator, its score standardised over the user's unseen items (``<g>_z``) and its rank among them
(``<g>_rank``, 0 = best), then context that needs no generator: the user's and the item's activity in the
training matrix, the time between the item's first interaction and the user's last, the user's affinity to
the item's groups (share of the user's items carrying one of the candidate's labels), one 0/1 column per
label of small group families (genres), the side columns, the candidate's numeric attributes against the
user's mean (release year − the user's mean year) and the user's attributes against the candidate's audience
(age − the mean age of its users; the share of its users in the user's own occupation).

Only ``<g>_z`` and ``<g>_rank`` have a known direction (a better score never makes a candidate worse), which
:func:`monotone_constraints` hands to LightGBM: without it the trees reorder a user's candidates by noise
whenever the generators were fitted on less data than at prediction time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from training.embeddings_interactions import Interactions
from training.topk.base import TopKModel
from training.topk.side import SideFeatures

DAY_MS = 86_400_000.0
#: Group families with at most this many labels also become one 0/1 column per label.
MAX_FLAG_LABELS = 32


@dataclass(frozen=True)
class CandidateTable:
    """Pairs (``user_rows[j]``, ``item_cols[j]``) in the order of the rows asked for, one feature row each.

    ``positions[j]`` is the index of ``user_rows[j]`` in the rows given to :func:`candidate_table`.
    """

    positions: np.ndarray
    user_rows: np.ndarray
    item_cols: np.ndarray
    features: pd.DataFrame


class PairContext:
    """Per-user and per-item context of one training matrix, looked up for candidate pairs."""

    def __init__(self, interactions: Interactions, side: SideFeatures | None) -> None:
        x = interactions.binary()
        n_user = np.asarray(x.sum(axis=1)).ravel()
        n_item = np.asarray(x.sum(axis=0)).ravel()
        w = interactions.matrix
        self.user = {"user_n": n_user, "user_mean_weight": _safe_div(np.asarray(w.sum(axis=1)).ravel(), n_user)}
        self.item = {"item_share": n_item / max(1.0, n_item.sum()),
                     "item_mean_weight": _safe_div(np.asarray(w.sum(axis=0)).ravel(), n_item)}
        if interactions.times is not None:
            self.user["user_last_ms"], self.item["item_first_ms"] = _extremes(interactions.times)
        self.side = side if side is not None else SideFeatures()
        self.user_side = self.side.user_matrix(interactions.user_ids)
        self.item_side = self.side.item_matrix(interactions.item_ids)
        self.affinity: dict[str, tuple[sp.csr_matrix, sp.csr_matrix]] = {}
        self.flags: dict[str, np.ndarray] = {}
        for family in self.side.groups:
            labels = self.side.group_matrix(family, interactions.item_ids)
            profile = sp.csr_matrix(sp.diags(_safe_div(np.ones_like(n_user), n_user)) @ (x @ labels))
            self.affinity[family] = (profile, labels)
            if labels.shape[1] <= MAX_FLAG_LABELS:  # few labels (genres): also one 0/1 column each
                names = np.unique(self.side.groups[family]["label"].to_numpy())
                for j, label in enumerate(names):
                    self.flags[f"{family}_{label}"] = labels[:, j].toarray().ravel()
        # The user's mean of each numeric item attribute (e.g. release year) over the user's items.
        numeric = [j for j, c in enumerate(self.side.items.columns) if c not in self.side.categorical]
        self.numeric_items = [(str(self.side.items.columns[j]), j) for j in numeric]
        self.user_item_means = _row_means(x, self.item_side[:, numeric]) if numeric else np.zeros((x.shape[0], 0))
        # And the other way round: each item's audience, by the users' attributes (mean age, share of the
        # user's own occupation among the item's users).
        self.user_columns = [(str(c), j, c in self.side.categorical) for j, c in enumerate(self.side.users.columns)]
        self.item_user_means = _row_means(x.T.tocsr(), self.user_side) if self.user_columns else None
        self.item_same_category = {
            name: _category_shares(x, self.user_side[:, j]) for name, j, cat in self.user_columns if cat}

    def features(self, rows: np.ndarray, cols: np.ndarray) -> dict[str, np.ndarray]:
        """Context columns of the pairs ``(rows[j], cols[j])``."""
        out = {"user_n": self.user["user_n"][rows], "user_mean_weight": self.user["user_mean_weight"][rows],
               "item_share": self.item["item_share"][cols], "item_mean_weight": self.item["item_mean_weight"][cols]}
        if "user_last_ms" in self.user:
            out["item_first_minus_user_last_days"] = (
                self.item["item_first_ms"][cols] - self.user["user_last_ms"][rows]) / DAY_MS
        for family, (profile, labels) in self.affinity.items():
            hits = np.asarray(profile[rows].multiply(labels[cols]).sum(axis=1)).ravel()
            out[f"affinity_{family}"] = _safe_div(hits, np.asarray(labels[cols].sum(axis=1)).ravel())
        for j, name in enumerate(self.side.users.columns):
            out[f"user_{name}"] = self.user_side[rows, j]
        for j, name in enumerate(self.side.items.columns):
            out[f"item_{name}"] = self.item_side[cols, j]
        for k, (name, j) in enumerate(self.numeric_items):
            out[f"item_{name}_minus_user_mean"] = self.item_side[cols, j] - self.user_item_means[rows, k]
        for name, values in self.flags.items():
            out[f"flag_{name}"] = values[cols]
        for name, j, cat in self.user_columns:
            if cat:
                codes, shares = self.item_same_category[name]
                out[f"item_share_same_{name}"] = _lookup_share(shares, cols, codes[rows])
            elif self.item_user_means is not None:
                out[f"user_{name}_minus_item_mean"] = self.user_side[rows, j] - self.item_user_means[cols, j]
        return out

    def categorical(self) -> list[str]:
        """Names of the side columns that are category codes."""
        cats = set(self.side.categorical)
        return [f"user_{c}" for c in self.side.users.columns if c in cats] + [
            f"item_{c}" for c in self.side.items.columns if c in cats]


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros(len(a), dtype=np.float64), where=np.asarray(b) > 0)


def _row_means(x: sp.csr_matrix, values: np.ndarray) -> np.ndarray:
    """Per row of the 0/1 matrix ``x``: mean of ``values`` over the row's items, ignoring NaN."""
    known = ~np.isnan(values)
    sums = x @ np.where(known, values, 0.0)
    counts = x @ known.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1e-12), np.nan)


def _category_shares(x: sp.csr_matrix, user_codes: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix]:
    """``(code per user (-1 unknown), items × codes share of each item's users in each category)``."""
    known = ~np.isnan(user_codes)
    codes = np.where(known, user_codes, -1).astype(np.int64)
    n_codes = int(codes.max()) + 1 if known.any() else 0
    rows = np.flatnonzero(known)
    onehot = sp.csr_matrix((np.ones(len(rows)), (rows, codes[rows])), shape=(x.shape[0], max(1, n_codes)))
    counts = (x.T @ onehot).tocsr()
    n_item = np.asarray(x.sum(axis=0)).ravel()
    return codes, sp.csr_matrix(sp.diags(_safe_div(np.ones_like(n_item), n_item)) @ counts)


def _lookup_share(shares: sp.csr_matrix, cols: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``shares[cols[j], codes[j]]``, NaN where the code is unknown."""
    known = codes >= 0
    out = np.full(len(cols), np.nan)
    out[known] = np.asarray(shares[cols[known], codes[known]]).ravel()
    return out


def _extremes(times: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Each user's last and each item's first interaction time (NaN when none)."""
    coo = times.tocoo()
    last = np.full(times.shape[0], -np.inf)
    np.maximum.at(last, coo.row, coo.data)
    first = np.full(times.shape[1], np.inf)
    np.minimum.at(first, coo.col, coo.data)
    return np.where(np.isfinite(last), last, np.nan), np.where(np.isfinite(first), first, np.nan)


def _standardise(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: z-scores over the finite entries and 0-based ranks (non-finite entries rank last)."""
    finite = np.isfinite(scores)
    masked = np.where(finite, scores, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(masked, axis=1, keepdims=True)
        std = np.nanstd(masked, axis=1, keepdims=True)
    z = (masked - mean) / np.where(std > 0, std, 1.0)
    order = np.lexsort((np.broadcast_to(np.arange(scores.shape[1]), scores.shape),
                        -np.where(finite, scores, -np.inf)), axis=1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(scores.shape[1]), scores.shape), axis=1)
    return z, ranks


def candidate_table(generators: Sequence[tuple[str, TopKModel]], interactions: Interactions,
                    context: PairContext, rows: np.ndarray, n_candidates: int) -> CandidateTable:
    """Union of the generators' ``n_candidates`` best unseen items for ``rows``, with all pair features."""
    rows = np.asarray(rows, dtype=np.int64)
    seen = interactions.matrix[rows].tocoo()
    z_all, rank_all = {}, {}
    chosen = np.zeros((len(rows), interactions.shape[1]), dtype=bool)
    for name, model in generators:
        scores = model.score(rows)
        scores[seen.row, seen.col] = -np.inf
        z_all[name], rank_all[name] = _standardise(scores)
        chosen |= (rank_all[name] < n_candidates) & np.isfinite(scores)
    chosen[seen.row, seen.col] = False
    local, cols = np.nonzero(chosen)
    feats: dict[str, np.ndarray] = {}
    for name in z_all:
        feats[f"{name}_z"] = z_all[name][local, cols]
        feats[f"{name}_rank"] = rank_all[name][local, cols].astype(np.float64)
    feats.update(context.features(rows[local], cols))
    return CandidateTable(positions=local, user_rows=rows[local], item_cols=cols, features=pd.DataFrame(feats))


def monotone_constraints(columns: Sequence[str], generator_names: Sequence[str]) -> list[int]:
    """LightGBM constraints: +1 for ``<g>_z``, -1 for ``<g>_rank``, 0 for everything else."""
    up = {f"{g}_z" for g in generator_names}
    down = {f"{g}_rank" for g in generator_names}
    return [1 if c in up else -1 if c in down else 0 for c in columns]
