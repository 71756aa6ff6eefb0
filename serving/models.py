"""The models the service ranks with: each slot's registered champion, loaded read-only, swapped whole.

An :class:`Engine` is immutable: the slot declarations with their scorers and the versions they serve.
Reloading builds a new engine beside the old one and swaps one reference, so requests in flight finish
on the engine they started with and a model that fails to load leaves the old engine serving.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from features.featuresets import get_feature_set
from ranking.affinity import Affinity
from ranking.ann import ItemIndex
from ranking.base import SlotDefinition
from ranking.compiled import CompiledHeads, Predict
from ranking.heads import HeadModel
from ranking.model_store import LoadedModel, load_model_dir, load_registered, registered_version
from ranking.scorers.model import ModelScorer
from ranking.settings import RankingSettings
from ranking.slots import follow_feed_slot, hotlist_slot, new_arrival_slot
from ranking.sources.similar_accounts import SimilarAccounts
from serving.config import ServiceConfig
from serving.data import SLOT_FEATURE_SET, ServiceData

SLOTS = ("follow_feed", "new_arrival", "hotlist")


@dataclass(frozen=True)
class SlotModel:
    """One slot's loaded model: the scorer's parts and where they came from."""

    slot: str
    version: str  # e.g. "weitao-follow_feed/3" (registry) or the folder name
    checksum: str
    feature_set: str
    head: HeadModel
    affinity: Affinity | None
    index: ItemIndex | None  # faiss over the affinity's account vectors (discovery candidates)
    predict: Predict  # the compiled forest when lleaves is available, else ``head.predict``
    compiled: bool


@dataclass(frozen=True)
class Engine:
    """Slot declarations ready to run, and the model version behind each slot."""

    slots: dict[str, SlotDefinition]
    versions: dict[str, str]
    models: dict[str, SlotModel]


def slot_model(slot: str, loaded: LoadedModel, version: str, compile_dir: Path | None) -> SlotModel:
    """What a worker serves of a verified model folder: heads, compiled forests, affinity and its index."""
    head = loaded.head_model()  # the heads the store read and verified
    compiled = CompiledHeads.build(head, compile_dir)
    affinity = Affinity.load(loaded.path)
    index = Affinity.load_index(loaded.path)
    if index is None and affinity is not None and len(affinity.item_ids):
        index = affinity.account_index()  # a model saved before the index was: build it once here
    return SlotModel(slot, version, loaded.checksum, str(loaded.meta["feature_set"]["name"]), head,
                     affinity, index, compiled.predict, compiled.compiled)


def compile_dir(config: ServiceConfig) -> Path | None:
    """Where compiled forests are cached (by checksum), or None when compilation is switched off."""
    return config.model_cache / "compiled" if config.serving.compile_models else None


def load_champions(config: ServiceConfig) -> dict[str, SlotModel]:
    """The ``serving.model_alias`` version of every ranked slot, from the registry (read-only)."""
    out = {}
    for slot, fs_name in SLOT_FEATURE_SET.items():
        name = f"{config.registry_prefix}{slot}"
        loaded = load_registered(config.tracking_uri, name, config.serving.model_alias, get_feature_set(fs_name),
                                 config.model_cache)
        out[slot] = slot_model(slot, loaded, f"{name}/{loaded.version}", compile_dir(config))
    return out


def champion_versions(config: ServiceConfig) -> dict[str, str]:
    """The version each slot's ``serving.model_alias`` points at in the registry now, named like ``SlotModel``."""
    out = {}
    for slot in SLOT_FEATURE_SET:
        name = f"{config.registry_prefix}{slot}"
        out[slot] = f"{name}/{registered_version(config.tracking_uri, name, config.serving.model_alias)}"
    return out


def load_folder(slot: str, folder: Path, compile_into: Path | None = None) -> SlotModel:
    """A slot model from a plain model folder (tests, and serving without a registry)."""
    loaded = load_model_dir(folder, get_feature_set(SLOT_FEATURE_SET[slot]))
    return slot_model(slot, loaded, f"{folder.name}@{loaded.checksum[:12]}", compile_into)


def build_engine(models: dict[str, SlotModel], data: ServiceData, ranking: RankingSettings) -> Engine:
    """Slot declarations scoring with ``models`` over ``data``'s online features."""
    scorers = {slot: ModelScorer(predict=m.predict, online=data.online[slot], affinity=m.affinity,
                                 version=m.version) for slot, m in models.items()}
    slots = {
        "follow_feed": _with_discovery(follow_feed_slot(ranking, scorers["follow_feed"]), models["follow_feed"],
                                       ranking, "post", ranking.follow_feed_window_hours),
        "new_arrival": _with_discovery(new_arrival_slot(ranking, scorers["new_arrival"]), models["new_arrival"],
                                       ranking, "product", ranking.new_arrival_window_days * 24),
        "hotlist": hotlist_slot(ranking, data.board),
    }
    versions = {slot: m.version for slot, m in models.items()}
    versions["hotlist"] = "rules:hot-decay"
    return Engine(slots, versions, dict(models))


def _with_discovery(slot: SlotDefinition, model: SlotModel, ranking: RankingSettings,
                    item_type: Literal["post", "product"], window_hours: float) -> SlotDefinition:
    """``slot`` with the discovery source appended when it is switched on and the model has embeddings."""
    if ranking.discovery_accounts == 0 or model.index is None or model.affinity is None:
        return slot
    source = SimilarAccounts(index=model.index, affinity=model.affinity, item_type=item_type,
                             accounts=ranking.discovery_accounts, window_hours=window_hours,
                             limit=ranking.discovery_limit)
    return replace(slot, sources=(*slot.sources, source))
