"""``GET /amplification``: the amplification pipeline as an operator sees it, live.

Posts per gate level (live fans-only posts: younger than ``gate.max_age_hours`` or still exposed), each
public level's capacity and fill, the hotlist board with each post's reason, and the latest transitions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ranking.gate.explain import level_name
from ranking.gate.signals import HOUR_MS, POOL1, PROBE
from ranking.hotlist import BoardState
from serving.gate_live import LiveGate


def level_label(level: int, top: int) -> str:
    """The level's name; the top public pool is the hotlist."""
    return level_name(level, top - POOL1 + 1)


def amplification_view(gate: LiveGate, board: BoardState, now_ms: int, limit: int) -> dict[str, Any]:
    """The operator body: levels with capacity and fill, the ``limit`` heaviest board posts, recent moves."""
    s, f = gate.settings, gate.facts
    top = POOL1 + s.pools - 1
    level = gate.state.level
    live = f.private & (f.created_ms <= now_ms) & ((now_ms - f.created_ms <= s.max_age_hours * HOUR_MS) | (level > 0))
    counts = np.bincount(level[live], minlength=top + 1)
    levels = []
    for lv in range(top + 1):
        capacity = int(s.pool_capacity[lv - POOL1]) if lv >= POOL1 else None
        levels.append({"level": level_label(lv, top), "posts": int(counts[lv]), "capacity": capacity,
                       "fill": None if capacity is None else round(float(counts[lv]) / max(capacity, 1), 4)})
    levels[PROBE]["admitted_per_pass"] = s.probe_per_hour
    order = np.argsort(-board.weight, kind="stable")[:limit]
    rows = f.rows(board.post_ids[order])
    hot = []
    for i, row in zip(order.tolist(), rows.tolist(), strict=True):
        official = bool(board.official[i])
        gated = row >= 0 and bool(f.private[row]) and not official
        hot.append({"post_id": int(board.post_ids[i]), "account_id": int(f.account_id[row]) if row >= 0 else None,
                    "weight": float(board.weight[i]), "official": official,
                    "level": level_label(int(level[row]), top) if gated else "public",
                    "reason": gate.why(row) if gated else ("official pick" if official else
                                                           "public post, hot when the data ends")})
    return {"now_ms": now_ms, "last_pass_ms": gate.last_pass_ms, "live_posts": int(live.sum()), "levels": levels,
            "hotlist": hot, "hotlist_size": len(board.post_ids), "transitions": list(gate.recent)[:limit]}
