"""Our slot rankers inside the simulated world: online features from the event stream, then the model.

The policy keeps the feature set's online store current from every hour's events (the same definitions
that built the training frames), reads features for the world's candidates, and ranks by the model's
blended score with the position fixed to the top. Amplification is delegated to another policy.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from experiments.world.events import Events, to_table
from experiments.world.policy import AmplifyBatch, Batch, Observation, Policy
from features.catalog import Catalog
from features.contract import code
from features.featuresets import SLOT_FEATURE_SET, get_feature_set
from features.online.shared import SharedOnline
from features.settings import FeatureSettings
from ranking.affinity import Affinity
from ranking.heads import HeadModel
from ranking.scorers.model import feature_rows


class ModelPolicy:
    """Ranks follow-feed and new-arrival with trained heads; other slots and amplification by ``fallback``."""

    name = "ours"

    def __init__(self, models: Mapping[str, HeadModel], tables: Mapping[str, pa.Table], history: Events,
                 fallback: Policy, settings: FeatureSettings | None = None,
                 affinities: Mapping[str, Affinity | None] | None = None) -> None:
        settings = settings or FeatureSettings()
        self.models = dict(models)
        self.affinities = dict(affinities or {})
        self.fallback = fallback
        catalog = Catalog(tables["accounts"], tables["posts"], tables["products"], tables["follows"])
        # One store for every slot's features, as in the service: each event is counted once.
        self.updater = SharedOnline.open([get_feature_set(SLOT_FEATURE_SET[s]) for s in self.models], settings,
                                         catalog)
        self.updater.update(to_table(history))
        self.online = {slot: self.updater.view(SLOT_FEATURE_SET[slot]) for slot in self.models}
        self.product_category = tables["products"].column("category").to_numpy().astype(np.int64)
        self.next_event_id = len(history)
        self.last_hour = -1

    def _observe(self, obs: Observation) -> None:
        if obs.now_ms == self.last_hour:
            return
        self.last_hour = obs.now_ms
        if len(obs.last_events):
            table = to_table(obs.last_events, first_id=self.next_event_id)
            self.next_event_id += len(obs.last_events)
            self.updater.update(table)

    def score(self, batch: Batch, obs: Observation) -> np.ndarray:
        self._observe(obs)
        model = self.models.get(batch.slot)
        if model is None:
            return np.asarray(self.fallback.score(batch, obs), dtype=np.float64)
        target = "product" if batch.slot == "new_arrival" else "post"
        if batch.slot == "new_arrival":
            category = self.product_category[batch.item]
        else:
            category = obs.catalog.account_category[batch.author]
        online = self.online[batch.slot]
        rows = feature_rows(online.feature_set, batch.user, np.full(len(batch), code("target_type", target)),
                            batch.item, batch.author, category, np.int64(batch.now_ms),
                            self.affinities.get(batch.slot))
        return model.predict(online.get(rows))

    def amplify(self, batch: AmplifyBatch, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        self._observe(obs)
        return self.fallback.amplify(batch, obs)

