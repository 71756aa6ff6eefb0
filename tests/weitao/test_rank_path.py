"""`weitao bench rank-path`: the no-network ASGI call it times, and its argument errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from fastapi import FastAPI
from pydantic import BaseModel
from typer.testing import CliRunner

from weitao.bench.rank_path import _call, load_world
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
    status, body = asyncio.run(_call(api, "/double", b'{"x": 21}'))
    assert status == 200 and orjson.loads(body) == {"y": 42}
    status, _ = asyncio.run(_call(api, "/double", b'{"x": "many"}'))
    assert status == 422
    status, _ = asyncio.run(_call(api, "/nowhere", b"{}"))
    assert status == 404


def test_a_workdir_without_a_world_is_named(tmp_path: Path) -> None:
    result = runner.invoke(app, ["rank-path", "--workdir", str(tmp_path)])
    assert result.exit_code == 2 and "--workdir" in result.output
    (tmp_path / "weitao.toml").write_text("")
    (tmp_path / "bodies.jsonl").write_bytes(b'{"user_id": 1, "slot": "follow_feed", "k": 5, "candidates": [3]}\n')
    world = load_world(tmp_path)
    assert world.requests == [{"user_id": 1, "slot": "follow_feed", "k": 5, "candidates": [3]}]
