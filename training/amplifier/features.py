"""Early-engagement features of fans-only posts at ``created + early_hours``, from earlier events only.

Every count reads events strictly before the post's cut-off ``created + early_hours`` (point in time: a
feature never sees an event at or after the moment the gate would use it). Baselines are counted the same
way, per query, by binary search over events sorted by (group, time), so no baseline includes the future
either. Engagement is a quality view (a read of at least ``quality_dwell_s`` seconds), as the gate counts it.

These are computed here rather than declared in ``features.featuresets`` because they are per-post values at
an exact millisecond cut-off with audience splits (new, dormant, lockstep users) the declared counters do
not have; the declared post features count in whole-hour buckets.
"""

from __future__ import annotations

import numpy as np

from ranking.gate.lockstep import LockstepDetector
from training.amplifier.log import COMMENT, DWELL, IMPRESSION, LIKE, SHARE, PostLog
from training.amplifier.settings import AmplifierSettings

HOUR_MS, DAY_MS = 3_600_000, 86_400_000
LOCKSTEP_ACTIONS = (1, LIKE, COMMENT, SHARE)  # click, like, comment, share: what farms do together
_SHIFT = np.int64(1) << np.int64(42)  # (group, time offset) packed in one int64; offsets below 139 years

FEATURES = (
    "fan_impressions", "fan_engagement_rate", "rate_vs_account", "rate_vs_cell", "velocity", "acceleration",
    "distinct_engagers", "new_or_dormant_share", "lockstep_share", "fan_log_dwell", "negative_feedback",
    "interaction_rate", "preferred_weight", "account_tier", "account_kind", "account_age_days", "post_kind",
    "post_format", "posting_hour",
)


class WindowCounter:
    """Weighted event counts per group over time windows, by binary search on (group, time) keys."""

    def __init__(self, group: np.ndarray, time: np.ndarray, weights: dict[str, np.ndarray], t0: int) -> None:
        self.t0 = t0
        key = group.astype(np.int64) * _SHIFT + (time.astype(np.int64) - t0)
        order = np.argsort(key, kind="stable")
        self.key = key[order]
        self.cum = {k: np.concatenate([[0.0], np.cumsum(np.asarray(w, np.float64)[order])]) for k, w in weights.items()}

    def count(self, name: str, group: np.ndarray, lo_ms: np.ndarray, hi_ms: np.ndarray) -> np.ndarray:
        """Sum of weight ``name`` over events of ``group`` with lo_ms <= time < hi_ms."""
        base = group.astype(np.int64) * _SHIFT - self.t0
        lo = np.searchsorted(self.key, base + np.maximum(lo_ms, self.t0), side="left")
        hi = np.searchsorted(self.key, base + np.maximum(hi_ms, self.t0), side="left")
        c = self.cum[name]
        return c[hi] - c[lo]


def cut_off(log: PostLog, posts: np.ndarray, s: AmplifierSettings) -> np.ndarray:
    """The moment each post's features are taken: publish time + early_hours."""
    return log.cat.post_created_ms[posts] + int(s.early_hours * HOUR_MS)


def cell_of(log: PostLog, posts: np.ndarray) -> np.ndarray:
    """Baseline cell: account tier × post kind × format × posting hour (UTC+8)."""
    cat = log.cat
    tier = np.clip(cat.account_tier[cat.post_account[posts]], 0, 4)
    return ((tier * 4 + cat.post_kind[posts]) * 4 + cat.post_format[posts]) * 24 + posting_hour(log, posts)


