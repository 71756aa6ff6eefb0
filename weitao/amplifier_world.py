"""The amplifier inside the closed-loop evaluation: trained on the simulated world's logged history only.

The model sees what the world logged before the evaluation window (events, follows as intervals, the
catalogue), exactly the observable tables; the window's events reach it hour by hour through the gate.
"""

from __future__ import annotations

import numpy as np

from experiments.world.engine import World
from experiments.world.events import ACTION, TARGET_ACCOUNT, TARGET_POST, Events
from features.follows import FollowState
from training.amplifier.job import fit_amplifier
from training.amplifier.log import Catalogue, PostLog
from training.amplifier.online import EarlyScorer
from training.amplifier.settings import AmplifierSettings


def history_log(world: World) -> PostLog:
    """The world's logged history (before the branch) as the amplifier's log, fan status at event time."""
    pop = world.pop
    po, acc = pop.posts, pop.accounts
    cat = Catalogue(po.account, po.kind, po.format, po.created_ms, po.public.astype(bool), acc.kind, acc.tier,
                    acc.tier_state, acc.preferred.astype(bool), acc.created_ms, pop.users.created_ms)
    ev = Events.concat(world.inherited)
    follows = FollowState(*world.graph.sorted_records())
    on = ev.target_type == TARGET_POST
    post, user, t = ev.target[on], ev.user[on], ev.time[on]
    fan = follows.is_fan(user, po.account[post], t)
    unf = (ev.target_type == TARGET_ACCOUNT) & (ev.action == ACTION["unfollow"])
    dwell = np.nan_to_num(ev.dwell[on], nan=0.0).astype(np.float32)
    return PostLog(cat, user.astype(np.int64), post.astype(np.int64), ev.action[on], ev.slot[on], t, dwell, fan,
                   ev.user[unf].astype(np.int64), ev.target[unf].astype(np.int64), ev.time[unf])


def history_scorer(world: World, settings: AmplifierSettings) -> EarlyScorer:
    """An amplifier fitted on the world's history, ready to score the window's posts."""
    log = history_log(world)
    return EarlyScorer(fit_amplifier(log, settings), log, settings)
