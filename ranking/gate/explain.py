"""A gate decision about one post, in the words a seller understands.

The gate records, per evaluation, the deciding reason and the figures behind it (:class:`Decision`
``numbers``, plus the post's lockstep share and amplifier score); the thresholds come from the settings
the gate ran with. :func:`explain` joins the two into one sentence; :data:`LOGGED_NUMBERS` are the figures
a decision log keeps so that a decision can be explained later.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ranking.gate.reasons import Reason, sentence
from ranking.gate.settings import GateSettings
from ranking.gate.signals import LEVEL_NAMES, POOL1

LOGGED_NUMBERS = ("fan_imp", "fan_rate", "fan_lcb", "need_rate", "probe_imp", "pub_rate", "pub_lcb", "pub_ucb",
                  "baseline", "lockstep", "amplifier", "p_top")


def level_name(level: int, pools: int = 3) -> str:
    """private, probe, pool 1, pool 2 or hotlist: the top of ``pools`` public pools is the hotlist."""
    level = int(np.clip(level, 0, len(LEVEL_NAMES) - 1))
    return "hotlist" if level == POOL1 + pools - 1 else LEVEL_NAMES[level]


def explain(reason: int, level: int, numbers: Mapping[str, float], settings: GateSettings) -> str:
    """The sentence of one decision: ``reason`` with the post's ``numbers`` and the gate's thresholds."""
    r = Reason(reason)
    need = {Reason.NEED_FAN_IMPRESSIONS: settings.min_fan_impressions,
            Reason.NEED_PROBE_IMPRESSIONS: settings.min_probe_impressions,
            Reason.AMPLIFIER_LOW: settings.amplifier_to_promote}.get(r, float("nan"))
    values = {name: float(v) for name, v in numbers.items() if v is not None and np.isfinite(v)}
    if r == Reason.PUBLIC_SIGNAL_LOW and "baseline" in values:  # the public bar, not the fans' one
        values["need_rate"] = values["baseline"] * settings.public_lift_to_promote
    text = sentence(r, **values, need=need, level=level_name(level, settings.pools), max_age=settings.max_age_hours,
                    lockstep_max=settings.lockstep_max, cap=settings.author_cap)
    return text[0].upper() + text[1:] + "."
