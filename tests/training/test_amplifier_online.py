"""The amplifier online: each post is scored once its early window closes, from the events seen so far."""

from __future__ import annotations

import numpy as np

from tests.training.test_amplifier import EXACT, T0, H, M, forty_percent_world
from training.amplifier.features import FEATURES, early_features
from training.amplifier.log import PostLog
from training.amplifier.model import AmplifierModel
from training.amplifier.online import EarlyScorer


def fitted() -> AmplifierModel:
    """A model whose score grows with the fan engagement rate."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(200, len(FEATURES)))
    y = X[:, FEATURES.index("fan_engagement_rate")]
    return AmplifierModel(n_estimators=30, min_child_samples=5).fit(X, y, feature_names=FEATURES)


def test_scores_appear_at_the_cut_off_and_do_not_change_afterwards() -> None:
    log = PostLog.from_tables(forty_percent_world().tables())
    history = log.before(T0 + 10 * M)  # the scorer starts with the impressions, before any read
    rest = log.time >= T0 + 10 * M
    model = fitted()
    unread = model.predict(early_features(history, np.array([0]), EXACT))[0]
    scorer = EarlyScorer(model, history, EXACT)  # takes the log over and appends to it
    assert np.isnan(scorer.scores(np.array([0]), T0 + 10 * M)).all()  # its window is still open
    scorer.add(log.user[rest], log.post[rest], log.action[rest], log.slot[rest], log.time[rest], log.dwell[rest],
               log.fan[rest])
    at_cut = scorer.scores(np.array([0]), T0 + H)
    expected = model.predict(early_features(log, np.array([0]), EXACT))
    assert np.array_equal(at_cut, expected)
    assert at_cut[0] > unread  # the reads that arrived online counted
    n = 5  # five more fan reads after the cut-off change nothing
    scorer.add(np.arange(n), np.zeros(n, np.int64), np.full(n, 2, np.int8), np.zeros(n, np.int8),
               np.full(n, T0 + 2 * H), np.full(n, 30.0, np.float32), np.ones(n, bool))
    assert np.array_equal(scorer.scores(np.array([0]), T0 + 3 * H), at_cut)


class Recorder:
    """An amplifier hook that records what the gate hands it and scores each post by its id."""

    def __init__(self) -> None:
        self.posts: list[np.ndarray] = []
        self.fans: list[np.ndarray] = []

    def add(self, user: np.ndarray, post: np.ndarray, action: np.ndarray, slot: np.ndarray, time: np.ndarray,
            dwell: np.ndarray, fan: np.ndarray, unfollows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
            ) -> None:
        self.posts.append(post)
        self.fans.append(fan)

    def scores(self, posts: np.ndarray, now_ms: int) -> np.ndarray:
        return posts / 1000.0


def test_the_closed_loop_gate_feeds_the_hook_and_reads_its_scores() -> None:
    from experiments.gate_policy import GatePolicy
    from experiments.settings import SimulatorSettings
    from experiments.simulate import build_world, run_history
    from ranking.gate.settings import GateSettings

    world = build_world(SimulatorSettings(), "small", np.random.default_rng(3))
    run_history(world, SimulatorSettings(), hours=30)
    hook = Recorder()
    policy = GatePolicy(len(world.pop.posts.account), GateSettings(use_amplifier=True), hook)
    obs = world.observation()
    posts = np.flatnonzero(world.pop.posts.created_ms < obs.now_ms)[:20]
    sig = policy.signals(posts, obs)
    assert np.array_equal(sig.amplifier, posts / 1000.0)
    policy._observe(obs)  # the hour's events reach the hook once, with fan status
    ev = obs.last_events
    assert len(hook.posts) == 1 and len(hook.posts[0]) == int((ev.target_type == 0).sum()) > 0
    assert hook.fans[0].any() and not hook.fans[0].all()
    policy._observe(obs)
    assert len(hook.posts) == 1
    assert np.isnan(GatePolicy(len(world.pop.posts.account)).signals(posts, obs).amplifier).all()
