"""Everything the service needs from the settings tree, gathered by the caller (``weitao serve``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from features.settings import FeatureSettings
from ranking.gate.settings import GateSettings
from ranking.settings import RankingSettings
from ranking.tier_settings import TierSettings
from serving.settings import ServingSettings


@dataclass(frozen=True)
class ServiceConfig:
    """The serving, ranking and feature sections plus where the model registry is (read-only)."""

    serving: ServingSettings
    ranking: RankingSettings
    features: FeatureSettings
    tracking_uri: str
    registry_prefix: str
    model_cache: Path
    gate: GateSettings = field(default_factory=GateSettings)  # the amplification criteria shown to sellers
    tiers: TierSettings = field(default_factory=TierSettings)  # what the next tier needs, shown to sellers
