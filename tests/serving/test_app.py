"""The service end to end in process: ranking every slot, readiness, errors naming the field, admin auth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from ranking.settings import StageBudgets
from serving.app import create_app
from serving.pagelog import read_pages
from tests.serving.conftest import TOKEN, ServedWorld, users


def test_not_ready_until_loaded_and_health_is_liveness_only(served_world: ServedWorld) -> None:
    app = create_app(served_world.config(), load_models=served_world.loader(), background=False)
    client = TestClient(app)  # not entered: the lifespan has not loaded anything
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 503
    assert client.post("/rank", json={"user_id": 0, "slot": "hotlist"}).status_code == 503


def test_every_slot_ranks_with_positions_reasons_and_versions(client: TestClient) -> None:
    u = users(client)
    for slot in ("follow_feed", "new_arrival", "hotlist"):
        pages = [client.post("/rank", json={"user_id": int(x), "slot": slot, "k": 7}).json() for x in u[:30]]
        served = [p for p in pages if p["items"]]
        assert served, f"{slot}: no user got a page"
        for page in served:
            assert len(page["items"]) <= 7
            assert [i["position"] for i in page["items"]] == list(range(len(page["items"])))
            assert all(i["propensity"] == 1.0 and isinstance(i["reasons"], list) for i in page["items"])
            assert page["request_id"] and page["model_version"]
        want = "product" if slot == "new_arrival" else "post"
        assert {i["type"] for p in served for i in p["items"]} == {want}
    versions = client.get("/ready").json()["model_versions"]
    assert set(versions) == {"follow_feed", "new_arrival", "hotlist"}


def test_model_scores_order_the_follow_feed(client: TestClient) -> None:
    u = users(client)
    page = next(p for p in (client.post("/rank", json={"user_id": int(x), "slot": "follow_feed", "k": 10}).json()
                            for x in u[:50]) if len(p["items"]) >= 3 and p["fallback"] is None)
    scores = [i["score"] for i in page["items"]]
    assert len(set(scores)) > 1  # a model, not a constant: scores differ between items


def test_bad_input_gets_4xx_naming_the_field(client: TestClient) -> None:
    u = int(users(client)[0])
    most = client.app.state.service.config.serving.max_candidates
    cases = [
        ({"user_id": u, "slot": "follow_feed", "k": "ten"}, 422, "k"),
        ({"user_id": u, "slot": "nowhere"}, 422, "slot"),
        ({"user_id": -1, "slot": "hotlist"}, 422, "user_id"),
        ({"user_id": 10**12, "slot": "hotlist"}, 404, "user_id"),
        ({"user_id": u, "slot": "hotlist", "k": 5000}, 422, "k"),
        ({"user_id": u, "slot": "follow_feed", "candidates": []}, 422, "candidates"),
        ({"user_id": u, "slot": "follow_feed", "candidates": [10**12]}, 422, "candidates[0]"),
        ({"user_id": u, "slot": "follow_feed", "candidates": [1.5]}, 422, "candidates"),
        ({"user_id": u, "slot": "follow_feed", "context": {"x": float("nan")}}, 422, "context"),
        ({"user_id": u, "slot": "follow_feed", "context": {"x": float("inf")}}, 422, "context"),
        ({"user_id": u, "slot": "follow_feed", "context": {"x": -float("inf")}}, 422, "context"),
        ({"user_id": u, "slot": "follow_feed", "candidates": list(range(most + 1))}, 422, "candidates"),
        ({"user_id": u, "slot": "follow_feed", "extra": 1}, 422, "extra"),
    ]
    for body, status, field in cases:
        r = client.post("/rank", content=_json(body), headers={"content-type": "application/json"})
        assert r.status_code == status, (body, r.text)
        assert field in r.json()["detail"], (body, r.text)
    over = client.post("/rank", json={"user_id": u, "slot": "follow_feed", "candidates": list(range(most + 1))})
    assert f"the most is {most}" in over.json()["detail"]  # the oversize list, not its first unknown id
    big = client.post("/rank", content=b"{" + b" " * 2_000_000 + b"}", headers={"content-type": "application/json"})
    assert big.status_code == 413 and "body" in big.json()["detail"]


def _json(body: dict) -> bytes:
    import json

    return json.dumps(body, allow_nan=True).encode()  # NaN and infinities on purpose: the service must refuse them


def test_admin_needs_the_bearer_token(client: TestClient) -> None:
    assert client.post("/admin/reload").status_code == 401
    assert client.post("/admin/reload", headers={"Authorization": "Bearer wrong"}).status_code == 403
    ok = client.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["reloaded"] is True


def test_metrics_count_latency_per_slot(client: TestClient) -> None:
    client.post("/rank", json={"user_id": int(users(client)[0]), "slot": "new_arrival"})
    text = client.get("/metrics").text
    assert 'weitao_rank_latency_ms_count{slot="new_arrival"}' in text
    assert 'weitao_rank_stage_ms_count{slot="new_arrival",stage="scorer"}' in text
    assert 'weitao_model_info{slot="follow_feed"' in text


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample in an exposition ``text`` (0 when absent)."""
    return next((s.value for family in text_string_to_metric_families(text) for s in family.samples
                 if s.name == name and s.labels == labels), 0.0)


