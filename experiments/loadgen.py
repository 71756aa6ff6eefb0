"""An open-loop HTTP load generator: requests leave at a fixed arrival rate whatever the server does.

Request ``i`` is *intended* to leave at ``t0 + i / rate``; its latency is measured from that intended time,
not from when a connection was free to send it. A server that stalls therefore gets charged for every
request that queued behind the stall (coordinated omission is counted), which a closed-loop client
(send, wait, send) would hide. Requests go over a pool of raw keep-alive HTTP/1.1 connections (asyncio
streams, hand-written ``Content-Length`` framing), so the generator costs little CPU per request.

Times come from ``time.monotonic()`` (nanosecond resolution), not the event loop's clock, which under
uvloop ticks in whole milliseconds. The generator runs in its own process (:func:`run_step` starts
``python -m experiments.loadgen`` with a JSON spec on stdin and reads a JSON result from stdout), so its CPU
is not shared with the benchmark's driver.
"""

from __future__ import annotations

import asyncio
import math
import resource
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

#: Slack added to the subprocess time-out beyond the step's own bound (interpreter start, imports).
PROCESS_SLACK_S = 30.0


@dataclass(frozen=True)
class Target:
    """Where requests go: ``POST path`` on ``host:port``."""

    host: str
    port: int
    path: str = "/rank"


def encode_requests(target: Target, bodies: list[bytes]) -> list[bytes]:
    """Complete HTTP/1.1 keep-alive POST requests, one per JSON body (built once, sent many times)."""
    head = (f"POST {target.path} HTTP/1.1\r\nHost: {target.host}:{target.port}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n")
    return [f"{head}Content-Length: {len(b)}\r\n\r\n".encode() + b for b in bodies]


