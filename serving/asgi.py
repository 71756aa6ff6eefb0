"""One HTTP request through an ASGI app in this process, no network: for warming the app up and for timing it."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp


async def asgi_call(app: ASGIApp, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """Status and body of ``method path`` with a JSON ``body``, as uvicorn would hand the request to ``app``."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    messages: list[MutableMapping[str, Any]] = [{"type": "http.request", "body": body, "more_body": False}]
    status, chunks = 0, list[bytes]()

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)
