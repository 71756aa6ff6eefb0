"""Train one slot ranker from contract tables: rows → point-in-time features → heads → held-out metrics.

The split is temporal: impressions before ``split_ms`` train, impressions at or after it are held out
(the rows, the factors they see and the rows borrowed from a sibling slot: ``training.slot_rows``).
Position is a feature during training (it explains logged clicks) and is fixed to 0 when ranking, so the
model scores what an item would earn at the top of the page.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from sklearn.metrics import roc_auc_score

from features.definitions import FeatureSet
from features.featuresets import SLOT_FEATURE_SET, get_feature_set
from features.settings import FeatureSettings
from ranking.affinity import Affinity
from ranking.model_store import seal_model_dir
from training.impressions import ImpressionRows, impression_rows
from training.ranker import HEADS, MultiHeadRanker
from training.ranker_settings import RankerSettings
from training.row_sampling import RowSample, downsample_negatives, sample_pages
from training.slot_rows import Factors, borrowed_rows, slot_frame


@dataclass
class SlotTraining:
    """A fitted slot ranker with what it was trained on and how it did on the held-out days."""

    slot: str
    model: MultiHeadRanker
    feature_set: FeatureSet
    metrics: dict[str, Any]
    split_id: str
    data_snapshot_id: str
    params: dict[str, Any] = field(default_factory=dict)
    held_out: dict[str, Any] = field(default_factory=dict, repr=False)
    affinity: Affinity | None = None

    def plots(self) -> dict[str, Any]:
        """Feature importance, calibration and gain-by-position figures of the held-out days."""
        from training import plots  # matplotlib only when plots are asked for

        h = self.held_out
        probs = self.model.predict_heads(h["X"])
        return {"feature_importance.png": plots.feature_importance(self.model),
                "calibration.png": plots.calibration(probs, h["labels"]),
                "gain_by_position.png": plots.gain_by_position(h["position"], h["labels"]["click"],
                                                               probs["click"])}

    def save(self, folder: Path, config_hash: str) -> Path:
        """Write the model directory (heads as LightGBM text, meta.json) for tracking and serving."""
        fs = self.feature_set
        meta = {"kind": "slot_ranker", "slot": self.slot, "config_hash": config_hash,
                "feature_set": {"name": fs.name, "version": fs.version, "fingerprint": fs.fingerprint,
                                "columns": list(fs.columns)},
                "split_id": self.split_id, "data_snapshot_id": self.data_snapshot_id,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
        self.model.save(folder, meta)
        if self.affinity is not None:
            self.affinity.save(folder)
        seal_model_dir(folder)
        return folder


def snapshot_id(tables: dict[str, pa.Table]) -> str:
    """A short id of the data a model saw: row counts and the last event time."""
    ev = tables["events"]
    last = ev.column("event_time").cast(pa.int64()).to_numpy().max(initial=0)
    blob = ",".join(f"{k}={t.num_rows}" for k, t in sorted(tables.items())) + f",last={last}"
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _held_out_metrics(model: MultiHeadRanker, X: np.ndarray, X_top: np.ndarray,
                      rows: ImpressionRows) -> dict[str, Any]:
    """Per-head AUC at the logged positions; page nDCG of re-ordering with every item scored on top."""
    probs = model.predict_heads(X)
    out: dict[str, Any] = {"rows": int(len(X))}
    for head, p in probs.items():
        y = rows.labels[head]
        if 0 < y.sum() < len(y):
            out[f"{head}.auc"] = float(roc_auc_score(y, p))
        out[f"{head}.positive_rate"] = float(y.mean()) if len(y) else 0.0
    gain = rows.labels["click"] + rows.labels["engage"] * 1.0 + rows.labels["purchase"] * 2.0
    out["ndcg_at_10"] = page_ndcg(rows.request_id, model.predict(X_top), gain.astype(float))
    return out


def page_ndcg(request: np.ndarray, score: np.ndarray, gain: np.ndarray, k: int = 10) -> float:
    """Mean nDCG@k of re-ordering each logged page by ``score`` (pages without any gain are skipped)."""
    order = np.lexsort((-score, request))
    req, g = request[order], gain[order]
    first = np.searchsorted(req, req)
    rank = np.arange(len(req)) - first
    ideal_order = np.lexsort((-gain, request))
    ig = gain[ideal_order]
    disc = np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0)
    _, inverse = np.unique(req, return_inverse=True)
    dcg = np.bincount(inverse, weights=g * disc)
    idcg = np.bincount(inverse, weights=ig * disc)
    has = idcg > 0
    return float(np.mean(dcg[has] / idcg[has])) if has.any() else 0.0


def propensity_weights(propensity: np.ndarray, clip: float) -> np.ndarray | None:
    """1/propensity capped at ``clip`` and scaled to mean 1 (``None`` when ``clip`` is 0: unweighted)."""
    if clip <= 0:
        return None
    w = np.minimum(1.0 / np.maximum(propensity, 1.0 / clip), clip)
    return w / w.mean() if len(w) else w


@dataclass(frozen=True)
class RowCaps:
    """Rows a slot ranker featurises at most: training impressions (negatives sampled past it) and held-out
    impressions (whole pages sampled past it)."""

    train: int
    held: int


def bounded_rows(rows: ImpressionRows, split_ms: int, caps: RowCaps | None,
                 rng: np.random.Generator) -> tuple[ImpressionRows, RowSample, np.ndarray, np.ndarray]:
    """The rows to featurise (training rows first sampled to ``caps.train``, held-out pages to ``caps.held``), the
    training sample's weights, and the masks of training and held-out rows among them."""
    t = rows.rows.column("request_ms").to_numpy()
    train, held = t < split_ms, t >= split_ms
    if caps is None:
        n = int(train.sum())
        return rows, RowSample(np.arange(n), np.ones(n), 1.0), train, held
    train_idx = np.flatnonzero(train)
    sample = downsample_negatives({h: v[train_idx] for h, v in rows.labels.items()}, caps.train, rng)
    keep = np.zeros(len(t), bool)
    keep[train_idx[sample.index]] = True
    held_idx = np.flatnonzero(held)
    keep[held_idx[sample_pages(rows.request_id[held_idx], caps.held, rng)]] = True
    kept = rows.take(keep)
    t = kept.rows.column("request_ms").to_numpy()
    return kept, sample, t < split_ms, t >= split_ms


