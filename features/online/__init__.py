"""Online features: the offline definitions updated event by event, in-process or in Redis (one setting)."""

from __future__ import annotations

from features.definitions import FeatureSet
from features.online.base import OnlineStore, StoreLayout
from features.online.memory import MemoryStore
from features.online.updater import OnlineFeatures
from features.settings import FeatureSettings

__all__ = ["MemoryStore", "OnlineFeatures", "OnlineStore", "StoreLayout", "make_store"]


def make_store(feature_set: FeatureSet, settings: FeatureSettings) -> OnlineStore:
    """The store chosen by ``settings.online_store`` for ``feature_set`` (Redis is imported only if chosen)."""
    layout = StoreLayout.of(feature_set, settings)
    if settings.online_store == "memory":
        return MemoryStore(layout)
    from features.online.redis_store import RedisStore

    return RedisStore(layout, settings.redis_url, settings.redis_prefix, timeout_s=settings.redis_timeout_s)
