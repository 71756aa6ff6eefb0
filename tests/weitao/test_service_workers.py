"""How `weitao serve` sizes and sets up its workers: one per core by default, one thread per library in each."""

from __future__ import annotations

import os
import subprocess
import sys

from serving.settings import ServingSettings
from weitao.service import worker_count
from weitao.settings import Settings

PROBE = """
import json, faiss, numpy
from threadpoolctl import threadpool_info
before = {"faiss": faiss.omp_get_max_threads(), "pools": [p["num_threads"] for p in threadpool_info()]}
from weitao.service import limit_threads
limit_threads()
after = {"faiss": faiss.omp_get_max_threads(), "pools": [p["num_threads"] for p in threadpool_info()]}
print(json.dumps({"before": before, "after": after}))
"""


def test_one_worker_per_core_by_default_and_on_loopback_port_8000() -> None:
    s = Settings()
    assert worker_count(s) == (os.cpu_count() or 1)
    assert worker_count(s.model_copy(update={"serving": s.serving.model_copy(update={"workers": 3})})) == 3
    assert (ServingSettings().host, ServingSettings().port) == ("127.0.0.1", 8000)


def test_a_worker_runs_every_numeric_library_on_one_thread() -> None:
    import json

    # A fresh interpreter, as a worker process is, with the machine's default pools (OMP_NUM_THREADS unset).
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120,
                         check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["after"]["faiss"] == 1 and seen["after"]["pools"] and set(seen["after"]["pools"]) == {1}
    if (os.cpu_count() or 1) > 1:  # the control: without the limit the pools use every core
        assert seen["before"]["faiss"] > 1 and max(seen["before"]["pools"]) > 1


def test_a_worker_that_cannot_start_stops_serve_with_an_error() -> None:
    """One worker or several: a worker whose settings cannot be read makes the serving process exit non-zero,
    saying so, instead of being started again and again (a stop by SIGTERM exiting 0 is checked with real
    workers in tests/serving/test_uvicorn.py)."""
    from tests.services import free_port
    from weitao.settings import WORKER_SETTINGS_ENV

    env = {k: v for k, v in os.environ.items() if k != WORKER_SETTINGS_ENV}
    for workers in (1, 2):
        code = ("import uvicorn\nfrom weitao.service import run_workers\nif __name__ == '__main__':\n"
                f"    run_workers(uvicorn.Config('weitao.service:worker_app', factory=True, port={free_port()}, "
                f"workers={workers}, log_level='critical'))\n")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode != 0 and "worker processes failed to start" in done.stderr, (workers, done.stderr)
        assert done.stderr.count("this worker cannot start") == workers, done.stderr  # each once: no restarts