def test_metrics_count_fallbacks_and_stages_over_budget(served_world: ServedWorld) -> None:
    base = served_world.config()
    tight = replace(base, ranking=base.ranking.model_copy(update={"budget_ms": StageBudgets(sources=1e-6)}))
    for config, over in ((base, 0.0), (tight, 1.0)):  # the default budgets are met: the control
        with TestClient(create_app(config, load_models=served_world.loader(), background=False)) as c:
            c.post("/rank", json={"user_id": int(users(c)[0]), "slot": "follow_feed"})
            text = c.get("/metrics").text
            assert _sample(text, "weitao_rank_stage_over_budget_total", slot="follow_feed", stage="sources") == over
    with TestClient(create_app(served_world.config(deadline_ms=1e-6), load_models=served_world.loader(),
                               background=False)) as c:
        page = c.post("/rank", json={"user_id": int(users(c)[0]), "slot": "follow_feed"}).json()
        text = c.get("/metrics").text
        assert _sample(text, "weitao_rank_fallbacks_total", slot="follow_feed", fallback=page["fallback"]) == 1.0


def test_served_pages_are_logged_to_parquet_on_shutdown(served_world: ServedWorld, tmp_path) -> None:
    config = served_world.config(page_log_dir=tmp_path / "served")
    app = create_app(config, load_models=served_world.loader(), background=False)
    with TestClient(app) as c:
        u = users(c)
        served = [c.post("/rank", json={"user_id": int(x), "slot": "hotlist", "k": 5}).json() for x in u[:10]]
    pages = read_pages(tmp_path / "served")
    n = sum(len(p["items"]) for p in served)
    assert pages.num_rows == n > 0
    first = served[0]["items"][0]["id"] if served[0]["items"] else None
    assert set(pages.column("slot").to_pylist()) == {"hotlist"}
    assert first is None or first in pages.column("item_id").to_pylist()
    assert np.all(pages.column("propensity").to_numpy() == 1.0)
    logged = {(r["request_id"], r["item_id"]): r["reasons"] for r in pages.to_pylist()}
    assert all(logged[(p["request_id"], i["id"])] == i["reasons"] for p in served for i in p["items"])


def test_a_model_that_cannot_score_gives_way_to_recency_and_the_page_is_served(served_world: ServedWorld) -> None:
    from dataclasses import replace

    from ranking.heads import HeadModel

    def broken(config: object) -> dict:
        models = served_world.loader()(config)  # a head over one column cannot score the 54-column rows
        head = HeadModel(["x"], {"click": 0.1})
        models["follow_feed"] = replace(models["follow_feed"], head=head, predict=head.predict, compiled=False)
        return models

    app = create_app(served_world.config(), load_models=broken, background=False)
    with TestClient(app) as c:
        pages = [c.post("/rank", json={"user_id": int(x), "slot": "follow_feed", "k": 5}).json()
                 for x in users(c)[:30]]
    recency = [p for p in pages if p["fallback"] == "recency"]
    assert recency and all(p["items"] for p in recency)
    scores = [i["score"] for i in recency[0]["items"]]
    assert scores == sorted(scores, reverse=True) and all(0 < x <= 1 for x in scores)
