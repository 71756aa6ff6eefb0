"""Off-policy estimates of a new ranker on the simulated world, against its value run in closed loop.

The world is simulated up to the evaluation window under the logging policy; from that state two twins
run the window:

* the logged twin serves the logging policy with a share of randomised pages (the world's ``choose``:
  a page is shuffled with probability ``explore``, and each impression logs its position-wise propensity
  (1 − explore)·[greedy page has the item there] + explore / candidates). A shadow asks the new ranker,
  for the same candidates at the same moment, which item it would show at each position;
* the closed-loop twin serves the new ranker (no exploration) for the same window.

Value = clicks per impression of the served pages. In this world a click depends on the item and its
position only (``examine(position) × click``), so obp's position-wise estimators apply: at a logged row
(session, item a, position k) the deterministic new ranker has π_e = 1 if it puts a at k, else 0, and
DR's direct term is q̂ of the item the ranker puts at k. Ranking is the only thing that changes: both
twins amplify with the logging policy, so the pools that hotlist candidates come from stay comparable.
The closed-loop truth also contains the ranker's feedback on the world (counters, follows), which logs
cannot show; that is part of the error reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from experiments.closed_loop import prepare_world
from experiments.ope.estimators import N_BOOTSTRAP, Estimate, Factual, estimate_all
from experiments.ope.reward import N_FOLDS, CrossFitted, RewardModelKind, fold_ids
from experiments.policies import LoggingPolicy, make_baseline
from experiments.settings import SimulatorSettings
from experiments.world.candidates import top_pages
from experiments.world.engine import World
from experiments.world.events import ACTION, SLOT, Events
from experiments.world.params import HOUR_MS
from experiments.world.policy import AmplifyBatch, Batch, Observation, Policy


@dataclass
class Shadow:
    """Serves ``logging`` and records, per candidate, where ``target`` would have put it and its features."""

    world: World
    logging: Policy
    target: Policy
    name: str = "logging"
    records: list[tuple[np.ndarray, ...]] = field(default_factory=list)

    def score(self, batch: Batch, obs: Observation) -> np.ndarray:
        scores = np.asarray(self.logging.score(batch, obs), dtype=np.float64)
        rows, pos = top_pages(batch.session, np.asarray(self.target.score(batch, obs), np.float64),
                              self.world.page_size)
        target_pos = np.full(len(batch), -1, np.int64)
        target_pos[rows] = pos
        # The world numbers this batch's requests from next_request, which it advances after serving.
        self.records.append((self.world.next_request + batch.session, batch.item.astype(np.int64), target_pos,
                             features(batch, obs)))
        return scores

    def amplify(self, batch: AmplifyBatch, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        return self.logging.amplify(batch, obs)


@dataclass
class RankWith:
    """``ranker``'s ranking with ``amplifier``'s amplification."""

    ranker: Policy
    amplifier: Policy
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or self.ranker.name

    def score(self, batch: Batch, obs: Observation) -> np.ndarray:
        return self.ranker.score(batch, obs)

    def amplify(self, batch: AmplifyBatch, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        return self.amplifier.amplify(batch, obs)


def features(batch: Batch, obs: Observation) -> np.ndarray:
    """Observable features of each candidate for the reward model: slot, fan, age, pool, its counts so far."""
    c = obs.counters
    if batch.slot == "new_arrival":
        clicks, imps = c.product_click[batch.item], c.product_imp[batch.item]
    else:
        clicks = c.click_fan[batch.item] + c.click_nonfan[batch.item]  # type: ignore[attr-defined]
        imps = c.imp_fan[batch.item] + c.imp_nonfan[batch.item]  # type: ignore[attr-defined]
    age_h = np.maximum(0.0, (batch.now_ms - batch.item_ms) / HOUR_MS)
    return np.column_stack([np.full(len(batch), SLOT[batch.slot]), batch.is_fan, np.log1p(age_h), batch.level,
                            np.log1p(clicks), np.log1p(imps)]).astype(np.float64)


@dataclass(frozen=True)
class Served:
    """Served impressions of a run: request, item, position, propensity, clicked."""

    request: np.ndarray
    item: np.ndarray
    position: np.ndarray
    propensity: np.ndarray
    clicked: np.ndarray


def served(world: World) -> Served:
    """The impressions of served pages in ``world``'s own log and whether each was clicked."""
    ev = Events.concat(world.parts)
    on_page = (ev.request >= 0) & (ev.slot != SLOT["other"])
    imp = np.flatnonzero(on_page & (ev.action == ACTION["impression"]))
    click = np.flatnonzero(on_page & (ev.action == ACTION["click"]))
    m = int(ev.target.max()) + 1 if len(ev) else 1
    clicked = np.isin(ev.request[imp] * m + ev.target[imp], ev.request[click] * m + ev.target[click])
    return Served(ev.request[imp], ev.target[imp], ev.position[imp].astype(np.int64), ev.propensity[imp], clicked)


