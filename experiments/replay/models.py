"""The slot rankers of the MLflow registry (``champion`` / ``challenger``) as replay rankers.

Features come from the online path the service uses (:class:`features.online.updater.OnlineFeatures`), fed
hour by hour with the logged events before each hour's requests, so a request sees only what the service
would have seen then. Follow-feed and new-arrival are ranked by their models; the hotlist has no model and
keeps its logged order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from experiments.model_policy import SLOT_FEATURE_SET
from experiments.replay.data import HOUR_MS
from experiments.replay.rankers import RULES
from features.catalog import Catalog
from features.contract import code
from features.featuresets import get_feature_set
from features.online import make_store
from features.online.updater import OnlineFeatures
from features.settings import FeatureSettings
from ranking.affinity import Affinity
from ranking.heads import HeadModel
from ranking.model_store import load_registered
from ranking.scorers.model import feature_rows


@dataclass(frozen=True)
class SlotModel:
    """A slot's head model, its affinity side file, and its registry version."""

    head: HeadModel
    affinity: Affinity | None
    version: str


def load_slot_models(tracking_uri: str, prefix: str, alias: str, cache: Path) -> dict[str, SlotModel]:
    """``PREFIX+slot@alias`` of every modelled slot from the registry (read-only; verified on load)."""
    out = {}
    for slot, fs_name in SLOT_FEATURE_SET.items():
        loaded = load_registered(tracking_uri, f"{prefix}{slot}", alias, get_feature_set(fs_name), cache)
        out[slot] = SlotModel(loaded.head_model(), Affinity.load(loaded.path),
                              f"{prefix}{slot}/{loaded.version}")
    return out


class ModelRanker:
    """Scores follow-feed and new-arrival candidates with the slot models over point-in-time online features."""

    def __init__(self, name: str, models: Mapping[str, SlotModel], tables: Mapping[str, pa.Table],
                 settings: FeatureSettings | None = None) -> None:
        self.name = name
        self.models = dict(models)
        self.tables = tables
        self.settings = settings or FeatureSettings()
        self.versions = {slot: m.version for slot, m in self.models.items()}

    def scores(self, cands: pd.DataFrame) -> np.ndarray:
        """Model scores of the modelled slots' rows; the logged order elsewhere."""
        out = RULES["logged"](cands)
        events = self.tables["events"].sort_by([("event_time", "ascending")])
        event_ms = events.column("event_time").cast(pa.int64()).to_numpy()
        catalog = Catalog(self.tables["accounts"], self.tables["posts"], self.tables["products"],
                          self.tables["follows"])
        for slot, model in self.models.items():
            rows = np.flatnonzero(cands["slot"].to_numpy() == slot)
            if len(rows):
                out[rows] = self._slot_scores(slot, model, cands.iloc[rows], events, event_ms, catalog)
        return out

    def _slot_scores(self, slot: str, model: SlotModel, c: pd.DataFrame, events: pa.Table, event_ms: np.ndarray,
                     catalog: Catalog) -> np.ndarray:
        fs = get_feature_set(SLOT_FEATURE_SET[slot])
        online = OnlineFeatures(fs, make_store(fs, self.settings), catalog)
        target = "product" if slot == "new_arrival" else "post"
        category = _category(c, self.tables, target)
        hour = c["request_ms"].to_numpy(np.int64) // HOUR_MS
        scores = np.empty(len(c))
        fed = 0
        for h in np.unique(hour):
            upto = int(np.searchsorted(event_ms, h * HOUR_MS, side="left"))  # events before this hour only
            if upto > fed:
                online.update(events.slice(fed, upto - fed))
                fed = upto
            at = np.flatnonzero(hour == h)
            sub = c.iloc[at]
            rows = feature_rows(fs, sub["user_id"].to_numpy(), np.full(len(at), code("target_type", target)),
                                sub["item_id"].to_numpy(), sub["author"].to_numpy(), category[at],
                                sub["request_ms"].to_numpy(np.int64), model.affinity)
            scores[at] = model.head.predict(online.get(rows))
        return scores


def _category(c: pd.DataFrame, tables: Mapping[str, pa.Table], target: str) -> np.ndarray:
    """Product category for products, the author's category for posts (as the closed-loop model policy)."""
    if target == "product":
        table, key, ids = tables["products"], "product_id", c["item_id"].to_numpy()
    else:
        table, key, ids = tables["accounts"], "account_id", c["author"].to_numpy()
    lookup = pd.Series(table.column("category").to_numpy(), index=table.column(key).to_numpy())
    return lookup.reindex(ids).fillna(0).to_numpy(np.int64)
