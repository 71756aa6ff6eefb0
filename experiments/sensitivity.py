"""How many users an A/B test and team-draft interleaving need to detect a known better ranker.

To stay cheap this does not run the closed loop. A world is simulated under the logging policy for
``history_hours``; then, at that fixed state, a pool of sessions of one slot is drawn (users weighted by
activity, as the engine draws them) with their candidates. Ranker A (chronological) and ranker B (the
oracle's true utility with log-normal noise, so it is better but not perfect) each rank every pooled
session once. "Better" is known from the truth: B's pages have higher expected clicks and true utility.

Each repetition resamples ``n`` sessions (one per user) from the pool and draws clicks from the world's
own click model: P(click) = examine(position) · hidden click probability, as ``behaviour.sample`` does.
(a) A/B: users split 50/50, metric clicks per session, one-sided Welch z-test of B > A.
(b) Interleaving: every user sees the team-draft interleaving, one-sided sign test of the preference for B.
Power is the share of repetitions with p < alpha (one-sided, B better).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from experiments.interleaving import preference_test, session_preferences, team_draft, welch_one_sided
from experiments.policies import Chronological, Oracle
from experiments.settings import SimulatorSettings
from experiments.simulate import build_world, run_history
from experiments.world.behaviour import examine, expected_utility, probabilities
from experiments.world.candidates import top_pages
from experiments.world.serve import candidates, rows_of


@dataclass(frozen=True)
class SensitivityConfig:
    """Knobs of the sensitivity study (the command exposes the ones worth changing)."""

    scale: str = "small"
    seed: int = 0
    history_hours: int = 48
    slot: str = "hotlist"
    pool_sessions: int = 2_000
    noise: float = 2.0  # sd of the log-normal noise on the oracle's scores (ranker B)
    users: tuple[int, ...] = (50, 100, 200, 400, 800, 1_600, 3_200, 6_400)
    reps: int = 20
    alpha: float = 0.05


@dataclass
class SessionPool:
    """Pages of both rankers for every pooled session, with each candidate row's hidden truth."""

    pages_a: np.ndarray  # (sessions, page) candidate rows in A's order; -1 pads short pages
    pages_b: np.ndarray
    click: np.ndarray  # hidden click probability of each candidate row
    utility: np.ndarray  # true utility of each candidate row
    exam: np.ndarray  # P(examine) of each position

    def page_value(self, pages: np.ndarray, per_row: np.ndarray) -> float:
        """Mean over sessions of the position-discounted sum of ``per_row`` on ``pages``."""
        vals = np.where(pages >= 0, per_row[np.maximum(pages, 0)], 0.0)
        return float((vals * self.exam).sum(1).mean())


def _page_matrix(session: np.ndarray, scores: np.ndarray, n_sessions: int, page: int) -> np.ndarray:
    rows, pos = top_pages(session, scores, page)
    out = np.full((n_sessions, page), -1, np.int64)
    out[session[rows], pos] = rows
    return out


def build_pool(settings: SimulatorSettings, cfg: SensitivityConfig, rng: np.random.Generator) -> SessionPool:
    """Simulate history, then draw the session pool and rank it with both rankers."""
    world = build_world(settings, cfg.scale, rng)
    run_history(world, settings, hours=cfg.history_hours)
    users_all = world.normal_users
    weight = world.pop.users.activity[users_all]
    users = rng.choice(users_all, cfg.pool_sessions, p=weight / weight.sum())
    batch = candidates(world, cfg.slot, users, world.now_ms)
    if not len(batch):
        raise ValueError(f"slot: no {cfg.slot} candidates after {cfg.history_hours} hours")
    obs = world.observation()
    truth = Oracle(world, 0.0).score(batch, obs)
    score_a = Chronological().score(batch, obs)
    # Noise on the log scale keeps B's order informative at every utility level, but imperfect.
    score_b = np.log(np.maximum(truth, 1e-12)) + cfg.noise * rng.standard_normal(len(batch))
    n_sess = int(batch.session.max()) + 1
    page = world.page_size
    pr = probabilities(world.pop, rows_of(batch, np.arange(len(batch))), world.params)
    return SessionPool(_page_matrix(batch.session, score_a, n_sess, page),
                       _page_matrix(batch.session, score_b, n_sess, page),
                       pr.click, expected_utility(pr, world.params), examine(np.arange(page), world.params))


