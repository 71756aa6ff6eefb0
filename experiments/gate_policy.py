"""Our amplification policy inside the simulated world: the gate of `ranking.gate` fed by observed events.

Each hour the policy counts the hour's events per post and audience (fans; non-fans at the level the post
held: probe or a public pool), keeps account and platform baselines, and lets the gate re-decide every
live post. Feeds are ranked chronologically here (the slot rankers are evaluated separately); the hotlist
puts probe posts first so that tests with non-fans finish quickly, then pools from the top down.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from experiments.world.events import ACTION, SLOT, TARGET_ACCOUNT, TARGET_POST, Events
from experiments.world.policy import AmplifyBatch, Batch, Observation
from ranking.gate.appeal import (
    AppealModel,
    ChannelStats,
    click_offsets,
    fit,
    indicators,
    posterior,
    selection_offset,
    usable,
)
from ranking.gate.decide import decide, fdr_threshold
from ranking.gate.lockstep import LockstepDetector
from ranking.gate.log import GateLog
from ranking.gate.settings import GateSettings
from ranking.gate.signals import GateState, PostSignals

PRIOR_IMPRESSIONS = 200.0
MATURE_MS = 12 * 3_600_000  # a post this old has had its chance at the probe: it counts in the fit share
ENGAGE_ACTIONS = [ACTION[a] for a in ("click", "like", "comment", "share")]


class PostCounters:
    """Per-post impressions and engagements by audience, from the event stream."""

    def __init__(self, n_posts: int, position_power: float = 0.8) -> None:
        self.position_power = position_power
        # Appeal channels (``ranking.gate.appeal``): non-fan hotlist exposure weighed by examination, clicks and
        # log dwell; fans' clicks and log dwell.
        self.exam = np.zeros(n_posts)
        self.nf_clicks = np.zeros(n_posts)
        self.nf_log_dwell = np.zeros(n_posts)
        self.nf_log_dwell_sq = np.zeros(n_posts)
        self.fan_clicks = np.zeros(n_posts)
        self.fan_log_dwell = np.zeros(n_posts)
        self.fan_imp = np.zeros(n_posts)
        self.fan_eng = np.zeros(n_posts)
        self.level_imp = np.zeros((n_posts, 5))
        self.level_eng = np.zeros((n_posts, 5))
        self.clicks = np.zeros(n_posts)
        self.short_clicks = np.zeros(n_posts)
        self.click_offset = np.zeros(n_posts)  # format and kind click habits (``ranking.gate.appeal.click_offsets``)

    def add(self, ev: Events, obs: Observation, quality_dwell_s: float = 12.0) -> None:
        """Count impressions and quality views (a click read for at least ``quality_dwell_s`` seconds).

        Quality views measure appeal better than raw clicks or likes, and click farms' near-zero dwell
        does not count.
        """
        posts = ev.target_type == TARGET_POST
        post, user, action = ev.target[posts], ev.user[posts], ev.action[posts]
        fan = obs.is_fan(user, obs.catalog.post_account[post])
        level = np.clip(obs.level[post], 0, 4)
        imp = action == ACTION["impression"]
        eng = (action == ACTION["dwell"]) & (ev.dwell[posts] >= quality_dwell_s)
        n = len(self.fan_imp)
        self.fan_imp += np.bincount(post[imp & fan], minlength=n)
        self.fan_eng += np.bincount(post[eng & fan], minlength=n)
        np.add.at(self.level_imp, (post[imp & ~fan], level[imp & ~fan]), 1)
        np.add.at(self.level_eng, (post[eng & ~fan], level[eng & ~fan]), 1)
        dwell = action == ACTION["dwell"]
        self.clicks += np.bincount(post[dwell], minlength=n)
        short = dwell & (ev.dwell[posts] < 4.0)
        self.short_clicks += np.bincount(post[short], minlength=n)
        self._add_channels(post, fan, action, ev.slot[posts], ev.position[posts], ev.dwell[posts])

    def _add_channels(self, post: np.ndarray, fan: np.ndarray, action: np.ndarray, slot: np.ndarray,
                      position: np.ndarray, dwell: np.ndarray) -> None:
        """Non-fans on the hotlist (where only the platform put the post) and fans anywhere."""
        n = len(self.exam)
        hot = ~fan & (slot == SLOT["hotlist"])
        imp = hot & (action == ACTION["impression"])
        exam = (1.0 + np.maximum(position[imp], 0)) ** -self.position_power
        self.exam += np.bincount(post[imp], weights=exam, minlength=n)
        read = action == ACTION["dwell"]
        log_dwell = np.log(np.maximum(np.nan_to_num(dwell, nan=1.0), 0.5))
        nf, fd = read & hot, read & fan
        self.nf_clicks += np.bincount(post[nf], minlength=n)
        self.nf_log_dwell += np.bincount(post[nf], weights=log_dwell[nf], minlength=n)
        self.nf_log_dwell_sq += np.bincount(post[nf], weights=log_dwell[nf] ** 2, minlength=n)
        self.fan_clicks += np.bincount(post[fd], minlength=n)
        self.fan_log_dwell += np.bincount(post[fd], weights=log_dwell[fd], minlength=n)

    def channels(self, posts: np.ndarray | slice = slice(None)) -> ChannelStats:
        """The appeal channels of ``posts`` (all posts by default)."""
        return ChannelStats(self.exam[posts], self.nf_clicks[posts], self.nf_log_dwell[posts],
                            self.nf_log_dwell_sq[posts], self.fan_clicks[posts], self.fan_log_dwell[posts],
                            self.click_offset[posts])


class AmplifierHook(Protocol):
    """A model of public lift from early fan signals (``training.amplifier.online.EarlyScorer``)."""

    def add(self, user: np.ndarray, post: np.ndarray, action: np.ndarray, slot: np.ndarray, time: np.ndarray,
            dwell: np.ndarray, fan: np.ndarray,
            unfollows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> None:
        """Take the hour's post events and unfollows."""
        ...

    def scores(self, posts: np.ndarray, now_ms: int) -> np.ndarray:
        """Predicted public lift (log scale) of ``posts``; NaN where there is none yet."""
        ...


