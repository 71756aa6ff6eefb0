"""The service fixtures start real servers."""

from __future__ import annotations

import redis


def test_redis_fixture_is_a_real_server(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("weitao:probe", "1")
    assert client.get("weitao:probe") == b"1"
    assert client.info("server")["redis_version"]
