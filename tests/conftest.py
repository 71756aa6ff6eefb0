"""Fixtures for real services; tests that need them start them here, never mock them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services import mlflow_server, redis_server


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real redis-server on loopback, shared by the session's tests."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Tracking URI of a real `mlflow server` on loopback."""
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as uri:
        yield uri
