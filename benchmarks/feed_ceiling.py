"""How far can a feed ranker get in the simulated world? nDCG@10 of scorers that know parts of the truth.

    .venv/bin/python benchmarks/feed_ceiling.py [--scale medium] [--seed 1] [--hours 24]

Trains both rankers as `weitao evaluate feeds` does, runs ours for ``--hours`` of the evaluation window,
and re-scores every served candidate list offline with: our model, chronological, and scorers that are
given hidden truth (item quality; account quality, user taste and user×account loyalty), and ours with one
hidden part added to its log-score (which part it lacks most). The gap between the account-level ceiling and
the item-level one is what no model can close without evidence on the item itself (its own clicks), so it
bounds what the feed targets can ask. Taste splits into the user's taste for the account's category (an
account-level part) and the item's own spread around it; the history per user (printed) says how much evidence
there is to learn the first from. Writes results/feed_ceiling.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from experiments.closed_loop import prepare_world
from experiments.gate_policy import GatePolicy
from experiments.model_policy import ModelPolicy
from experiments.world.behaviour import expected_utility, pair_uniform, probabilities
from experiments.world.candidates import top_pages
from experiments.world.events import ACTION, Events
from experiments.world.params import HOUR_MS
from experiments.world.serve import rows_of
from experiments.world.tables import contract_tables
from weitao.feeds_eval import DAY_MS, FEED_SLOTS, train_models
from weitao.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results" / "feed_ceiling.json"


def ndcg(session: np.ndarray, score: np.ndarray, util: np.ndarray, k: int = 10) -> float:
    """Mean nDCG@k over sessions of ordering by ``score``, on true utility ``util``."""
    n, disc = int(session.max()) + 1, 1.0 / np.log2(np.arange(k) + 2.0)
    rows, pos = top_pages(session, score, k)
    dcg = np.bincount(session[rows], util[rows] * disc[pos], n)
    rows, pos = top_pages(session, util, k)
    idcg = np.bincount(session[rows], util[rows] * disc[pos], n)
    has = idcg > 0
    return float(np.mean(dcg[has] / idcg[has]))


class Recorder:
    """Wraps a policy and keeps every feed candidate list with its scores and true utilities."""

    name = "ours"

    def __init__(self, inner: ModelPolicy, world: object) -> None:
        self.inner, self.world, self.lists = inner, world, []

    def score(self, batch, obs):
        scores = self.inner.score(batch, obs)
        if batch.slot in FEED_SLOTS and len(batch):
            rows = rows_of(batch, np.arange(len(batch)))
            util = expected_utility(probabilities(self.world.pop, rows, self.world.params), self.world.params)
            self.lists.append((batch, scores.copy(), util))
        return scores

    def amplify(self, batch, obs):
        return self.inner.amplify(batch, obs)


def scorers(world: object, batch: object, model: np.ndarray) -> dict[str, np.ndarray]:
    """Each scorer's score of the batch's rows."""
    pop, p = world.pop, world.params
    products = batch.slot == "new_arrival"
    items = pop.products if products else pop.posts
    age = (batch.now_ms - batch.item_ms) / HOUR_MS
    fresh = -p.freshness_per_hour * age
    taste = p.click_taste * np.einsum("ij,ij->i", pop.users.taste[batch.user], items.vec[batch.item])
    loyalty = p.click_loyalty * 1.5 * (pair_uniform(batch.user, batch.author, 11) - 0.5)
    # Item quality is half account quality plus the item's own part (see experiments/world/catalog.py).
    account_q = p.click_quality * 0.5 * pop.accounts.quality[batch.author]
    own_q = p.click_quality * items.quality[batch.item] - account_q
    log_ours = np.log(np.maximum(model, 1e-12))
    # The part of taste an account carries: the user's taste for its category's centre (posts and products sit
    # near their account's category, with an item-level spread on top: see experiments/world/catalog.py).
    category = items.category[batch.item] if products else pop.accounts.category[batch.author]
    spread = np.sqrt(1.0 + p.dim * p.item_spread**2)  # typical norm of centre + spread noise, before unit scaling
    category_taste = p.click_taste * np.einsum("ij,ij->i", pop.users.taste[batch.user], pop.centres[category]) / spread
    return {
        "ours": model,
        "chronological": -age,
        "truth: account quality + taste + loyalty + freshness": account_q + taste + loyalty + fresh,
        "truth: account quality + category taste + loyalty + freshness": account_q + category_taste + loyalty + fresh,
        "truth: item quality + freshness": p.click_quality * items.quality[batch.item] + fresh,
        # What ours lacks most: each hidden part added to our log-score (as a click logit would add it).
        "ours + truth: taste": log_ours + taste,
        "ours + truth: the item's own quality": log_ours + own_q,
        "ours + truth: account quality": log_ours + account_q,
        "ours + truth: the user's taste for the account's category": log_ours + category_taste,
    }


def history_per_user(history: Events, follows: int, users: int) -> dict[str, float]:
    """Mean events per user in the history, by action, and accounts followed: the evidence a ranker has about
    each user's taste."""
    out = {name: float(np.count_nonzero(history.action == ACTION[name]) / users)
           for name in ("impression", "click", "like", "follow")}
    return {**out, "followed accounts": follows / users}


def main() -> None:
    """Run the diagnostic, print its table and write ``results/feed_ceiling.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hours", type=int, default=24)
    args = parser.parse_args()
    settings = Settings()
    prep = prepare_world(settings.simulator, args.scale, args.seed, settings.evaluation.eval_days)
    tables, history = contract_tables(prep.world), Events.concat(prep.world.parts)
    split_ms = prep.window_start_ms - int(settings.rankers.holdout_days * DAY_MS)
    with tempfile.TemporaryDirectory() as tmp:
        models, affinities = train_models(settings, tables, split_ms, Path(tmp))
    twin = prep.world.branch(args.seed)
    gate = GatePolicy(len(twin.pop.posts.account), settings.gate)
    gate.warm_up(history, twin.observation())
    recorder = Recorder(ModelPolicy(models, tables, history, gate, settings.features, affinities), twin)
    twin.run(recorder, args.hours)
    out: dict[str, dict[str, float]] = {}
    for slot in FEED_SLOTS:
        lists = [x for x in recorder.lists if x[0].slot == slot]
        per = [scorers(twin, b, s) for b, s, _ in lists]
        pairs = list(zip(lists, per, strict=True))
        out[slot] = {name: float(np.mean([ndcg(b.session, sc[name], u) for (b, _, u), sc in pairs])) for name in per[0]}
    pop = prep.world.pop
    evidence = history_per_user(history, len(pop.follow_user), len(pop.users.taste))
    print(f"feed_ceiling --scale {args.scale} --seed {args.seed} --hours {args.hours}: nDCG@10 on true utility")
    print("  history before the window, per user: " + ", ".join(f"{k} {v:.2f}" for k, v in evidence.items()))
    for slot, row in out.items():
        for name, value in row.items():
            print(f"  {slot:12s} {name:55s} {value:.3f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"scale": args.scale, "seed": args.seed, "hours": args.hours, "ndcg_at_10": out,
                                   "history_per_user": evidence},
                                  indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