def posting_hour(log: PostLog, posts: np.ndarray) -> np.ndarray:
    """Local (UTC+8) hour of publication."""
    return ((log.cat.post_created_ms[posts] // HOUR_MS) + 8) % 24


def _rows(n_catalogue: int, posts: np.ndarray, event_post: np.ndarray) -> np.ndarray:
    """Row of each event's post in ``posts`` (-1 for other posts)."""
    if len(np.unique(posts)) != len(posts):
        raise ValueError("posts: each post may be asked for once")
    row_of = np.full(n_catalogue, -1, np.int64)
    row_of[posts] = np.arange(len(posts))
    return row_of[event_post]


def early_features(log: PostLog, posts: np.ndarray, s: AmplifierSettings,
                   flagged: np.ndarray | None = None) -> np.ndarray:
    """Feature matrix (rows = ``posts``, columns = :data:`FEATURES`) at each post's cut-off.

    ``flagged``: users already known to act in lockstep (the online path keeps its own detector); when None
    the lockstep groups are found from the log, each post seeing only groups formed before its cut-off hour.
    """
    posts = np.asarray(posts, np.int64)
    cut = cut_off(log, posts, s)
    row = _rows(len(log.cat.post_account), posts, log.post)
    inside = row >= 0
    inside[inside] &= log.time[inside] < cut[row[inside]]
    r, n = row[inside], len(posts)
    fan, action = log.fan[inside], log.action[inside]
    eng = (action == DWELL) & (log.dwell[inside] >= s.quality_dwell_s)
    fan_imp = np.bincount(r[fan & (action == IMPRESSION)], minlength=n).astype(np.float64)
    fan_eng = np.bincount(r[fan & eng], minlength=n).astype(np.float64)
    acc_rate, cell_rate = _baselines(log, posts, cut, s)
    k = s.fan_prior_impressions
    fan_rate = (fan_eng + k * cell_rate) / (fan_imp + k)
    t = log.time[inside]
    last = eng & (t >= cut[r] - HOUR_MS)
    prev = eng & (t < cut[r] - HOUR_MS) & (t >= cut[r] - 2 * HOUR_MS)
    velocity = np.bincount(r[last], minlength=n).astype(np.float64)
    accel = velocity - np.bincount(r[prev], minlength=n)
    engaging = eng | np.isin(action, (LIKE, COMMENT, SHARE))
    distinct, fresh = _engagers(log, inside, engaging, r, n, s)
    lockstep = _lockstep(log, posts, cut, s, flagged)
    read = fan & (action == DWELL)
    log_dwell = np.log(np.maximum(log.dwell[inside][read], 0.5))
    n_read = np.bincount(r[read], minlength=n)
    mean_dwell = np.where(n_read > 0, np.bincount(r[read], weights=log_dwell, minlength=n) / np.maximum(n_read, 1),
                          np.nan)
    interactions = np.bincount(r[fan & np.isin(action, (LIKE, COMMENT, SHARE))], minlength=n)
    cat = log.cat
    account = cat.post_account[posts]
    unfollows = _unfollows(log, account, cat.post_created_ms[posts], cut)
    columns = [
        fan_imp, fan_rate, fan_rate / acc_rate, fan_rate / cell_rate, velocity, accel,
        distinct, fresh, lockstep, mean_dwell, unfollows / np.maximum(fan_imp, 1.0),
        interactions / np.maximum(fan_imp, 1.0), np.where(cat.account_preferred[account], s.preferred_weight, 1.0),
        cat.account_tier[account], cat.account_kind[account],
        (cat.post_created_ms[posts] - cat.account_created_ms[account]) / DAY_MS,
        cat.post_kind[posts], cat.post_format[posts], posting_hour(log, posts),
    ]
    return np.column_stack([np.asarray(c, np.float64) for c in columns]) if n else np.zeros((0, len(FEATURES)))


def _baselines(log: PostLog, posts: np.ndarray, cut: np.ndarray,
               s: AmplifierSettings) -> tuple[np.ndarray, np.ndarray]:
    """Fan engagement rate of the account (last ``account_window_days``) and of the post's cell, before cut-off.

    Cells are shrunk to the pooled fan rate before the cut-off; the account to its cell.
    """
    fan = log.fan & np.isin(log.action, (IMPRESSION, DWELL))
    p, t = log.post[fan], log.time[fan]
    imp = (log.action[fan] == IMPRESSION).astype(np.float64)
    eng = ((log.action[fan] == DWELL) & (log.dwell[fan] >= s.quality_dwell_s)).astype(np.float64)
    t0 = int(min(t.min(initial=0), cut.min(initial=0))) - 1
    k = s.baseline_prior_impressions
    start = np.full(len(posts), t0)
    # pooled counts before each cut-off: a binary search in the sorted times
    n_eng = np.searchsorted(np.sort(t[eng > 0]), cut, side="left")
    overall = (n_eng + 1.0) / (np.searchsorted(np.sort(t[imp > 0]), cut, side="left") + 10.0)
    cell, event_cell = cell_of(log, posts), cell_of(log, p)
    mine = np.isin(event_cell, cell)  # only the asked posts' cells and accounts: few when scoring online
    cells = WindowCounter(event_cell[mine], t[mine], {"imp": imp[mine], "eng": eng[mine]}, t0)
    cell_rate = (cells.count("eng", cell, start, cut) + k * overall) / (cells.count("imp", cell, start, cut) + k)
    acc, event_acc = log.cat.post_account[posts], log.cat.post_account[p]
    mine = np.isin(event_acc, acc)
    accounts = WindowCounter(event_acc[mine], t[mine], {"imp": imp[mine], "eng": eng[mine]}, t0)
    lo = cut - int(s.account_window_days * DAY_MS)
    acc_rate = (accounts.count("eng", acc, lo, cut) + k * cell_rate) / (accounts.count("imp", acc, lo, cut) + k)
    return acc_rate, cell_rate


def _engagers(log: PostLog, inside: np.ndarray, engaging: np.ndarray, r: np.ndarray, n: int,
              s: AmplifierSettings) -> tuple[np.ndarray, np.ndarray]:
    """Distinct engaging users per post, and the share who are new (registered less than ``new_user_days`` before
    engaging) or dormant (no event in the ``dormant_days`` before the post was published)."""
    user, t, rr = log.user[inside][engaging], log.time[inside][engaging], r[engaging]
    order = np.argsort(t, kind="stable")  # so that a (post, user) pair's first index is its first engagement
    user, t, rr = user[order], t[order], rr[order]
    published = log.cat.post_created_ms[log.post[inside][engaging][order]]
    gap = _previous_gap(log, user, published)  # silent for a while before the post appeared: dormant
    age = t - log.cat.user_created_ms[user]
    fresh = (age < s.new_user_days * DAY_MS) | (gap > s.dormant_days * DAY_MS)
    pair = rr * (int(user.max(initial=0)) + 1) + user
    _, first = np.unique(pair, return_index=True)  # one vote per (post, user): their first engagement
    distinct = np.bincount(rr[first], minlength=n).astype(np.float64)
    new = np.bincount(rr[first][fresh[first]], minlength=n)
    return distinct, new / np.maximum(distinct, 1.0)


def _previous_gap(log: PostLog, user: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per (user, time) query: time since that user's latest event in the log before it (since the log's
    start if none)."""
    if not len(user):
        return np.zeros(0, np.int64)
    t0 = int(min(log.time.min(initial=int(t.min())), t.min())) - 1
    theirs = np.isin(log.user, user)  # only the engagers' histories are needed
    key = np.sort(log.user[theirs].astype(np.int64) * _SHIFT + (log.time[theirs] - t0))
    q = user.astype(np.int64) * _SHIFT + (t - t0)
    at = np.searchsorted(key, q, side="left") - 1  # the latest event strictly before the query
    prev = key[np.maximum(at, 0)]
    same = (at >= 0) & (prev // _SHIFT == user)
    return np.where(same, q - prev, t - t0)


def _lockstep(log: PostLog, posts: np.ndarray, cut: np.ndarray, s: AmplifierSettings,
              flagged: np.ndarray | None) -> np.ndarray:
    """Share of each post's distinct engagers (before cut-off) who belong to a lockstep group."""
    act = np.isin(log.action, LOCKSTEP_ACTIONS)
    user, post, t = log.user[act], log.post[act], log.time[act]
    hour = cut // HOUR_MS
    flags = _sweep_flags(user, post, t, hour, s) if flagged is None else {int(h): flagged for h in np.unique(hour)}
    row = _rows(len(log.cat.post_account), posts, post)
    mine = row >= 0
    mine[mine] &= t[mine] < cut[row[mine]]
    r, u = row[mine], user[mine].astype(np.int64)
    m = int(u.max(initial=0)) + 1
    pair = np.unique(r * m + u)  # distinct (post, user)
    r, u = pair // m, pair % m
    bad = np.zeros(len(r), bool)
    for h, users in flags.items():  # each post sees the groups known at the start of its cut-off hour
        at = hour[r] == h
        bad[at] = np.isin(u[at], users)
    total = np.bincount(r, minlength=len(posts))
    return np.bincount(r[bad], minlength=len(posts)) / np.maximum(total, 1)


def _sweep_flags(user: np.ndarray, post: np.ndarray, t: np.ndarray, hours: np.ndarray,
                 s: AmplifierSettings) -> dict[int, np.ndarray]:
    """Lockstep users known at the start of each of ``hours`` (groups from earlier events only)."""
    det = LockstepDetector(int(s.lockstep_window_s * 1000), s.lockstep_min_posts)
    order = np.argsort(t, kind="stable")
    t_sorted = t[order]
    flags_at: dict[int, np.ndarray] = {}
    done = 0
    for h in np.unique(hours).tolist():
        upto = int(np.searchsorted(t_sorted, h * HOUR_MS, side="left"))
        if upto > done:
            take = order[done:upto]
            det.add(user[take], post[take], t[take])
            done = upto
        flags_at[h] = det.flagged
    return flags_at


def _unfollows(log: PostLog, account: np.ndarray, start: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """Unfollows of each post's author between publication and cut-off (negative feedback)."""
    if not len(log.unfollow_time):
        return np.zeros(len(account))
    t0 = int(min(log.unfollow_time.min(), start.min(initial=0))) - 1
    counter = WindowCounter(log.unfollow_account, log.unfollow_time, {"n": np.ones(len(log.unfollow_time))}, t0)
    return counter.count("n", account, start, cut)
