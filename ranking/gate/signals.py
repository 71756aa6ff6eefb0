"""What the gate decides from: per-post signals (arrays aligned by post index) and its own state."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

PRIVATE, PROBE, POOL1, POOL2, POOL3 = 0, 1, 2, 3, 4
LEVEL_NAMES = ("private", "probe", "pool 1", "pool 2", "hotlist")
HOUR_MS = 3_600_000
NEVER = np.iinfo(np.int64).max


def wilson_bounds(successes: np.ndarray, trials: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial rate; (0, 1) where there are no trials."""
    n = np.maximum(np.asarray(trials, np.float64), 0.0)
    s = np.clip(np.asarray(successes, np.float64), 0.0, n)
    safe = np.maximum(n, 1.0)
    p = s / safe
    z2 = z * z
    centre = (p + z2 / (2 * safe)) / (1 + z2 / safe)
    half = z * np.sqrt(p * (1 - p) / safe + z2 / (4 * safe * safe)) / (1 + z2 / safe)
    lo = np.where(n > 0, np.maximum(centre - half, 0.0), 0.0)
    hi = np.where(n > 0, np.minimum(centre + half, 1.0), 1.0)
    return lo, hi


@dataclass
class PostSignals:
    """Observable signals of live posts, one entry per post (index = the gate's post index).

    Rates are engagements per impression; audiences are the post's fans, the probe's random non-fans,
    and each public pool's non-fans. Baselines make rates comparable across accounts, tiers, kinds,
    formats and posting hours. ``amplifier`` is the model's predicted public lift (NaN when unknown).
    """

    post_id: np.ndarray
    account: np.ndarray
    account_kind: np.ndarray  # 0 shop, 1 influencer, 2 official; -1 unknown
    tier: np.ndarray  # 0..3 = W1..W4, 4 = H1; -1 unknown
    tier_state: np.ndarray  # -1 none, 0 poor, 1 fair, 2 excellent
    preferred: np.ndarray
    account_created_ms: np.ndarray
    created_ms: np.ndarray
    fan_imp: np.ndarray
    fan_eng: np.ndarray
    fan_baseline: np.ndarray  # expected fan engagement rate for this account, tier, kind, format, hour
    level_imp: np.ndarray  # (n, 5): non-fan impressions gathered at each level
    level_eng: np.ndarray  # (n, 5)
    public_baseline: np.ndarray  # expected non-fan engagement rate in public surfaces
    lockstep: np.ndarray  # share of the post's engagement from lockstep groups
    amplifier: np.ndarray  # predicted public lift (log scale); NaN when no model score
    # Posterior of the post's standardised public appeal (``ranking.gate.appeal``); None or NaN: not estimated,
    # and the gate falls back to Wilson bounds on engagement rates.
    appeal_mean: np.ndarray | None = None
    appeal_sd: np.ndarray | None = None
    # The author's traffic-reward multiplier from the last monthly assessment, and the share of its page visits
    # brought from off-site (by source in the assessment); None or NaN: unknown, no effect on the probe budget.
    reward: np.ndarray | None = None
    offsite_share: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.post_id)

    def take(self, idx: np.ndarray) -> PostSignals:
        cols = {f.name: getattr(self, f.name) for f in fields(self)}
        return PostSignals(**{k: (v[idx] if v is not None else None) for k, v in cols.items()})

    def appeal(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, sd) of the appeal posterior, NaN where it was not estimated."""
        if self.appeal_mean is None or self.appeal_sd is None:
            nan = np.full(len(self), np.nan)
            return nan, nan
        return self.appeal_mean, self.appeal_sd


@dataclass
class GateState:
    """The gate's memory per post: level, when it entered it, and whether its probe already ran."""

    level: np.ndarray
    entered_ms: np.ndarray
    probed: np.ndarray
    first_public_ms: np.ndarray
    peak_level: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))

    @classmethod
    def empty(cls, n: int) -> GateState:
        return cls(np.zeros(n, np.int8), np.zeros(n, np.int64), np.zeros(n, bool), np.full(n, NEVER, np.int64),
                   np.zeros(n, np.int8))

    def grow(self, n: int) -> None:
        """Make room for posts appended to the signal arrays."""
        extra = n - len(self.level)
        if extra <= 0:
            return
        more = GateState.empty(extra)
        for f in fields(self):
            setattr(self, f.name, np.concatenate([getattr(self, f.name), getattr(more, f.name)]))
