"""Call an ASGI app in-process with a scripted request body, and see how much of that body the app read.

Over real HTTP the client pushes its body whatever the server does, so "the server never read it" can only be seen
here, at the ASGI boundary: `receive` hands out the chunks one by one and counts them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message

CHUNK = 64 * 1024


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks_read: int = 0  # body chunks the app took from `receive`
    bytes_read: int = 0


def endless(total: int = 64 * 1024 * 1024) -> Iterator[bytes]:
    """A body far past every limit (64 MiB by default): only a limit stops the app reading all of it.

    Finite so that an app without a limit fails the test's assertions instead of reading forever.
    """
    return itertools.repeat(b"x" * CHUNK, total // CHUNK)


async def call(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str | bytes] | None = None,
    body: Iterable[bytes] = (),
) -> Answer:
    """One request through `app`; `body` is streamed chunk by chunk as the app asks for it (it may be endless)."""
    answer = Answer()
    chunks = iter(body)
    upcoming = next(chunks, None)

    async def receive() -> Message:
        nonlocal upcoming
        if upcoming is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        chunk, upcoming = upcoming, next(chunks, None)
        answer.chunks_read += 1
        answer.bytes_read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": upcoming is not None}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in message["headers"]}
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    raw_headers = [
        (name.lower().encode("latin-1"), value if isinstance(value, bytes) else value.encode("latin-1"))
        for name, value in (headers or {}).items()
    ]
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    await app(scope, receive, send)
    return answer