def ab_detects(pool: SessionPool, n: int, rng: np.random.Generator, alpha: float, control: bool = False) -> bool:
    """One A/B repetition: ``n`` users split 50/50, clicks per session, one-sided test of B > A."""
    sess = rng.integers(0, len(pool.pages_a), n)
    in_b = rng.permutation(n) < n // 2
    pages = np.where(in_b[:, None] & (not control), pool.pages_b[sess], pool.pages_a[sess])
    p = np.where(pages >= 0, pool.click[np.maximum(pages, 0)], 0.0) * pool.exam
    clicks = (rng.random(p.shape) < p).sum(1)
    return welch_one_sided(clicks[~in_b], clicks[in_b]) < alpha


def interleaving_detects(pool: SessionPool, n: int, rng: np.random.Generator, alpha: float,
                         control: bool = False) -> bool:
    """One interleaving repetition: ``n`` users each see the team draft of A and B; sign test of B preferred."""
    sess = rng.integers(0, len(pool.pages_a), n)
    page = pool.pages_a.shape[1]
    rows, teams, owner = [], [], []
    for i, s in enumerate(sess):
        a = pool.pages_a[s][pool.pages_a[s] >= 0].tolist()
        b = (pool.pages_a if control else pool.pages_b)[s]
        items, team = team_draft(a, b[b >= 0].tolist(), rng, page)
        rows.extend(items)
        teams.append(team)
        owner.append(np.full(len(items), i))
    row, team, who = np.asarray(rows, np.int64), np.concatenate(teams), np.concatenate(owner)
    pos = np.concatenate([np.arange(len(t)) for t in teams])
    clicked = rng.random(len(row)) < pool.exam[pos] * pool.click[row]
    return preference_test(session_preferences(who, team, clicked, n)).p_b_better < alpha


def smallest_n(power: dict[int, float], target: float = 0.8) -> int | None:
    """The smallest n of the grid whose power reaches ``target``; None when none does."""
    hits = [n for n in sorted(power) if power[n] >= target]
    return hits[0] if hits else None


@dataclass
class SensitivityResult:
    """Power per method and n, the n reaching 80 % power, and the truth that makes B the better ranker."""

    ab: dict[int, float] = field(default_factory=dict)
    interleaving: dict[int, float] = field(default_factory=dict)
    control: dict[str, float] = field(default_factory=dict)
    truth: dict[str, float] = field(default_factory=dict)

    def to_json(self, cfg: SensitivityConfig) -> dict[str, object]:
        return {"ab": {str(k): v for k, v in self.ab.items()},
                "interleaving": {str(k): v for k, v in self.interleaving.items()},
                "n_for_80pct": {"ab": smallest_n(self.ab), "interleaving": smallest_n(self.interleaving)},
                "control_false_positive_rate": self.control, "truth": self.truth,
                "test": f"one-sided (B better), alpha={cfg.alpha}", "reps": cfg.reps, "scale": cfg.scale,
                "slot": cfg.slot, "seed": cfg.seed, "ranker_a": "chronological",
                "ranker_b": f"oracle utility with log-normal noise sd={cfg.noise}"}


def run_sensitivity(settings: SimulatorSettings, cfg: SensitivityConfig,
                    on_step: Callable[[str, int], None] | None = None) -> SensitivityResult:
    """Power of both methods for every n of ``cfg.users``, plus an A-vs-A control at the largest n."""
    rng = np.random.default_rng(cfg.seed)
    pool = build_pool(settings, cfg, rng)
    res = SensitivityResult()
    res.truth = {"expected_clicks_a": pool.page_value(pool.pages_a, pool.click),
                 "expected_clicks_b": pool.page_value(pool.pages_b, pool.click),
                 "true_utility_a": pool.page_value(pool.pages_a, pool.utility),
                 "true_utility_b": pool.page_value(pool.pages_b, pool.utility),
                 "pool_sessions": float(len(pool.pages_a))}
    methods: Sequence[tuple[str, Callable[..., bool], dict[int, float]]] = (
        ("ab", ab_detects, res.ab), ("interleaving", interleaving_detects, res.interleaving))
    for name, detects, power in methods:
        for n in cfg.users:
            power[n] = float(np.mean([detects(pool, n, rng, cfg.alpha) for _ in range(cfg.reps)]))
            if on_step is not None:
                on_step(name, n)
        # Identical rankers: the rate of "B better" must stay near alpha, or the test is miscalibrated.
        res.control[name] = float(np.mean([detects(pool, max(cfg.users), rng, cfg.alpha, control=True)
                                           for _ in range(cfg.reps)]))
    return res