class GatePolicy:
    """Chronological feeds and the amplification gate (optionally with an amplifier model's scores)."""

    name = "ours"

    def __init__(self, n_posts: int, settings: GateSettings | None = None,
                 amplifier: AmplifierHook | None = None) -> None:
        self.settings = settings or GateSettings()
        self.amplifier = amplifier  # holds the history it was trained on: it is fed the window's hours only
        self.counters = PostCounters(n_posts, self.settings.position_power)
        self.state = GateState.empty(n_posts)
        s = self.settings
        self.lockstep = LockstepDetector(int(s.lockstep_window_s * 1000), s.lockstep_min_posts)
        self.lockstep_peak = np.zeros(n_posts)  # a post once seen farmed stays suspect
        self.model = AppealModel.default()
        self.p_top = np.zeros(n_posts)  # last posterior probability of the top decile, orders the probe
        self.last_hour = -1
        self.promoted_p: dict[int, float] = {}  # posterior P(top) of each post when it went public
        self.start_ms: int | None = None  # when the policy took over: its own probes start here
        self.log = GateLog()  # level and reason changes, with their figures (``weitao explain``)

    def warm_up(self, history: Events, obs: Observation) -> None:
        """Count the events logged before the policy took over."""
        self.start_ms = obs.now_ms
        self._take(history, obs)

    def _observe(self, obs: Observation) -> None:
        if obs.now_ms != self.last_hour:
            self.last_hour = obs.now_ms
            self._take(obs.last_events, obs)
            if self.amplifier is not None:
                self._feed_amplifier(obs.last_events, obs)

    def _feed_amplifier(self, ev: Events, obs: Observation) -> None:
        """Hand the hour's post events (with fan status now) and unfollows to the amplifier."""
        if self.amplifier is None:
            return
        on = ev.target_type == TARGET_POST
        post, user = ev.target[on], ev.user[on]
        fan = obs.is_fan(user, obs.catalog.post_account[post])
        unf = (ev.target_type == TARGET_ACCOUNT) & (ev.action == ACTION["unfollow"])
        self.amplifier.add(user, post, ev.action[on], ev.slot[on], ev.time[on], ev.dwell[on], fan,
                           (ev.user[unf], ev.target[unf], ev.time[unf]))

    def _take(self, ev: Events, obs: Observation) -> None:
        """Count events, feed the lockstep detector, and refit the appeal model on every post seen so far."""
        self.counters.add(ev, obs)
        engage = (ev.target_type == TARGET_POST) & np.isin(ev.action, ENGAGE_ACTIONS)
        self.lockstep.add(ev.user[engage], ev.target[engage], ev.time[engage])
        n = len(self.lockstep_peak)
        self.lockstep_peak = np.maximum(self.lockstep_peak, self.lockstep.shares(n))
        # Our probe's population (random non-fans for every probed post) once it is large enough; the logged
        # history's public posts (chosen by their fan rate) until then.
        probed = self.state.peak_level >= 1
        if self.settings.kind_format_baseline:
            self.counters.click_offset = self._click_offsets(obs)
        stats = self.counters.channels()
        self.model = fit(stats, probed if probed.sum() >= 100 else None)
        if probed.sum() >= 100 and self.model.posts:
            self.model.offset = self._offset(stats, probed, obs)

    def _click_offsets(self, obs: Observation) -> np.ndarray:
        """Kind and format click habits, estimated on every post non-fans saw on the hotlist (history too)."""
        cat, c = obs.catalog, self.counters
        n = len(c.exam)
        design = np.concatenate([np.eye(4)[cat.post_kind[:n]], np.eye(4)[cat.post_format[:n]]], axis=1)
        raw = ChannelStats(c.exam, c.nf_clicks, c.nf_log_dwell, c.nf_log_dwell_sq, c.fan_clicks, c.fan_log_dwell)
        return click_offsets(raw, design, c.exam >= 30)

    def _offset(self, stats: ChannelStats, probed: np.ndarray, obs: Observation) -> float:
        """Selection offset of the fit population: its share of the non-official posts old enough to have been
        probed, published since the policy took over (``ranking.gate.appeal.selection_offset``)."""
        cat = obs.catalog
        start = self.start_ms if self.start_ms is not None else obs.now_ms
        n = len(probed)
        created = cat.post_created_ms[:n]
        mature = (created >= start) & (created < obs.now_ms - MATURE_MS) & (cat.account_kind[cat.post_account[:n]] != 2)
        if mature.sum() < 50:
            return 0.0
        x, _ = indicators(stats, self.model.dwell_var)
        share = float(np.sum(usable(stats, x) & probed & mature) / mature.sum())
        return selection_offset(share, self.settings.good_quantile)

    def score(self, batch: Batch, obs: Observation) -> np.ndarray:
        self._observe(obs)
        fresh = batch.item_ms.astype(np.float64) / 1e13
        if batch.slot != "hotlist":
            return fresh
        # Probe posts first, the most promising first: scarce non-fan views go where they can still change a
        # decision soonest (an optimistic allocation); then the pools from the top down.
        probe_first = np.where(batch.level == 1, 10.0 + self.p_top[batch.item], batch.level.astype(np.float64))
        return probe_first + fresh

    def signals(self, posts: np.ndarray, obs: Observation) -> PostSignals:
        c, cat = self.counters, obs.catalog
        account = cat.post_account[posts]
        acc_imp = np.bincount(cat.post_account, weights=c.fan_imp, minlength=len(cat.account_kind))
        acc_eng = np.bincount(cat.post_account, weights=c.fan_eng, minlength=len(cat.account_kind))
        global_rate = (c.fan_eng.sum() + 1) / (c.fan_imp.sum() + 10)
        fan_base = (acc_eng[account] + PRIOR_IMPRESSIONS * global_rate) / (acc_imp[account] + PRIOR_IMPRESSIONS)
        public_base = self._public_baseline(obs)[self._cell(posts, obs)]
        lockstep = self.lockstep_peak[posts]
        mean, sd = posterior(c.channels(posts), self.model)
        amplifier = (self.amplifier.scores(posts, obs.now_ms) if self.amplifier is not None
                     else np.full(len(posts), np.nan))
        return PostSignals(
            posts, account, cat.account_kind[account], cat.account_tier[account], cat.account_state[account],
            cat.account_preferred[account], cat.account_created_ms[account], cat.post_created_ms[posts],
            c.fan_imp[posts], c.fan_eng[posts], fan_base, c.level_imp[posts], c.level_eng[posts],
            public_base, lockstep, amplifier, mean, sd)

    def _promote_threshold(self, posts: np.ndarray, level: np.ndarray) -> float | None:
        """The false-discovery rule's threshold this hour (None: the fixed one), after recording the posterior of
        posts the world made public since the last pass (the last posterior is the one that promoted them)."""
        s = self.settings
        for post in posts[(level >= 2) & (self.state.peak_level[posts] == 1)].tolist():  # our probe promoted it
            self.promoted_p.setdefault(post, float(self.p_top[post]))
        if s.promote_fdr is None:
            return None
        return fdr_threshold(np.fromiter(self.promoted_p.values(), float), s.promote_fdr, s.promote_probability)

    @staticmethod
    def _cell(posts: np.ndarray, obs: Observation) -> np.ndarray:
        """Baseline cell of a post: kind × format × its account's category."""
        cat = obs.catalog
        category = cat.account_category[cat.post_account[posts]]
        return (cat.post_kind[posts] * 4 + cat.post_format[posts]) * 64 + np.minimum(category, 63)

    def _public_baseline(self, obs: Observation) -> np.ndarray:
        """Non-fan engagement rate per cell over every probe and pool impression, shrunk to the global rate."""
        c = self.counters
        imp, eng = c.level_imp[:, 1:].sum(1), c.level_eng[:, 1:].sum(1)
        cells = self._cell(np.arange(len(imp)), obs)
        cell_imp = np.bincount(cells, weights=imp, minlength=16 * 64)
        cell_eng = np.bincount(cells, weights=eng, minlength=16 * 64)
        overall = (eng.sum() + 1) / (imp.sum() + 10)
        return (cell_eng + PRIOR_IMPRESSIONS * overall) / (cell_imp + PRIOR_IMPRESSIONS)

    def amplify(self, batch: AmplifyBatch, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        self._observe(obs)
        posts = batch.post
        # A probe the world did not admit (its capacity) is not a probe that ran: allow it again.
        refused = self.state.probed[posts] & (batch.level == 0) & (self.state.peak_level[posts] == 0)
        self.state.probed[posts[refused]] = False
        sub = GateState(batch.level.astype(np.int8), self.state.entered_ms[posts], self.state.probed[posts],
                        self.state.first_public_ms[posts], self.state.peak_level[posts])
        sig = self.signals(posts, obs)
        decision = decide(sub, sig, obs.now_ms, self.settings, self._promote_threshold(posts, batch.level))
        self.state.entered_ms[posts], self.state.probed[posts] = sub.entered_ms, sub.probed
        self.state.first_public_ms[posts] = sub.first_public_ms
        self.state.peak_level[posts] = np.maximum(self.state.peak_level[posts], batch.level)
        self.log.add(obs.now_ms, batch.level, decision, sig)
        self.p_top[posts] = np.nan_to_num(decision.numbers["p_top"])
        rank = np.where(np.isfinite(decision.numbers["p_top"]), decision.numbers["p_top"],
                        decision.numbers["pub_lcb"])
        priority = np.where(decision.level > batch.level, 1.0 + rank, 0.0)
        return decision.level.astype(np.int64), priority
