"""Train the amplifier: labelled fans-only posts → early features → LightGBM + calibration → held-out metrics.

The split is temporal by publication time: posts published before ``split_ms`` train (the latest of them
calibrate), posts published at or after it are held out. Features of every post are taken at its own
cut-off from earlier events only; a training post's label may use non-fan exposure up to the end of the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ranking.model_store import seal_model_dir
from training.amplifier.features import FEATURES, early_features
from training.amplifier.label import fans_only_posts, public_lift
from training.amplifier.log import PostLog
from training.amplifier.metrics import regression_metrics, spearman
from training.amplifier.model import AmplifierFeatureSet, AmplifierModel
from training.amplifier.settings import AmplifierSettings

SLOT = "amplifier"  # registry name suffix and run slot tag
MIN_TRAIN_POSTS = 20


@dataclass
class AmplifierTraining:
    """A fitted amplifier, what it was trained on and how it did on the held-out posts."""

    model: AmplifierModel
    metrics: dict[str, Any]
    split_id: str
    data_snapshot_id: str
    early_hours: float
    params: dict[str, Any] = field(default_factory=dict)
    held_out: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    feature_set: AmplifierFeatureSet = field(default_factory=AmplifierFeatureSet)

    def plots(self) -> dict[str, Figure]:
        """Feature importance and held-out calibration figures."""
        from training.amplifier import plots  # matplotlib only when plots are asked for

        h = self.held_out
        return {"feature_importance.png": plots.feature_importance(self.model),
                "calibration.png": plots.calibration(h["raw"], h["pred"], h["label"])}

    def save(self, folder: Path, config_hash: str) -> Path:
        """Write the sealed model folder (LightGBM text, calibration npz, meta.json) for tracking."""
        fs = self.feature_set
        meta = {"kind": SLOT, "slot": SLOT, "config_hash": config_hash, "early_hours": self.early_hours,
                "feature_set": {"name": fs.name, "version": fs.version, "fingerprint": fs.fingerprint,
                                "columns": list(fs.columns)},
                "split_id": self.split_id, "data_snapshot_id": self.data_snapshot_id,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
        self.model.save(folder, meta)
        seal_model_dir(folder)
        return folder


def make_model(s: AmplifierSettings) -> AmplifierModel:
    """An unfitted amplifier with the settings' parameters."""
    return AmplifierModel(calibration_fraction=s.calibration_fraction, **s.params())


def fit_amplifier(log: PostLog, s: AmplifierSettings) -> AmplifierModel:
    """Fit on every labelled post of ``log`` (the closed-loop gate trains on the history this way)."""
    labels = public_lift(log, s)
    order = np.argsort(log.cat.post_created_ms[labels.post], kind="stable")
    if len(order) < MIN_TRAIN_POSTS:
        raise ValueError(f"log: {len(order)} labelled posts, at least {MIN_TRAIN_POSTS} are needed")
    X = early_features(log, labels.post[order], s)
    return make_model(s).fit(X, labels.lift[order], feature_names=FEATURES)


def train_amplifier(log: PostLog, s: AmplifierSettings, *, split_ms: int, data_snapshot_id: str = "",
                    appeal: np.ndarray | None = None) -> AmplifierTraining:
    """Fit on posts published before ``split_ms``, score on those after.

    ``appeal``: the simulator's hidden appeal per post (catalogue row order), when the tables come from it;
    adds the truth check (Spearman of the prediction with appeal over every fans-only post, labelled or not).
    """
    labels = public_lift(log, s)
    created = log.cat.post_created_ms[labels.post]
    order = np.argsort(created, kind="stable")
    post, lift, created = labels.post[order], labels.lift[order], created[order]
    train, held = created < split_ms, created >= split_ms
    if train.sum() < MIN_TRAIN_POSTS or held.sum() < 3:
        raise ValueError(f"split_ms: {split_ms} leaves {train.sum()} training and {held.sum()} held-out labelled "
                         f"posts (need {MIN_TRAIN_POSTS} and 3)")
    X = early_features(log, post, s)
    model = make_model(s).fit(X[train], lift[train], feature_names=FEATURES)
    raw, pred = model.predict_raw(X[held]), model.predict(X[held])
    metrics: dict[str, Any] = {"train_rows": float(train.sum()), **regression_metrics(pred, raw, lift[held])}
    metrics["spearman_fan_rate_vs_cell"] = spearman(X[held, FEATURES.index("rate_vs_cell")], lift[held])
    if appeal is not None:
        metrics.update(truth_check(log, model, s, split_ms, appeal))
    held_out = {"X": X[held], "raw": raw, "pred": pred, "label": lift[held], "post": post[held]}
    return AmplifierTraining(model, metrics, f"temporal-{split_ms}", data_snapshot_id, s.early_hours,
                             s.params(), held_out)


def truth_check(log: PostLog, model: AmplifierModel, s: AmplifierSettings, split_ms: int,
                appeal: np.ndarray) -> dict[str, float]:
    """Spearman of the prediction with hidden appeal: held-out fans-only posts, and every fans-only post."""
    last = int(log.time.max(initial=0))
    cut = int(s.early_hours * 3_600_000)
    every = fans_only_posts(log, int(log.cat.post_created_ms.min(initial=0)), last - cut)
    X = early_features(log, every, s)
    raw = model.predict_raw(X)
    held = log.cat.post_created_ms[every] >= split_ms
    fan = X[held, FEATURES.index("rate_vs_cell")]
    return {"appeal_spearman_held_out": spearman(raw[held], appeal[every[held]]),
            "appeal_spearman_all": spearman(raw, appeal[every]),
            "appeal_spearman_fan_rate_held_out": spearman(fan, appeal[every[held]]),
            "appeal_posts_held_out": float(held.sum())}
