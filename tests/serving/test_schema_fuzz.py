"""Schemathesis against a real `weitao serve`: over 10,000 generated requests, no 5xx, every response as declared.

The service's own OpenAPI document (``/openapi.json``) drives generation: valid and invalid bodies for every
operation, ``/admin/*`` with generated (wrong or missing) and with the real bearer token. Every response
goes through schemathesis' checks; failures are collected (one example each) rather than stopping at the
first, so a red run lists every distinct problem. The control runs the same machinery against a small app
that breaks its own schema and must be caught.

The ``test_bug_*`` tests pin single problems the fuzzing found, as plain requests.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import BaseModel
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from features.storage import read_table
from serving.app import create_app
from serving.pagelog import read_pages
from tests.services import app_on_loopback
from tests.serving.conftest import ServedWorld, users
from tests.serving.live import AUTH, Registry, make_registry, serve

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
MIN_CASES = 10_000
# Cases per (operation, mode). Operations without parameters or body have only a handful of distinct
# requests, so Hypothesis stops early there; the bodies of /rank and /events carry the bulk (invalid event
# batches cost the most to generate: about 50 a second against 250 valid /rank bodies).
BUDGET: dict[tuple[str, GenerationMode], int] = {
    ("POST /rank", POSITIVE): 5_000,
    ("POST /rank", NEGATIVE): 1_800,
    ("POST /events", POSITIVE): 2_200,
    ("POST /events", NEGATIVE): 700,
    ("POST /admin/reload", POSITIVE): 200,
    ("POST /admin/reload", NEGATIVE): 200,
}
DEFAULT_BUDGET = 150  # any other operation (new routes are fuzzed too)


@dataclass(frozen=True)
class Plan:
    label: str  # "POST /rank"
    mode: GenerationMode
    headers: dict[str, str] | None  # fixed headers (the admin token), else generated
    max_examples: int


@dataclass
class FuzzReport:
    """What a fuzzing run sent and every distinct failure (check title, operation, status) with one example."""

    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: dict[tuple[str, str, int], str] = field(default_factory=dict)
    failure_counts: Counter[tuple[str, str, int]] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    def summary(self) -> str:
        lines = [f"{self.total} cases; statuses {dict(sorted(self.statuses.items()))}", "failures:"]
        lines += [f"  {n:5d} x {title}: {label} -> {status}" for (title, label, status), n in
                  sorted(self.failure_counts.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2]))]
        for (title, label, status), example in self.failures.items():
            lines.append(f"\n=== {title}: {label} -> {status}, first example:\n{example}")
        return "\n".join(lines)


def plan_for(schema: Any, budget: dict[tuple[str, GenerationMode], int], default: int) -> list[Plan]:
    """Positive and negative generation for every operation; admin operations also with the real token."""
    out = []
    for result in schema.get_all_operations():
        op = result.ok()
        for mode in (POSITIVE, NEGATIVE):
            n = budget.get((op.label, mode), default)
            out.append(Plan(op.label, mode, None, n))
            if op.path.startswith("/admin/"):
                out.append(Plan(op.label, mode, AUTH, min(n, 20)))  # every call reloads models: keep it short
    return out


def fuzz(schema: Any, base_url: str, plans: list[Plan]) -> FuzzReport:
    """Run every plan over HTTP with the schemathesis checks; collect failures instead of stopping."""
    report = FuzzReport()
    session = requests.Session()
    operations = {r.ok().label: r.ok() for r in schema.get_all_operations()}
    for plan in plans:
        try:
            _run(operations[plan.label], plan, base_url, session, report)
        except Unsatisfiable:  # nothing to negate in an operation without inputs: no case to send
            assert plan.mode is NEGATIVE, plan
    return report


def _run(op: Any, plan: Plan, base_url: str, session: requests.Session, report: FuzzReport) -> None:
    kwargs = {"headers": plan.headers} if plan.headers else {}

    @settings(max_examples=plan.max_examples, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=plan.mode, **kwargs))
    def one(case: Any) -> None:
        response = case.call(base_url=base_url, session=session, timeout=60)
        try:
            case.validate_response(response, checks=CHECKS)
            found: tuple[Failure, ...] = ()
        except (FailureGroup, Failure) as e:
            found = e.exceptions if isinstance(e, FailureGroup) else (e,)
            text = str(e)[:1500]
        report.cases[plan.label] += 1
        report.statuses[(plan.label, response.status_code)] += 1
        for failure in found:
            key = (failure.title, plan.label, response.status_code)
            report.failure_counts[key] += 1
            report.failures.setdefault(key, text)

    one()


# ---------------------------------------------------------------- the real service


@pytest.fixture(scope="module")
def live(served_world: ServedWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`weitao serve` with one worker over the served world, its champions from a fresh registry."""
    registry: Registry = make_registry(served_world, tmp_path_factory.mktemp("fuzz"))
    with serve(registry, workers=1) as base:
        yield base


@pytest.mark.slow
def test_10k_generated_requests_get_no_5xx_and_only_declared_responses(live: str, record_property: Any) -> None:
    schema = schemathesis.openapi.from_url(f"{live}/openapi.json")
    plans = plan_for(schema, BUDGET, DEFAULT_BUDGET)
    labels = {p.label for p in plans}
    assert {"GET /health", "GET /ready", "POST /rank", "POST /events", "GET /hotlist",
            "POST /admin/reload"} <= labels, labels
    started = time.perf_counter()
    report = fuzz(schema, live, plans)
    record_property("fuzz_cases", report.total)
    record_property("fuzz_seconds", round(time.perf_counter() - started, 1))
    record_property("fuzz_failures", {f"{k[0]}: {k[1]} -> {k[2]}": n for k, n in report.failure_counts.items()})
    assert report.total >= MIN_CASES, report.summary()
    assert report.statuses[("POST /rank", 200)] > 0 and report.statuses[("POST /admin/reload", 200)] > 0
    assert not report.failures, report.summary()


