"""The world ``weitao bench serve`` runs on: a simulated data directory, slot rankers registered as champions
in a SQLite MLflow registry, the settings file every service reads, the ``/rank`` request bodies, and the
figures measured in-process (the model alone on 500 rows, the rows our pipeline actually scores).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from experiments.settings import SimulatorSettings
from experiments.simulate import simulate
from features.contract import code, enum_codes
from ranking.base import RankContext
from ranking.request import RankRequest
from ranking.runner import Runner
from ranking.scorers.model import feature_rows
from serving.config import ServiceConfig
from serving.data import load_service_data
from serving.models import build_engine, load_champions
from training.registry import promote
from weitao.bench.apps import NaiveModel
from weitao.commands.train import read_tables, train_and_register
from weitao.service import service_config
from weitao.settings import load_settings

SLOT = "follow_feed"
RANKED_SLOTS = ("follow_feed", "new_arrival")


@dataclass(frozen=True)
class BenchWorld:
    """Where everything is: data directory, settings file, and the requests to send."""

    root: Path
    data: Path
    config: Path
    requests: list[dict[str, Any]]

    def bodies(self) -> list[bytes]:
        """The requests as JSON bodies."""
        return [orjson.dumps(r) for r in self.requests]

    def service_config(self) -> ServiceConfig:
        """What the services read from the settings file, with this world's data directory."""
        settings = load_settings(self.config)
        serving = settings.serving.model_copy(update={"data_dir": self.data})
        return service_config(settings.model_copy(update={"serving": serving}))


def write_config(root: Path, trees: int, leaves: int, min_child_samples: int) -> Path:
    """The settings file: registry and caches under ``root``, page log under ``root/served``, ranker size."""
    lines = ["[tracking]", f'tracking_uri = "sqlite:///{root / "mlflow.db"}"',
             f'artifact_root = "{root / "artifacts"}"', f'model_cache = "{root / "cache"}"',
             "[serving]", f'page_log_dir = "{root / "served"}"',
             "[rankers]", f"n_estimators = {trees}", f"num_leaves = {leaves}",
             f"min_child_samples = {min_child_samples}"]
    path = root / "weitao.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def prepare_world(root: Path, simulator: SimulatorSettings, scale: str, seed: int, *, trees: int, leaves: int,
                  min_child_samples: int, candidates: int = 500, users: int = 200, k: int = 20,
                  on_step: Callable[[str], None] = lambda _: None) -> BenchWorld:
    """Simulate the world, train and register both rankers as champions, pick the requests."""
    on_step(f"simulating the {scale} world (seed {seed})")
    simulate(simulator, scale, seed, root / "data")
    config = write_config(root, trees, leaves, min_child_samples)
    settings = load_settings(config)
    tables = read_tables(root / "data")
    for slot in RANKED_SLOTS:
        on_step(f"training {slot} ({trees} trees, {leaves} leaves per head) and registering it as champion")
        train_and_register(settings, tables, slot)
        if not promote(settings, slot, metric="ndcg_at_10", higher_is_better=True, min_delta=0.0).moved:
            raise RuntimeError(f"{slot}: the first registered model was not promoted to champion")
    requests = pick_requests(tables, np.random.default_rng(seed), users, candidates, k)
    return BenchWorld(root, root / "data", config, requests)


def pick_requests(tables: dict[str, pa.Table], rng: np.random.Generator, users: int, candidates: int,
                  k: int) -> list[dict[str, Any]]:
    """``follow_feed`` requests of the users who follow most accounts, ``candidates`` post ids each: the posts
    of the accounts they follow (fans-only ones included: they are fans) topped up with random public posts."""
    end = int(pc.max(tables["events"].column("event_time").cast(pa.int64())).as_py())
    follows = tables["follows"]
    unfollowed = follows.column("unfollowed_at").cast(pa.int64()).to_numpy(zero_copy_only=False)
    active = np.isnan(unfollowed.astype(float)) | (unfollowed > end)
    f_user = follows.column("user_id").to_numpy()[active]
    f_account = follows.column("account_id").to_numpy()[active]
    posts = tables["posts"]
    p_id, p_account = posts.column("post_id").to_numpy(), posts.column("account_id").to_numpy()
    p_created = posts.column("created_at").cast(pa.int64()).to_numpy()
    public = enum_codes(posts.column("visibility"), "visibility") == code("visibility", "public")
    live = p_created < end
    ids, counts = np.unique(f_user, return_counts=True)
    chosen = ids[np.argsort(-counts, kind="stable")[:users]]
    out = []
    for user in chosen:
        mine = np.isin(p_account, f_account[f_user == user]) & live
        own = p_id[mine][np.argsort(-p_created[mine], kind="stable")][:candidates]
        pool = p_id[public & live & ~mine]
        extra = rng.choice(pool, size=min(len(pool), candidates - len(own)), replace=False)
        ids_ = np.concatenate([own, extra])
        rng.shuffle(ids_)
        out.append({"user_id": int(user), "slot": SLOT, "k": k, "candidates": [int(i) for i in ids_]})
    return out


