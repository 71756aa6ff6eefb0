"""`weitao serve` for real: uvicorn worker processes on loopback, champion models from an MLflow registry."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from features.storage import read_table
from tests.services import free_port, running
from tests.serving.conftest import ServedWorld
from training.registry import promote
from weitao.commands.train import train_and_register
from weitao.settings import load_settings


def _register(world: ServedWorld, root: Path) -> Path:
    """Train tiny rankers on the world, register them and make them champions; return the config file."""
    tracking = {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_root": str(root / "artifacts"),
                "model_cache": str(root / "cache")}
    settings = load_settings(None, tracking=tracking, rankers={"n_estimators": 5, "num_leaves": 4})
    tables = {n: read_table(world.data, n) for n in ("accounts", "users", "posts", "products", "follows", "events")}
    for slot in ("follow_feed", "new_arrival"):
        train_and_register(settings, tables, slot)
        assert promote(settings, slot, metric="ndcg_at_10", higher_is_better=True, min_delta=0.0).moved
    config = root / "weitao.toml"
    lines = ["[tracking]", *(f'{k} = "{v}"' for k, v in tracking.items()),
             "[serving]", f'page_log_dir = "{root / "served"}"', 'admin_token = "t0ken"']
    config.write_text("\n".join(lines) + "\n")
    return config


@pytest.mark.slow
def test_serve_answers_rank_from_registry_champions_and_stops_cleanly(served_world: ServedWorld,
                                                                      tmp_path: Path) -> None:
    config = _register(served_world, tmp_path)
    port = free_port()
    cmd = [sys.executable, "-m", "weitao", "--config", str(config), "serve", "--data", str(served_world.data),
           "--port", str(port), "--workers", "2"]
    with running(cmd, port, timeout=60, log=tmp_path / "serve.log") as proc:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while httpx.get(f"{base}/ready").status_code != 200:
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        versions = httpx.get(f"{base}/ready").json()["model_versions"]
        assert versions["follow_feed"] == "weitao-follow_feed/1"
        users = read_table(served_world.data, "users").column("user_id").to_pylist()[:20]
        ok = 0
        for u in users:  # two workers: requests land on either, each loaded its own models after the fork
            r = httpx.post(f"{base}/rank", json={"user_id": u, "slot": "follow_feed", "k": 5})
            assert r.status_code == 200, r.text
            ok += bool(r.json()["items"])
        assert ok > 0
        assert httpx.get(f"{base}/docs").status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    logged = list((tmp_path / "served").glob("pages-*.parquet"))
    assert logged, "served pages were not flushed on shutdown"
