"""The two reference services of ``weitao bench serve``, as uvicorn app factories, and their launcher.

* ``floor``: ``POST /rank`` answers a constant small orjson body without reading the request: the cost
  of uvicorn, the event loop and HTTP alone, the least any service on this stack can spend.
* ``naive``: the service as a careful user would write it with the same stack and the same model files:
  FastAPI with pydantic request and response models and the default JSON response, the online features
  of the same stores (``feature_rows`` + ``OnlineFeatures.get``), then a pandas DataFrame through
  ``lightgbm.Booster.predict`` head by head, calibrated and blended exactly as ``HeadModel.predict`` does.
  It keeps fans-only posts to fans (a service that leaks them is not a service) but runs none of the
  slot's other filters, rules or logging, so it does less work than ours per request.

Both start like ``weitao serve``: ``python -m weitao.bench.apps KIND --config CFG --data DIR --port P
--workers N`` exports the settings tree for the workers (``weitao.settings.export_for_workers``) and runs
uvicorn with the same options, so the three services differ only in the application.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

from features.featuresets import get_feature_set
from ranking.affinity import Affinity
from ranking.frame import PUBLIC
from ranking.heads import HeadModel
from ranking.model_store import load_registered
from ranking.scorers.model import feature_rows
from serving.config import ServiceConfig
from serving.data import SLOT_FEATURE_SET, ServiceData, load_service_data
from serving.schemas import RankBody, RankedItem, RankResponse
from weitao.service import service_config
from weitao.settings import export_for_workers, load_settings, settings_for_worker

FLOOR_BODY = orjson.dumps({"request_id": "0", "model_version": "floor", "fallback": None, "items": []})


def floor_app() -> FastAPI:
    """The empty service: a constant body for every ``POST /rank``, ``/ready`` always 200."""
    app = FastAPI(title="floor")

    @app.post("/rank")
    async def rank() -> Response:
        return Response(FLOOR_BODY, media_type="application/json")

    @app.get("/ready")
    async def ready() -> Response:
        return Response(b'{"ready":true}', media_type="application/json")

    return app


@dataclass(frozen=True)
class NaiveModel:
    """One slot's heads as LightGBM boosters, with the calibration and blend of ``HeadModel``."""

    version: str
    head: HeadModel
    affinity: Affinity | None

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Blended score through a pandas DataFrame and ``Booster.predict`` per head."""
        frame = pd.DataFrame(X, columns=self.head.feature_names)
        # One thread, as HeadModel: with one worker per core more threads only contend.
        raw = {name: b.predict(frame, num_threads=1) for name, b in self.head.boosters.items()}
        return self.head.blended(self.head.combine(raw, len(frame)), len(frame))


@dataclass
class NaiveRanker:
    """Candidates in, top ``k`` by blended score out: hydrate, keep fans-only posts to fans, score."""

    data: ServiceData
    models: dict[str, NaiveModel]
    started: float

    def now_ms(self) -> int:
        """The same data clock as the service: the data's last event plus the time since loading."""
        return self.data.data_end_ms + int((time.monotonic() - self.started) * 1000)

    def rank(self, body: RankBody) -> RankResponse:
        """The page of ``body`` (follow_feed with candidates only)."""
        if body.slot != "follow_feed" or not body.candidates:
            raise HTTPException(422, "naive: follow_feed with candidates only")
        model, online, cat, now = self.models[body.slot], self.data.online[body.slot], self.data.catalog, self.now_ms()
        rows = cat.post_rows(np.asarray(body.candidates, np.int64))
        frame = cat.post_candidates(np.zeros(int((rows >= 0).sum()), np.int64), rows[rows >= 0])
        user = np.full(len(frame), body.user_id, np.int64)
        visible = (frame.visibility == PUBLIC) | cat.is_fan(user, frame.author_id, now)
        frame = frame.take(visible & (frame.created_ms < now))
        user = np.full(len(frame), body.user_id, np.int64)
        X = online.get(feature_rows(online.feature_set, user, frame.item_type, frame.item_id, frame.author_id,
                                    frame.category, np.full(len(frame), now), model.affinity))
        scores = model.predict(X)
        top = np.argsort(-scores, kind="stable")[: body.k]
        return RankResponse(request_id=uuid.uuid4().hex, model_version=model.version, fallback=None,
                            items=[RankedItem(id=int(frame.item_id[i]), type="post", score=float(scores[i]),
                                              position=p, propensity=1.0, reasons=[]) for p, i in enumerate(top)])


def load_naive(config: ServiceConfig) -> NaiveRanker:
    """The data and the registry champions' model files, as the service loads them."""
    data = load_service_data(config.serving.data_dir, config.features, config.ranking)
    models = {}
    for slot, fs_name in SLOT_FEATURE_SET.items():
        name = f"{config.registry_prefix}{slot}"
        loaded = load_registered(config.tracking_uri, name, config.serving.model_alias, get_feature_set(fs_name),
                                 config.model_cache)
        models[slot] = NaiveModel(f"{name}/{loaded.version}", loaded.head_model(), Affinity.load(loaded.path))
    return NaiveRanker(data, models, time.monotonic())


def naive_app() -> FastAPI:
    """The naive service of this worker (settings from ``weitao.settings.settings_for_worker``)."""
    config = service_config(settings_for_worker())
    holder: dict[str, NaiveRanker] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        holder["ranker"] = load_naive(config)  # before the worker takes traffic
        yield

    app = FastAPI(title="naive", lifespan=lifespan)

    @app.post("/rank", response_model=RankResponse)
    async def rank(body: RankBody) -> RankResponse:
        return holder["ranker"].rank(body)

    @app.get("/ready")
    async def ready() -> dict[str, bool]:
        return {"ready": "ranker" in holder}

    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m weitao.bench.apps floor|naive --config CFG --data DIR --port P --workers N``."""
    parser = argparse.ArgumentParser(prog="weitao.bench.apps", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("floor", "naive"))
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    serving = settings.serving.model_copy(update={"data_dir": args.data, "port": args.port, "workers": args.workers})
    settings = settings.model_copy(update={"serving": serving})
    export_for_workers(settings, serving.page_log_dir.parent / f"{args.kind}-settings.json")
    uvicorn.run(f"weitao.bench.apps:{args.kind}_app", factory=True, host=serving.host, port=serving.port,
                workers=args.workers, log_level="warning", timeout_graceful_shutdown=30)


if __name__ == "__main__":
    main()