async def read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    """Status code and body length of one response (``Content-Length`` or chunked framing)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked = None, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        return status, await _read_chunked(reader)
    if length:
        await reader.readexactly(length)
    return status, length or 0


async def _read_chunked(reader: asyncio.StreamReader) -> int:
    total = 0
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        await reader.readexactly(size + 2)  # the chunk and its CRLF
        total += size
        if size == 0:
            return total


class _Recorder:
    """Per-request outcome arrays of one step (indexed by request number)."""

    def __init__(self, n: int) -> None:
        self.latency = np.full(n, np.nan)  # seconds from the intended send time to the full response
        self.service = np.full(n, np.nan)  # seconds from the actual send to the full response
        self.started = np.full(n, np.nan)  # actual send time, relative to t0
        self.errors: Counter[str] = Counter()


async def _connection(target: Target, requests: list[bytes], queue: asyncio.Queue[int | None], t0: float,
                      rate: float, timeout_s: float, rec: _Recorder) -> None:
    """One keep-alive connection: takes request numbers off the queue and sends them one at a time."""
    reader = writer = None
    try:
        while (i := await queue.get()) is not None:
            intended = t0 + i / rate
            sent = time.monotonic()
            rec.started[i] = sent - t0
            try:
                async with asyncio.timeout(timeout_s):
                    if writer is None:
                        reader, writer = await asyncio.open_connection(target.host, target.port)
                    writer.write(requests[i % len(requests)])
                    status, _ = await read_response(reader)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as e:
                rec.errors["timeout" if isinstance(e, TimeoutError) else "connection"] += 1
                rec.latency[i] = time.monotonic() - intended
                writer = _close(writer)  # the connection's state is unknown: start a fresh one
                continue
            done = time.monotonic()
            rec.latency[i], rec.service[i] = done - intended, done - sent
            if status != 200:
                rec.errors[f"status_{status}"] += 1
    finally:
        _close(writer)


def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()


async def _schedule(queue: asyncio.Queue[int | None], n: int, rate: float, t0: float, lag: list[float]) -> None:
    """Release request ``i`` at ``t0 + i / rate`` (all requests already due at each wake-up go at once)."""
    i = 0
    while i < n:
        now = time.monotonic()
        # floor, not int(): before t0 the product is negative and int() would round request 0 up to due
        due = min(n, math.floor((now - t0) * rate) + 1)
        if due > i:
            lag.append(now - (t0 + (due - 1) / rate))  # how late the newest released request left the timer
        for j in range(i, due):
            queue.put_nowait(j)
        i = max(i, due)
        if i < n:
            await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))


async def open_loop(target: Target, bodies: list[bytes], rate: float, seconds: float, *, connections: int = 32,
                    timeout_s: float = 2.0, drain_s: float = 5.0, raw: bool = False) -> dict[str, Any]:
    """Send ``rate × seconds`` requests at a fixed arrival rate; latencies count from the intended send times.

    Requests still unanswered ``drain_s`` after the last intended send are cut off and counted as
    ``incomplete`` errors with the time they had waited (a lower bound of their latency).
    """
    n = max(1, int(rate * seconds))
    requests = encode_requests(target, bodies)
    rec, lag = _Recorder(n), []
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    cpu0, t0 = _cpu_seconds(), time.monotonic() + 0.05  # a short lead so request 0 is not already late
    workers = [asyncio.create_task(_connection(target, requests, queue, t0, rate, timeout_s, rec))
               for _ in range(connections)]
    await _schedule(queue, n, rate, t0, lag)
    for _ in workers:
        queue.put_nowait(None)
    _, pending = await asyncio.wait(workers, timeout=max(0.0, t0 + (n - 1) / rate + drain_s - time.monotonic()))
    for w in pending:
        w.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    cutoff = time.monotonic()
    missing = np.isnan(rec.latency)
    if missing.any():
        rec.errors["incomplete"] += int(missing.sum())
        rec.latency[missing] = cutoff - (t0 + np.flatnonzero(missing) / rate)
    out = _summary(rec, n, rate, seconds, cutoff - t0, np.asarray(lag), _cpu_seconds() - cpu0)
    if raw:  # per-request figures, for tests that check the schedule and the latency accounting
        out.update(t0=t0, latency_ms=(rec.latency * 1000).tolist(), service_ms=(rec.service * 1000).tolist())
    return out


async def saturate(target: Target, bodies: list[bytes], seconds: float, *, connections: int = 32,
                   timeout_s: float = 2.0) -> dict[str, Any]:
    """Closed loop on every connection (send as soon as the last answer arrived): the most requests per second
    this generator and the server reach together. Used to bound the generator, not to measure latency."""
    requests = encode_requests(target, bodies)
    counts: Counter[str] = Counter()
    cpu0, t0 = _cpu_seconds(), time.monotonic()
    end = t0 + seconds

    async def one(k: int) -> None:
        reader, writer = await asyncio.open_connection(target.host, target.port)
        try:
            j = k
            while time.monotonic() < end:
                writer.write(requests[j % len(requests)])
                j += connections
                async with asyncio.timeout(timeout_s):
                    status, _ = await read_response(reader)
                counts["ok" if status == 200 else f"status_{status}"] += 1
        finally:
            writer.close()

    results = await asyncio.gather(*(one(k) for k in range(connections)), return_exceptions=True)
    counts.update(type(r).__name__ for r in results if isinstance(r, BaseException))
    wall = time.monotonic() - t0
    cpu = _cpu_seconds() - cpu0
    completed = counts.pop("ok", 0)
    return {"mode": "saturate", "seconds": seconds, "connections": connections, "completed": completed,
            "achieved_rps": completed / wall if wall else 0.0, "errors": dict(counts), "wall_s": wall,
            "generator_cpu_share": cpu / wall if wall else 0.0}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _summary(rec: _Recorder, n: int, rate: float, seconds: float, wall: float, lag: np.ndarray,
             cpu: float) -> dict[str, Any]:
    ms = rec.latency * 1000
    ok = ~np.isnan(rec.service)
    done_at = rec.started[ok] + rec.service[ok]
    span = float(done_at.max()) if ok.any() else wall
    errors = dict(rec.errors)
    return {
        "mode": "open_loop", "rate": rate, "seconds": seconds, "requests": n, "completed": int(ok.sum()),
        "errors": errors, "error_count": int(sum(errors.values())),
        "p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)), "min_ms": float(ms.min()), "max_ms": float(ms.max()),
        "mean_ms": float(ms.mean()),
        "service_p50_ms": float(np.nanpercentile(rec.service * 1000, 50)) if ok.any() else None,
        "achieved_rps": float(ok.sum() / span) if span > 0 else 0.0,
        "scheduler_lag_p99_ms": float(np.percentile(lag, 99) * 1000) if len(lag) else 0.0,
        "generator_cpu_share": cpu / wall if wall > 0 else 0.0, "wall_s": wall,
    }


def write_bodies(path: Path, bodies: list[bytes]) -> Path:
    """Store request bodies for the generator process: one JSON document per line."""
    path.write_bytes(b"\n".join(bodies) + b"\n")
    return path


def run_step(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one step in a fresh generator process; ``spec`` keys: host, port, path, bodies_file, mode
    (``open_loop`` or ``saturate``), rate, seconds, connections, timeout_s, drain_s."""
    bound = float(spec["seconds"]) + float(spec.get("drain_s", 5.0)) + PROCESS_SLACK_S
    out = subprocess.run([sys.executable, "-m", "experiments.loadgen"], input=orjson.dumps(spec),
                         capture_output=True, timeout=bound, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed ({out.returncode}): {out.stderr.decode()[-2000:]}")
    return orjson.loads(out.stdout)


async def _main(spec: dict[str, Any]) -> dict[str, Any]:
    target = Target(spec["host"], int(spec["port"]), spec.get("path", "/rank"))
    bodies = [line for line in Path(spec["bodies_file"]).read_bytes().split(b"\n") if line]
    conns, timeout = int(spec.get("connections", 32)), float(spec.get("timeout_s", 2.0))
    if spec.get("mode") == "saturate":
        return await saturate(target, bodies, float(spec["seconds"]), connections=conns, timeout_s=timeout)
    return await open_loop(target, bodies, float(spec["rate"]), float(spec["seconds"]), connections=conns,
                           timeout_s=timeout, drain_s=float(spec.get("drain_s", 5.0)))


def main() -> None:
    """Generator process: a JSON spec on stdin, the step's JSON result on stdout."""
    spec = orjson.loads(sys.stdin.buffer.read())
    try:  # uvloop (installed with uvicorn[standard]) roughly halves the generator's cost per request
        import uvloop
    except ImportError:
        uvloop = None
    run = asyncio.run if uvloop is None else uvloop.run
    sys.stdout.buffer.write(orjson.dumps(run(_main(spec))))


if __name__ == "__main__":
    main()