def train_slot_with(tables: dict[str, pa.Table], slot: str, split_ms: int, rankers: RankerSettings,
                    features: FeatureSettings) -> SlotTraining:
    """:func:`train_slot` with the blend, LightGBM parameters, seed and engine of the settings tree
    (``rankers.engine = "dask"``: the heads are fitted on the cluster of ``features.dask_scheduler``)."""
    def train(client: Any = None) -> SlotTraining:
        return train_slot(tables, slot, split_ms=split_ms, blend=rankers.blend.model_dump(), params=rankers.params(),
                          features=features, random_state=rankers.random_state, client=client,
                          propensity_clip=rankers.propensity_clip, transfer_weight=rankers.transfer_weight,
                          max_rows=RowCaps(rankers.max_train_rows, rankers.max_held_rows))

    if rankers.engine == "inprocess":
        return train()
    from features.offline_dask import dask_client  # distributed only when the settings ask for it

    with dask_client(features) as client:
        return train(client)


def train_slot(tables: dict[str, pa.Table], slot: str, *, split_ms: int, blend: dict[str, float],
               params: dict[str, Any] | None = None, features: FeatureSettings | None = None,
               random_state: int = 0, client: Any = None, propensity_clip: float = 0.0,
               transfer_weight: float = 0.0, max_rows: RowCaps | None = None) -> SlotTraining:
    """Fit the slot's ranker on impressions before ``split_ms`` and score it on those after.

    With ``transfer_weight`` > 0 a feature set with a transfer source also learns from the source slot's
    impressions, each weighing that much (``training.slot_rows``). With a ``distributed.Client`` the heads are
    trained by ``lightgbm.dask`` on its workers. ``max_rows`` bounds the rows featurised
    (:mod:`training.row_sampling`); without it every impression is used.
    """
    if slot not in SLOT_FEATURE_SET:
        raise ValueError(f"slot: {slot!r} has no ranker (known: {', '.join(SLOT_FEATURE_SET)})")
    fs = get_feature_set(SLOT_FEATURE_SET[slot])
    rows = impression_rows(tables, slot)
    if len(rows) == 0:
        raise ValueError(f"slot: no logged impressions of {slot!r} to train on")
    t = rows.rows.column("request_ms").to_numpy()
    if not (t < split_ms).any() or not (t >= split_ms).any():
        raise ValueError(f"split_ms: {split_ms} leaves an empty train or held-out part")
    factors = Factors.fit(tables, int(t.min()), split_ms, random_state)
    rng = np.random.default_rng(random_state)
    rows, sample, train, held = bounded_rows(rows, split_ms, max_rows, rng)
    X = slot_frame(tables, rows, fs, factors, features)
    X_train, labels = X[train], {h: v[train] for h, v in rows.labels.items()}
    propensity, share = rows.propensity[train], sample.weight
    borrowed = (borrowed_rows(tables, fs, factors, features, max_rows.train if max_rows else None, rng)
                if transfer_weight > 0 else None)
    if borrowed is not None:
        X_train = np.concatenate([X_train, borrowed.X])
        labels = {h: np.concatenate([v, borrowed.labels[h]]) for h, v in labels.items()}
        propensity = np.concatenate([propensity, borrowed.propensity])
        share = np.concatenate([share, transfer_weight * borrowed.weight])
    weight = propensity_weights(propensity, propensity_clip)
    weight = share if weight is None else weight * share
    model = MultiHeadRanker(heads=HEADS, blend=blend, random_state=random_state, **dict(params or {}))
    if client is None:
        model.fit(X_train, labels, feature_names=fs.columns, sample_weight=weight)
    else:
        from training.ranker_dask import fit_dask  # the Dask path only when a cluster is given

        fit_dask(model, X_train, labels, client, feature_names=fs.columns, sample_weight=weight)
    held_rows = rows.take(held)
    X_held = X[held].copy()
    if "position" in fs.columns:  # score every logged item as if it were on top
        X_held[:, fs.columns.index("position")] = 0.0
    metrics = _held_out_metrics(model, X[held], X_held, held_rows)
    metrics["borrowed_rows"] = 0 if borrowed is None else len(borrowed.X)
    # shares of the training impressions without and with an action that were kept (1.0: all)
    metrics |= {"train_rows": int(train.sum()), "train_negatives_kept": sample.negative_rate,
                "train_positives_kept": sample.positive_rate, "held_rows": int(held.sum())}
    split_id = f"temporal-{split_ms}"
    held_out = {"X": X[held], "labels": held_rows.labels, "position": held_rows.position}
    logged = {**dict(params or {}), "engine": "inprocess" if client is None else "dask"}
    if max_rows is not None:  # what bounded the rows is part of how the model was made
        logged |= {"max_train_rows": max_rows.train, "max_held_rows": max_rows.held}
    return SlotTraining(slot, model, fs, metrics, split_id, snapshot_id(tables), logged, held_out, factors.full)
