"""Service processes for the serving benchmarks: start on loopback, wait until every worker is ready, read
worker memory and metrics, and always stop them (SIGTERM to the process we started, then its own children
by pid if it does not exit)."""

from __future__ import annotations

import contextlib
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

#: A service is ready after this many answers of 200 in a row from ``/ready`` (several workers share the port).
READY_STREAK = 20
#: …and once its workers are idle: together they used less than this CPU share over one poll interval.
IDLE_CPU_SHARE = 0.1


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    """A started service: its uvicorn process, port and log."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes (spawned children), or the process itself when it runs one worker."""
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        workers = []
        for child in children:
            with contextlib.suppress(psutil.Error):
                cmd = " ".join(child.cmdline())
                if "multiprocessing" in cmd and "resource_tracker" not in cmd:
                    workers.append(child.pid)
        return workers or [self.proc.pid]

    def rss_mb(self) -> list[float]:
        """Resident memory of each worker, in MB."""
        return [rss_mb(pid) for pid in self.worker_pids()]

    def cpu_seconds(self) -> float:
        """CPU time used so far by the workers."""
        total = 0.0
        for pid in self.worker_pids():
            with contextlib.suppress(psutil.Error):
                t = psutil.Process(pid).cpu_times()
                total += t.user + t.system
        return total

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (``VmRSS``)."""
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return float("nan")


@contextlib.contextmanager
def started(name: str, cmd: list[str], port: int, log: Path, *, ready_timeout_s: float = 600.0) -> Iterator[Service]:
    """Run ``cmd`` (a service on ``port``) until the block ends; yields once every worker is ready."""
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    service = Service(name, proc, port, log)
    try:
        wait_ready(service, ready_timeout_s)
        yield service
    finally:
        stop(service)


def wait_ready(service: Service, timeout_s: float) -> None:
    """Poll ``/ready`` on fresh connections until it answers 200 many times in a row, then wait until the
    workers are idle (a worker still loading would steal CPU from the measurement)."""
    deadline = time.monotonic() + timeout_s
    streak = 0
    while streak < READY_STREAK:
        if service.proc.poll() is not None:
            raise RuntimeError(f"{service.name} exited with {service.proc.returncode}:\n{service.log_tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{service.name} not ready within {timeout_s:.0f} s:\n{service.log_tail()}")
        try:
            ok = httpx.get(f"{service.base}/ready", timeout=5.0).status_code == 200
        except httpx.HTTPError:
            ok = False
        streak = streak + 1 if ok else 0
        if not ok:
            time.sleep(0.2)
    wait_idle(service, deadline)


def wait_idle(service: Service, deadline: float, interval_s: float = 0.5) -> None:
    """Wait until the workers together use less than :data:`IDLE_CPU_SHARE` of a core (or the deadline)."""
    before = service.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(interval_s)
        now = service.cpu_seconds()
        if now - before < IDLE_CPU_SHARE * interval_s:
            return
        before = now


def stop(service: Service, grace_s: float = 40.0) -> None:
    """SIGTERM the process we started (uvicorn stops its workers); kill it and its workers if it hangs."""
    proc = service.proc
    if proc.poll() is not None:
        return
    workers = service.worker_pids()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        for pid in workers:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
        proc.kill()
        proc.wait(timeout=10)


def stage_means(base: str) -> dict[str, float]:
    """Mean milliseconds per pipeline stage and end to end, from one worker's ``/metrics`` histograms."""
    text = httpx.get(f"{base}/metrics", timeout=5.0).text
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in ("weitao_rank_stage_ms", "weitao_rank_latency_ms"):
            continue
        for sample in family.samples:
            if sample.labels.get("slot") != "follow_feed":
                continue
            key = sample.labels.get("stage", "rank_total")
            if sample.name.endswith("_sum"):
                sums[key] = sample.value
            elif sample.name.endswith("_count"):
                counts[key] = sample.value
    return {k: sums[k] / counts[k] for k in sums if counts.get(k)}


def passes(base: str) -> tuple[float, float]:
    """(passes, requests) one worker has ranked so far, from its ``weitao_rank_batch_size`` histogram."""
    text = httpx.get(f"{base}/metrics", timeout=5.0).text
    out = {"count": 0.0, "sum": 0.0}
    for family in text_string_to_metric_families(text):
        if family.name == "weitao_rank_batch_size":
            for sample in family.samples:
                for part in out:
                    if sample.name == f"weitao_rank_batch_size_{part}":
                        out[part] = sample.value
    return out["count"], out["sum"]


@contextlib.contextmanager
def cpu_window(service: Service) -> Iterator[dict[str, float]]:
    """Cores busy during the block: the whole machine, the service's workers, our child processes (the load
    generator) and everything else (other users of the machine make the figures noisy; this says how much)."""
    figures: dict[str, float] = {}
    machine0, workers0, children0 = _busy_seconds(), service.cpu_seconds(), _children_seconds()
    t0 = time.monotonic()
    try:
        yield figures
    finally:
        wall = max(time.monotonic() - t0, 1e-9)
        machine = (_busy_seconds() - machine0) / wall
        workers = (service.cpu_seconds() - workers0) / wall
        generator = (_children_seconds() - children0) / wall
        figures.update(machine_busy_cores=machine, service_cores=workers, generator_cores=generator,
                       other_cores=max(0.0, machine - workers - generator))


def _busy_seconds() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
