"""The open-loop load generator against a tiny local server whose behaviour (and so the answer) is known."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from experiments.loadgen import Target, open_loop, run_step, write_bodies

BODY = b'{"user_id": 1, "slot": "follow_feed"}'
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@dataclass
class TinyServer:
    """Answers every POST after ``delay_s``; request number ``stall_at`` (0-based) waits ``stall_s`` more."""

    delay_s: float = 0.0
    stall_at: int = -1
    stall_s: float = 0.0
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() of each full request
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length"))
                await reader.readexactly(length)
                number = len(self.arrivals)
                self.arrivals.append(time.monotonic())
                await asyncio.sleep(self.delay_s + (self.stall_s if number == self.stall_at else 0.0))
                writer.write(RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@contextmanager
def serving(server: TinyServer) -> Iterator[Target]:
    """``server`` on 127.0.0.1 in a thread with its own event loop, stopped when the block ends."""
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def start() -> asyncio.Server:
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        server.port = srv.sockets[0].getsockname()[1]
        return srv

    holder: dict[str, asyncio.Server] = {}

    def run() -> None:
        holder["srv"] = loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield Target("127.0.0.1", server.port)
    finally:
        asyncio.run_coroutine_threadsafe(_shutdown(holder["srv"]), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def _shutdown(srv: asyncio.Server) -> None:
    """Close the listener and end the connection handlers (no task is left pending in the loop)."""
    srv.close()
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def test_fixed_rate_sends_exactly_the_scheduled_requests_and_never_early() -> None:
    server = TinyServer()
    with serving(server) as target:
        result = asyncio.run(open_loop(target, [BODY], rate=200, seconds=1.0, raw=True))
    assert result["requests"] == 200 and result["completed"] == 200 and result["error_count"] == 0
    assert len(server.arrivals) == 200
    # Only requests 0..k have been released by t0 + k/rate, so the k-th arrival cannot come before it:
    # the requests are spread over the whole second, not sent in a burst.
    intended = result["t0"] + np.arange(200) / 200
    assert (np.sort(server.arrivals) >= intended).all()


def test_a_slow_rate_does_not_send_its_first_request_before_t0() -> None:
    # Below 20 requests/s the first request's due count falls in (-1, 0) during the generator's 50 ms lead.
    server = TinyServer()
    with serving(server) as target:
        result = asyncio.run(open_loop(target, [BODY], rate=10, seconds=0.5, raw=True))
    assert result["completed"] == 5 and len(server.arrivals) == 5
    assert (np.sort(server.arrivals) >= result["t0"] + np.arange(5) / 10).all()
    assert result["min_ms"] >= 0


def test_latency_includes_the_time_the_server_takes() -> None:
    with serving(TinyServer(delay_s=0.05)) as target:
        result = asyncio.run(open_loop(target, [BODY], rate=50, seconds=0.6))
    assert result["completed"] == 30 and result["error_count"] == 0
    assert result["min_ms"] >= 50 and result["p50_ms"] >= 50


def test_a_stall_is_charged_to_every_request_queued_behind_it() -> None:
    # One connection, a server that stalls 0.5 s on request 10. Requests 11.. are due during the stall and
    # cannot be answered before it ends, so measured from their intended send times each waits at least
    # 0.5 s - (i - 10) / rate. A closed-loop client (timing from the moment it sends) would see one slow
    # request only, and fail the count below.
    with serving(TinyServer(stall_at=10, stall_s=0.5)) as target:
        result = asyncio.run(open_loop(target, [BODY], rate=100, seconds=1.0, connections=1, raw=True))
    assert result["completed"] == 100 and result["error_count"] == 0
    latency = np.asarray(result["latency_ms"])
    assert (latency[10:36] >= 250).all()  # requests 10..35 were due at most 0.25 s into the stall
    assert result["p90_ms"] >= 250


def test_generator_process_reports_a_step_as_json(tmp_path: Path) -> None:
    bodies = write_bodies(tmp_path / "bodies.jsonl", [BODY, BODY])
    with serving(TinyServer()) as target:
        result = run_step({"host": target.host, "port": target.port, "bodies_file": str(bodies),
                           "mode": "open_loop", "rate": 100, "seconds": 0.5, "connections": 4})
    assert result["requests"] == 50 and result["completed"] == 50 and result["errors"] == {}