# ---------------------------------------------------------------- the control


class Thing(BaseModel):
    n: int


def _broken_app() -> FastAPI:
    """Declares its responses, then breaks them: a body of the wrong type, and a 500."""
    app = FastAPI()

    @app.get("/good", response_model=Thing)
    async def good() -> Thing:
        return Thing(n=1)

    @app.get("/bad", response_model=Thing)
    async def bad() -> JSONResponse:
        return JSONResponse({"n": "not a number"})  # a raw response is not checked against response_model

    @app.post("/crash", response_model=Thing)
    async def crash(thing: Thing) -> Thing:
        if thing.n % 2:
            raise RuntimeError("boom")
        return thing

    return app


def test_control_the_same_checks_catch_a_schema_violation_and_a_5xx() -> None:
    with app_on_loopback(_broken_app(), timeout=20, log_level="critical") as base:
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        report = fuzz(schema, base, plan_for(schema, {}, 30))
    assert report.cases["GET /good"] >= 1 and report.cases["POST /crash"] >= 10, report.summary()
    titles = {(title, label, status) for title, label, status in report.failures}
    assert ("Response violates schema", "GET /bad", 200) in titles, report.summary()
    assert ("Server error", "POST /crash", 500) in titles, report.summary()
    assert not any(label == "GET /good" for _, label, _ in titles), report.summary()


# ---------------------------------------------------------------- single requests the fuzzing found wrong once

BIG = 2**63  # one past the largest int64: valid JSON, a valid StrictInt, and no id or time the service can hold


def _event(user: int, **changes: object) -> dict[str, object]:
    return {"event_id": 10**15 + 7, "user_id": user, "target_type": "post", "target_id": 1, "action": "click",
            "slot": "follow_feed", "source": "in_app", "event_time": "2024-01-01T00:00:00Z", **changes}


REQUESTS: dict[str, tuple[str, str, Any, dict[str, str] | None]] = {  # id: method, path, body, headers
    "rank-candidate-id-beyond-int64": ("POST", "/rank", {"slot": "hotlist", "candidates": [BIG]}, None),
    "events-id-beyond-int64": ("POST", "/events", {"events": [_event(0, event_id=BIG)]}, None),
    "events-target-beyond-int64": ("POST", "/events", {"events": [_event(0, target_id=BIG * 2)]}, None),
    "rank-invalid-body-422": ("POST", "/rank", {"slot": "hotlist", "k": "ten"},
                                                                None),
    "rank-k-over-limit-422": ("POST", "/rank", {"slot": "hotlist", "k": 1000}, None),
    "events-bad-row-422": ("POST", "/events", {"events": [{"x": 1}]}, None),
    "rank-unknown-user-404": ("POST", "/rank", {"user_id": 10**12, "slot": "hotlist"}, None),
    "admin-without-token-401": ("POST", "/admin/reload", None, {}),
    "admin-wrong-token-403": ("POST", "/admin/reload", None, {"Authorization": "Bearer wrong"}),
    "metrics-text-plain": ("GET", "/metrics", None, None),
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_edge_requests_get_declared_answers(live: str, served_world: ServedWorld, name: str) -> None:
    """Requests the fuzzing once found answered with a 5xx or outside the schema: each now gets a declared answer."""
    method, path, body, headers = REQUESTS[name]
    schema = schemathesis.openapi.from_url(f"{live}/openapi.json")
    if isinstance(body, dict) and path == "/rank":  # a known user, so the request gets past the user check
        body = {"user_id": read_table(served_world.data, "users").column("user_id")[0].as_py(), **body}
    kwargs: dict[str, Any] = {"body": body} if body is not None else {}
    case = schema[path][method].Case(headers=headers, media_type="application/json" if body else None, **kwargs)
    response = case.call(base_url=live, timeout=60)
    try:
        case.validate_response(response, checks=CHECKS)
    except (FailureGroup, Failure) as e:
        pytest.fail(f"{method} {path} {body!r} -> {response.status_code} {response.text[:300]}\n{e}")


def test_a_request_time_beyond_int64_is_refused_and_the_page_log_survives(served_world: ServedWorld,
                                                                    tmp_path: Path) -> None:
    """``context.now_ms`` = 2**63 once was served, and then the page log could not write its batch."""
    config = served_world.config(page_log_dir=tmp_path / "served")
    app = create_app(config, load_models=served_world.loader(), background=False)
    client = TestClient(app)
    client.__enter__()
    shutdown_error: BaseException | None = None
    try:
        user = int(users(client)[0])
        ok = client.post("/rank", json={"user_id": user, "slot": "hotlist", "k": 5}).json()
        poison = client.post("/rank", json={"user_id": user, "slot": "hotlist", "k": 5, "context": {"now_ms": BIG}})
        assert poison.status_code in (200, 422), poison.text
    finally:
        try:
            client.__exit__(None, None, None)
        except Exception as e:  # the page log's flush on shutdown
            shutdown_error = e
    assert ok["items"], "the control page is empty: nothing to look for in the log"
    logged = read_pages(tmp_path / "served")
    assert shutdown_error is None, f"shutdown failed: {shutdown_error!r}"
    assert set(logged.column("request_id").to_pylist()) >= {ok["request_id"]}
