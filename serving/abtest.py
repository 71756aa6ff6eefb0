"""Which arm of each experiment layer a request is in, and what that arm changes (``serving.experiments``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.bucketing import Layer
from serving.settings import ServingSettings


@dataclass(frozen=True)
class Assignment:
    """A request's arms: the model alias and exploration share to use, and the label logged with the page."""

    alias: str
    explore_share: float
    label: str  # "layer=arm;layer=arm", sorted by layer; "" without experiments


class Experiments:
    """The configured layers; :meth:`assign` is a pure function of the user id."""

    def __init__(self, settings: ServingSettings) -> None:
        self.settings = settings
        self.layers = [(Layer(name, tuple(lay.arms), tuple(a.share for a in lay.arms.values())), lay)
                       for name, lay in sorted(settings.experiments.items())]

    def assign(self, user_id: int) -> Assignment:
        alias, explore, labels = self.settings.model_alias, self.settings.explore_share, []
        for layer, spec in self.layers:
            arm = layer.arms[int(layer.assign(np.array([user_id]))[0])]
            chosen = spec.arms[arm]
            alias = chosen.model_alias or alias
            explore = chosen.explore_share if chosen.explore_share is not None else explore
            labels.append(f"{layer.name}={arm}")
        return Assignment(alias, explore, ";".join(labels))
