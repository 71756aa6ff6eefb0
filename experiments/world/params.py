"""Behaviour constants of the simulated world.

The values are chosen so that the world is hard in the ways the real one is (see SIMULATOR.md):
fan engagement only partly reveals public appeal, follower count is a weak signal of a post's
quality, click farms fool raw velocity, position and posting hour confound raw rates, and the
handbook's fan/non-fan figures hold (revisit 2.5×, order value 2.7×, repeat purchase +37 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

#: Slots a session asks for, and how often.
SESSION_SLOTS = ("follow_feed", "hotlist", "new_arrival")
SESSION_SLOT_SHARE = np.array([0.6, 0.3, 0.1])

#: Fans' activity over the day (UTC+8 local hours 0..23), peaking in the evening.
HOURLY_CURVE = np.array(
    [0.5, 0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 0.7, 0.9, 1.0, 1.0, 1.1,
     1.3, 1.1, 1.0, 1.0, 1.0, 1.1, 1.3, 1.6, 2.0, 2.3, 2.0, 1.0]
)


@dataclass(frozen=True)
class WorldParams:
    """Coefficients of the generative model (not settings: changing them changes the world)."""

    dim: int = 16
    n_categories: int = 20
    # Per-dimension spread around category centres (unit norm): a post or product stays recognisably of
    # its category (noise norm ≈ 0.6) and a user's taste stays near her categories (≈ 0.4).
    item_spread: float = 0.15
    taste_spread: float = 0.1
    kind_share: tuple[float, float, float] = (0.70, 0.25, 0.05)  # shop, influencer, official
    preferred_share: float = 0.05  # of shops
    h1_share: float = 0.02
    farm_client_share: float = 0.03  # of shops and influencers
    farm_user_share: float = 0.003
    farm_size: tuple[int, int] = (15, 40)
    new_creator_share: float = 0.12
    new_creator_days: float = 30.0
    follows_per_user: float = 14.0
    prehistory_days: int = 3
    post_rate_per_day: float = 0.25
    product_rate_per_day: float = 0.35
    # Behaviour of one impression at 0-based position k: examine with (1 + k) ** -position_power.
    position_power: float = 0.8
    click_base: float = -3.0
    click_taste: float = 1.6
    click_quality: float = 0.55
    click_loyalty: float = 0.5
    click_appeal_nonfan: float = 0.7
    click_nonfan_offset: float = -0.5
    freshness_per_hour: float = 0.015
    engage_base: float = -1.6
    engage_quality: float = 0.7
    follow_base: float = -3.6
    follow_appeal: float = 0.9
    cart_base: float = -1.2
    purchase_base: float = 0.0
    unfollow_base: float = -7.0
    # Handbook calibration (DOMAIN.md): fans vs non-fans.
    revisit_fan: float = 0.30
    revisit_ratio: float = 2.5
    repeat_fan: float = 0.40
    repeat_lift: float = 1.37
    fan_basket_mean: float = 2.9  # measured order value lands at ≈ 2.7× (fans buy slightly cheaper items)
    revisit_mean_days: float = 3.0
    repeat_mean_days: float = 3.0
    offsite_visits_per_account_day: float = 1.5
    offsite_follow_prob: float = 0.08
    visit_purchase_prob: float = 0.06
    # True-utility weights of actions (the oracle ranks by expected weighted actions).
    utility_weights: tuple[float, float, float, float] = (1.0, 2.0, 5.0, 10.0)  # click, engage, follow, buy


# Effects by enum code (contract order).
FORMAT_CLICK = np.array([0.0, -0.25, 0.35, 0.2])  # nine_grid, article, video, live
KIND_CLICK = np.array([0.0, 0.3, -0.1, 0.1])  # product, interactive, info, guide
KIND_ENGAGE = np.array([-0.2, 0.8, -0.1, 0.1])
FORMAT_ENGAGE = np.array([0.0, -0.1, 0.3, 0.4])
FORMAT_APPEAL = np.array([0.0, -0.2, 0.3, 0.2])
KIND_APPEAL = np.array([0.0, 0.3, -0.1, 0.1])
POST_KIND_SHARE = {  # by account kind: product, interactive, info, guide
    0: np.array([0.5, 0.15, 0.1, 0.25]),
    1: np.array([0.1, 0.3, 0.3, 0.3]),
    2: np.array([0.0, 0.3, 0.5, 0.2]),
}
FORMAT_SHARE = np.array([0.45, 0.2, 0.3, 0.05])
