"""Request bodies are limited per route before anything reads them, so a huge or endless unauthenticated body costs
the server about the route's limit and no more: a declared Content-Length over the limit is refused at once, a
chunked body is cut off just past it, and an unsigned Slack request is refused before its body is read at all.

In-process tests count what the app takes from ASGI `receive`; the loopback tests speak raw HTTP to uvicorn to show
the same from the client's side (the answer comes back while the body is still being sent, and the server hangs up).
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.web import DEFAULT_BODY_LIMIT, SLACK_BODY_LIMIT, WEBHOOK_BODY_LIMIT
from tests.security.asgi import CHUNK, call, endless
from tests.security.realapp import RealApp, real_app, served_app

GiB = 1024**3


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[RealApp]:
    async with real_app(tmp_path / "limits.sqlite3") as running:
        yield running


def plausible_slack_headers() -> dict[str, str]:
    """Fresh, well-formed signature headers (the signature itself is wrong): only the body can decide the answer."""
    return {"x-slack-request-timestamp": str(int(time.time())), "x-slack-signature": "v0=" + "0" * 64}


ROUTE_LIMITS = {
    "/slack/events": SLACK_BODY_LIMIT,
    "/ontop/webhook/guessed-token": WEBHOOK_BODY_LIMIT,
    "/qbo/callback": DEFAULT_BODY_LIMIT,
    "/healthz": DEFAULT_BODY_LIMIT,
    "/no/such/route": DEFAULT_BODY_LIMIT,
}


@pytest.mark.parametrize("path", list(ROUTE_LIMITS))
async def test_a_declared_body_over_the_routes_limit_is_refused_413_before_any_of_it_is_read(
    app: RealApp, path: str
) -> None:
    headers = {**plausible_slack_headers(), "content-length": str(ROUTE_LIMITS[path] + 1)}

    answer = await call(app.web, "POST", path, headers=headers, body=endless())

    assert answer.status == 413
    assert answer.chunks_read == 0
    assert answer.headers["connection"] == "close"


async def test_a_slack_body_of_exactly_the_limit_is_read_and_judged_by_its_signature(app: RealApp) -> None:
    """The control for the refusals: at the limit the body is read in full, and the wrong signature decides."""
    headers = {**plausible_slack_headers(), "content-length": str(SLACK_BODY_LIMIT)}
    body = [b"x" * CHUNK] * (SLACK_BODY_LIMIT // CHUNK)

    answer = await call(app.web, "POST", "/slack/events", headers=headers, body=body)

    assert answer.status == 401
    assert answer.bytes_read == SLACK_BODY_LIMIT


async def test_an_endless_slack_body_is_cut_off_with_413_just_past_the_limit(app: RealApp) -> None:
    answer = await call(app.web, "POST", "/slack/events", headers=plausible_slack_headers(), body=endless())

    assert answer.status == 413
    assert SLACK_BODY_LIMIT < answer.bytes_read <= SLACK_BODY_LIMIT + CHUNK


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-slack-signature": "v0=" + "0" * 64},
        {"x-slack-request-timestamp": "1", "x-slack-signature": "v0=" + "0" * 64},
        {"x-slack-request-timestamp": str(int(time.time())), "x-slack-signature": "sha1=abc"},
    ],
    ids=["no_headers", "no_timestamp", "stale", "malformed_signature"],
)
async def test_a_slack_request_whose_headers_cannot_be_signed_is_refused_401_before_its_body_is_read(
    app: RealApp, headers: dict[str, str]
) -> None:
    answer = await call(app.web, "POST", "/slack/events", headers=headers, body=endless())

    assert answer.status == 401
    assert answer.chunks_read == 0


async def test_a_413_is_counted_under_its_route_template(app: RealApp) -> None:
    await call(app.web, "POST", "/slack/events", headers={"content-length": str(10 * GiB)})

    assert 'method="POST",route="/slack/events",status="413"' in app.metrics.render().decode()


# --- over loopback: raw HTTP/1.1 to uvicorn --------------------------------------------------------------------


def status_of(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


def read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it hangs up (a reset after its answer still leaves the answer)."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := connection.recv(65536):
            received += chunk
    return received


def request_head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: bot", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in {**plausible_slack_headers(), **headers}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def declared_huge_body(url: str, path: str) -> bytes:
    """Send only the head of a request declaring 1 GiB; returns the answer, read until the server hangs up."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(request_head(path, {"Content-Length": str(GiB)}))
        return read_until_closed(connection)


def stream_until_refused(url: str, path: str, limit_of_patience: int) -> tuple[bytes, int]:
    """Stream a chunked body until the server answers or hangs up; returns the answer and how much was sent."""
    parts = urlsplit(url)
    chunk = b"%x\r\n" % CHUNK + b"x" * CHUNK + b"\r\n"
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(request_head(path, {"Transfer-Encoding": "chunked"}))
        while sent < limit_of_patience:
            readable, _, _ = select.select([connection], [connection], [], 10)
            if readable:  # the answer (or the hang-up) came while the body was still being sent
                break
            try:
                sent += connection.send(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        return read_until_closed(connection), sent


async def test_over_http_a_declared_huge_body_is_answered_413_without_being_sent(tmp_path: Path) -> None:
    async with served_app(tmp_path / "served.sqlite3") as (url, webhook):
        for path in ("/slack/events", webhook.path):
            answer = await asyncio.to_thread(declared_huge_body, url, path)  # returns once the server hung up

            assert status_of(answer) == 413, path
            assert b"connection: close" in answer.lower()


async def test_over_http_an_endless_chunked_body_is_cut_off_and_the_connection_closed(tmp_path: Path) -> None:
    patience = 256 * 1024 * 1024  # far past every limit and every socket buffer
    async with served_app(tmp_path / "served.sqlite3") as (url, webhook):
        for path in ("/slack/events", webhook.path):
            answer, sent = await asyncio.to_thread(stream_until_refused, url, path, patience)

            assert answer, f"{path}: no answer after {sent} bytes"
            assert status_of(answer) == 413, (path, answer[:80])
            assert sent < patience, path
