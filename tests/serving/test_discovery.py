"""Discovery in the service: the faiss index of the ranker's account vectors adds public posts of accounts
like the ones a user engages with, never fans-only posts and never accounts the user already follows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from fastapi.testclient import TestClient

from features.contract import code, enum_codes
from ranking.settings import RankingSettings
from ranking.sources.similar_accounts import REASON
from serving.app import create_app
from tests.serving.conftest import ServedWorld


def _pages(world: ServedWorld, accounts: int) -> tuple[list[tuple[int, list[dict]]], object]:
    config = world.config()
    config = replace(config, ranking=RankingSettings(discovery_accounts=accounts, discovery_limit=20))
    with TestClient(create_app(config, load_models=world.loader(), background=False)) as c:
        s = c.app.state.service
        affinity = s.engine.models["follow_feed"].affinity
        users = affinity.user_ids[:40]
        pages = [(int(u), c.post("/rank", json={"user_id": int(u), "slot": "follow_feed", "k": 50}).json()["items"])
                 for u in users]
        return pages, s.data


def test_discovery_adds_public_posts_of_unfollowed_similar_accounts(served_world: ServedWorld) -> None:
    pages, data = _pages(served_world, accounts=10)
    posts = data.tables["posts"]
    ids = posts.column("post_id").to_numpy()
    public = enum_codes(posts.column("visibility"), "visibility") == code("visibility", "public")
    author = posts.column("account_id").to_numpy()
    found = 0
    for user, items in pages:
        for item in items:
            if REASON not in item["reasons"]:
                continue
            found += 1
            row = int(np.flatnonzero(ids == item["id"])[0])
            assert public[row], item  # never a fans-only post
            assert not data.catalog.is_fan(np.array([user]), np.array([author[row]]), data.data_end_ms)[0]
    assert found > 0
    off, _ = _pages(served_world, accounts=0)  # the control: switched off, no page carries it
    assert not any(REASON in item["reasons"] for _, items in off for item in items)
