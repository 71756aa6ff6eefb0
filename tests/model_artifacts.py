"""Tiny sealed model folders that follow the artifact contract, shared by the tracking and loading tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import orjson

from ranking.model_store import FeatureSetLike, seal_model_dir

COLUMNS = ("follower_ctr_7d", "post_age_hours", "account_tier", "is_fan")
X_PROBE = np.random.default_rng(99).random((8, len(COLUMNS)))


@dataclass(frozen=True)
class FeatureSet:
    name: str = "follow_feed"
    version: int = 1
    fingerprint: str = "fp-1"
    columns: tuple[str, ...] = COLUMNS


FS = FeatureSet()


def make_model_dir(folder: Path, fs: FeatureSetLike = FS, *, seed: int = 0, slot: str = "follow_feed",
                   config_hash: str = "cfg0", label_column: int = 0,
                   side_files: Mapping[str, bytes] | None = None) -> lgb.Booster:
    """A sealed 5-tree model folder on random data whose label follows ``label_column``; returns its head."""
    rng = np.random.default_rng(seed)
    x = rng.random((200, len(fs.columns)))
    y = (x[:, label_column] + 0.3 * rng.random(200) > 0.6).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 4, "verbose": -1, "num_threads": 1, "seed": seed},
                        lgb.Dataset(x, y, feature_name=list(fs.columns)), num_boost_round=5)
    folder.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(folder / "head_click.txt"))
    for name, data in (side_files or {}).items():
        (folder / name).write_bytes(data)
    meta = {"kind": "slot_ranker", "slot": slot,
            "feature_set": {"name": fs.name, "version": fs.version, "fingerprint": fs.fingerprint,
                            "columns": list(fs.columns)},
            "heads": {"click": "head_click.txt"}, "files": {}, "config_hash": config_hash,
            "created_at": float(seed)}
    (folder / "meta.json").write_bytes(orjson.dumps(meta))
    seal_model_dir(folder)
    return booster