def _lookup(keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each ``wanted`` key in ``keys`` (unique), and whether it was found."""
    order = np.argsort(keys, kind="stable")
    at = np.minimum(np.searchsorted(keys[order], wanted), len(keys) - 1)
    found = keys[order][at] == wanted
    return order[at], found


def logged_factual(shadow: Shadow, log: Served, page_size: int, reward_model: RewardModelKind,
                   rng: np.random.Generator, n_folds: int = N_FOLDS) -> Factual:
    """π_e, q̂ at the logged item and q̂ at the ranker's item, for every logged impression."""
    request, item, target_pos, feats = (np.concatenate(c) for c in zip(*shadow.records, strict=True))
    m = int(max(item.max(), log.item.max())) + 1
    cand, found = _lookup(request * m + item, log.request * m + log.item)
    if not found.all():
        raise ValueError(f"shadow: {int((~found).sum())} logged impressions are not among the recorded candidates")
    on_page = np.flatnonzero(target_pos >= 0)
    mine, has = _lookup(request[on_page] * page_size + target_pos[on_page], log.request * page_size + log.position)
    if not has.all():
        raise ValueError("shadow: the ranker's page is shorter than a logged page")
    pick = on_page[mine]  # the candidate the ranker shows at each logged (request, position)
    pi_e = (pick == cand).astype(np.float64)
    # One reward model over (features, position), cross-fitted by request so a page is never split.
    requests, request_index = np.unique(log.request, return_inverse=True)
    fold = fold_ids(len(requests), n_folds, rng)[request_index]
    group = np.zeros(len(cand), np.int64)
    x_logged = np.c_[feats[cand], log.position]
    model = CrossFitted(reward_model, n_folds).fit(x_logged, log.clicked.astype(np.int64), group, fold, rng)
    q_factual = model.predict(x_logged, group, fold)
    q_policy = model.predict(np.c_[feats[pick], log.position], group, fold)
    return Factual(log.clicked.astype(np.float64), log.propensity, pi_e, q_factual, q_policy)


@dataclass(frozen=True)
class SimResult:
    """Estimates of a ranker from logs, and its value in closed loop."""

    policy: str
    estimates: dict[str, Estimate]
    truth: float
    truth_se: float
    extra: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """Estimates, the closed-loop truth and each estimator's error."""
        out: dict[str, Any] = {name: e.as_dict() for name, e in self.estimates.items()}
        out["closed_loop_truth"] = self.truth
        out["closed_loop_truth_se"] = self.truth_se
        out["error"] = {name: e.value - self.truth for name, e in self.estimates.items()}
        out["relative_error"] = {name: (e.value - self.truth) / self.truth for name, e in self.estimates.items()}
        out["policy"] = self.policy
        return out | self.extra


def evaluate_in_world(settings: SimulatorSettings, scale: str, seed: int, eval_days: int, policy: str,
                      reward_model: RewardModelKind, explore: float, rng: np.random.Generator,
                      n_bootstrap_samples: int = N_BOOTSTRAP, n_folds: int = N_FOLDS) -> SimResult:
    """Estimate baseline ranker ``policy`` from the logged twin and compare with its closed-loop twin."""
    if not 0 < explore <= 1:
        raise ValueError(f"explore: must be in (0, 1] (no exploration, no propensities to weight by), got {explore}")
    policy_rng, model_rng, boot_rng = rng.spawn(3)
    prep = prepare_world(settings, scale, seed, eval_days)
    hours = eval_days * 24
    logged = prep.world.branch(seed * 7919 + 1)
    shadow = Shadow(logged, LoggingPolicy(), make_baseline(policy, policy_rng))
    logged.run(shadow, hours, explore=explore)
    log = served(logged)
    data = logged_factual(shadow, log, logged.page_size, reward_model, model_rng, n_folds)
    estimates = estimate_all(data, boot_rng, n_bootstrap_samples)

    loop = prep.world.branch(seed * 7919 + 2)
    loop.run(RankWith(make_baseline(policy, policy_rng), LoggingPolicy()), hours)
    truth_log = served(loop)
    truth = float(truth_log.clicked.mean())
    extra = {"scale": scale, "seed": seed, "eval_days": eval_days, "explore": explore, "reward_model": reward_model,
             "logged_impressions": len(log.clicked), "logged_value": float(log.clicked.mean()),
             "rows_where_ranker_agrees": int((data.pi_e > 0).sum()),
             "closed_loop_impressions": len(truth_log.clicked)}
    return SimResult(policy, estimates, truth, float(np.sqrt(truth * (1 - truth) / len(truth_log.clicked))), extra)
