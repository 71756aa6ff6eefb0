"""`weitao bench rank-path`: the no-network ASGI call it times, and its argument errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from typer.testing import CliRunner

from serving.asgi import asgi_call
from weitao.bench.rank_path import load_world
from weitao.commands.bench import app

runner = CliRunner()


class Body(BaseModel):
    x: int


def echo_app() -> FastAPI:
    api = FastAPI()

    @api.post("/double")
    async def double(body: Body) -> dict[str, int]:
        return {"y": 2 * body.x}

    return api


def test_the_asgi_call_goes_through_validation_and_the_handler() -> None:
    api = echo_app()
    status, body = asyncio.run(asgi_call(api, "POST", "/double", b'{"x": 21}'))
    assert status == 200 and orjson.loads(body) == {"y": 42}
    status, _ = asyncio.run(asgi_call(api, "POST", "/double", b'{"x": "many"}'))
    assert status == 422
    status, _ = asyncio.run(asgi_call(api, "POST", "/nowhere", b"{}"))
    assert status == 404


def test_a_workdir_without_a_world_is_named(tmp_path: Path) -> None:
    result = runner.invoke(app, ["rank-path", "--workdir", str(tmp_path)])
    assert result.exit_code == 2 and "--workdir" in result.output
    (tmp_path / "weitao.toml").write_text("")
    (tmp_path / "bodies.jsonl").write_bytes(b'{"user_id": 1, "slot": "follow_feed", "k": 5, "candidates": [3]}\n')
    world = load_world(tmp_path)
    assert world.requests == [{"user_id": 1, "slot": "follow_feed", "k": 5, "candidates": [3]}]


def test_batched_figure_ranks_whole_passes_and_divides_by_their_size(monkeypatch: pytest.MonkeyPatch) -> None:
    import weitao.bench.rank_path as rank_path

    clock = {"ns": 0}

    class Counting:
        """A pass of n requests costs n ms of (fake) CPU."""

        def __init__(self) -> None:
            self.passes: list[int] = []

        def rank_many(self, requests: list[int]) -> list[int]:
            self.passes.append(len(requests))
            clock["ns"] += 1_000_000 * len(requests)
            return requests

    monkeypatch.setattr(rank_path.time, "thread_time_ns", lambda: clock["ns"])
    ranker = Counting()
    assert rank_path._batched_cpu_per_request(ranker, list(range(10)), 4) == 1.0  # type: ignore[arg-type]
    assert ranker.passes == [4, 4, 4]  # a warm pass, then the two whole passes of four (the last two left out)


def test_after_idle_pauses_before_every_request_and_takes_medians(monkeypatch: pytest.MonkeyPatch) -> None:
    import weitao.bench.rank_path as rank_path

    clock = {"ns": 0}
    pauses: list[float] = []

    class Service:
        """Request i costs i + 1 ms of (fake) wall and CPU time."""

        def __init__(self) -> None:
            self.bodies: list[bytes] = []

        def post(self, path: str, body: bytes) -> tuple[int, bytes]:
            self.bodies.append(body)
            clock["ns"] += 1_000_000 * len(self.bodies)
            return 200, b"{}"

    monkeypatch.setattr(rank_path.time, "thread_time_ns", lambda: clock["ns"])
    monkeypatch.setattr(rank_path.time, "perf_counter_ns", lambda: clock["ns"])
    monkeypatch.setattr(rank_path.time, "sleep", pauses.append)
    svc = Service()
    out = rank_path._after_idle(svc, [b"a", b"b", b"c"], 0.05)  # type: ignore[arg-type]
    assert svc.bodies == [b"a", b"b", b"c"] and pauses == [0.05, 0.05, 0.05]
    assert out == {"gap_ms": 50.0, "app_p50_ms": 2.0, "app_cpu_p50_ms": 2.0}
