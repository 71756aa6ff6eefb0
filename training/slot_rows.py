"""Training rows of a slot ranker: point-in-time frames, user × account factors, rows borrowed from a sibling.

Embedding similarity comes from ALS factors, which are fitted on interactions; a row whose own click went into
the factors would see its label. So the factors a row sees are fitted on the days strictly before the row's
half of the training days: rows of the second half see factors of the first half, rows of the first half see
none (the value is missing, which LightGBM handles, and every other feature still learns from them). Held-out
rows, like served requests, see factors of all the training days.

A feature set listed in :data:`features.featuresets.TRANSFER` also learns from its source set's impressions,
with each column taken from its counterpart there (see :func:`features.featuresets.transfer_columns`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from features.definitions import FeatureSet, provided_names
from features.featuresets import SLOT_FEATURE_SET, TRANSFER, get_feature_set, transfer_columns
from features.offline import DataSource, build_frame
from features.settings import FeatureSettings
from ranking.affinity import Affinity
from training.impressions import ImpressionRows, impression_rows
from training.row_sampling import downsample_negatives

PROVIDED_DEFAULTS = {"embedding_similarity": 0.0, "position": 0.0}


def fit_affinity(tables: dict[str, pa.Table], until_ms: int, random_state: int) -> Affinity | None:
    """ALS factors of user × account interactions logged before ``until_ms``."""
    from training.embeddings import make_embeddings
    from training.embeddings_interactions import Interactions, interaction_pairs

    ev = tables["events"]
    before = pa.compute.less(ev.column("event_time").cast(pa.int64()), until_ms)
    pairs = interaction_pairs(ev.filter(before), target="account", posts=tables["posts"],
                              products=tables["products"])
    if len(pairs) < 10:
        return None
    model = make_embeddings("als", factors=16, iterations=10, random_state=random_state, num_threads=1)
    model.fit(Interactions.from_pairs(pairs))
    return Affinity(model.user_ids_, np.asarray(model.user_factors_), model.item_ids_,
                    np.asarray(model.item_factors_))


@dataclass(frozen=True)
class Factors:
    """The factors rows see by time: none before ``cut``, ``early`` until ``split_ms``, ``full`` from then on."""

    cut: int
    split_ms: int
    early: Affinity | None
    full: Affinity | None

    @classmethod
    def fit(cls, tables: dict[str, pa.Table], first_ms: int, split_ms: int, random_state: int) -> Factors:
        """Factors of the first half of the training days ``[first_ms, split_ms)`` and of all of them."""
        cut = int(first_ms + (split_ms - first_ms) // 2)
        return cls(cut, split_ms, fit_affinity(tables, cut, random_state),
                   fit_affinity(tables, split_ms, random_state))

    def similarity(self, rows: pa.Table, t: np.ndarray) -> np.ndarray | None:
        """Each row's user-account similarity under the factors it may see (``None`` without factors)."""
        if self.full is None:
            return None
        users, accounts = rows.column("user_id").to_numpy(), rows.column("account_id").to_numpy()
        out = np.full(len(t), np.nan)  # rows before the cut see no factors
        late = t >= self.split_ms
        out[late] = self.full.similarity(users[late], accounts[late])
        early = (t >= self.cut) & ~late
        if self.early is not None:
            out[early] = self.early.similarity(users[early], accounts[early])
        return out


def with_provided(rows: pa.Table, fs: FeatureSet, values: dict[str, np.ndarray] | None = None) -> pa.Table:
    """Add the caller-provided columns the feature set reads (defaults where not given)."""
    values = values or {}
    for name in provided_names(fs):
        column = values.get(name, np.full(rows.num_rows, PROVIDED_DEFAULTS.get(name, 0.0)))
        rows = rows.append_column(name, pa.array(np.asarray(column, np.float64)))
    return rows


def slot_frame(tables: dict[str, pa.Table], rows: ImpressionRows, fs: FeatureSet, factors: Factors,
               features: FeatureSettings | None) -> np.ndarray:
    """Point-in-time feature matrix of impression rows (logged positions, similarity under ``factors``)."""
    t = rows.rows.column("request_ms").to_numpy()
    provided = {"position": rows.position.astype(np.float64)}
    similarity = factors.similarity(rows.rows, t)
    if similarity is not None:
        provided["embedding_similarity"] = similarity
    return build_frame(fs, with_provided(rows.rows, fs, provided), DataSource(tables), settings=features).values


@dataclass(frozen=True)
class Borrowed:
    """A sibling slot's training rows in this slot's columns."""

    X: np.ndarray
    labels: dict[str, np.ndarray]
    propensity: np.ndarray
    weight: np.ndarray  # of each row in the sample (1 unless negatives were sampled)


def borrowed_rows(tables: dict[str, pa.Table], fs: FeatureSet, factors: Factors,
                  features: FeatureSettings | None, max_rows: int | None = None,
                  rng: np.random.Generator | None = None) -> Borrowed | None:
    """The training impressions (before ``factors.split_ms``) of ``fs``'s transfer source, if it has one; past
    ``max_rows`` their negatives are sampled with ``rng`` (:func:`training.row_sampling.downsample_negatives`)."""
    if fs.name not in TRANSFER:
        return None
    source = get_feature_set(TRANSFER[fs.name][0])
    slot = next(s for s, name in SLOT_FEATURE_SET.items() if name == source.name)
    rows = impression_rows(tables, slot)
    t = rows.rows.column("request_ms").to_numpy()
    rows = rows.take(t < factors.split_ms)
    if len(rows) == 0:
        return None
    weight = np.ones(len(rows))
    if max_rows is not None:
        if rng is None:
            raise ValueError("rng: a generator is needed to sample borrowed rows")
        sample = downsample_negatives(rows.labels, max_rows, rng)
        if sample.sampled:
            rows, weight = rows.subset(sample.index), sample.weight
    X = slot_frame(tables, rows, source, factors, features)
    out = np.full((len(rows), len(fs.columns)), np.nan, dtype=X.dtype)
    for j, column in enumerate(transfer_columns(fs, source)):
        if column is not None:
            out[:, j] = X[:, source.columns.index(column)]
    return Borrowed(out, rows.labels, rows.propensity, weight)