def in_process_figures(world: BenchWorld, repeats: int = 300) -> dict[str, Any]:
    """The champion of ``follow_feed`` alone on one request's 500 rows (as the service loads it: compiled when
    the service compiles), LightGBM and the naive pandas path on the same rows, the model's size, and how
    many rows our pipeline scores per request."""
    config = world.service_config()
    t = time.perf_counter()
    models = load_champions(config)
    load_s = time.perf_counter() - t
    data = load_service_data(config.serving.data_dir, config.features, config.ranking)
    slot_model = models[SLOT]
    predict = getattr(slot_model, "predict", None)
    kind = "SlotModel.predict" if predict is not None else "HeadModel.predict"
    X = feature_matrix(data, slot_model.affinity, world.requests[0])
    naive = NaiveModel(slot_model.version, slot_model.head, slot_model.affinity)
    engine = build_engine(models, data, config.ranking)
    runner = Runner.from_settings(config.ranking)
    scored = []
    for r in world.requests[:50]:
        request = RankRequest(r["user_id"], SLOT, r["k"], data.data_end_ms, r["candidates"])
        result = runner.run(engine.slots[SLOT], [request], RankContext(data.catalog, data.seen))
        scored += [rep.rows_in for rep in result.reports if rep.stage == "scorer"][:1]
    return {
        "predict_p50_ms": p50_ms(predict or slot_model.head.predict, X, repeats), "predict_kind": kind,
        "compiled": bool(getattr(slot_model, "compiled", False)), "models_load_s": load_s,
        "lightgbm_predict_p50_ms": p50_ms(slot_model.head.predict, X, repeats),
        "naive_pandas_predict_p50_ms": p50_ms(naive.predict, X, repeats), "predict_rows": len(X),
        "features": X.shape[1], "scored_rows_p50": float(np.median(scored)) if scored else 0.0,
        "model": model_size(slot_model.head),
    }


def feature_matrix(data: Any, affinity: Any, request: dict[str, Any]) -> np.ndarray:
    """The feature matrix of every candidate of ``request`` at the end of the data (as the scorer builds it)."""
    online, cat = data.online[SLOT], data.catalog
    rows = cat.post_rows(np.asarray(request["candidates"], np.int64))
    frame = cat.post_candidates(np.zeros(int((rows >= 0).sum()), np.int64), rows[rows >= 0])
    n = len(frame)
    return online.get(feature_rows(online.feature_set, np.full(n, request["user_id"]), frame.item_type,
                                   frame.item_id, frame.author_id, frame.category, np.full(n, data.data_end_ms),
                                   affinity))


def p50_ms(fn: Callable[[np.ndarray], Any], X: np.ndarray, repeats: int) -> float:
    """Median milliseconds of ``fn(X)`` over ``repeats`` calls after a few warm-up calls."""
    for _ in range(10):
        fn(X)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(X)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def model_size(head: Any) -> dict[str, Any]:
    """Heads, trees per head and mean leaves per tree of a head model."""
    trees, leaves = {}, []
    for name, booster in head.boosters.items():
        info = booster.dump_model()["tree_info"]
        trees[name] = len(info)
        leaves += [t["num_leaves"] for t in info]
    return {"heads": sorted(head.boosters), "trees_per_head": trees,
            "mean_leaves_per_tree": float(np.mean(leaves)) if leaves else 0.0}
