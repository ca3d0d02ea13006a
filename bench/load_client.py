"""The Slack side of the load tests in its own process, so the app's ack times never include the sender's CPU.

The parent writes a JSON plan on stdin (the app's URL, the signing secret, who is typing, and the rounds) and reads
one JSON line back: every round's round-trip times in ms, and the closed-loop throughput of each throughput phase.

Requests go out over plain keep-alive HTTP/1.1 connections, opened and with every request built and signed before
the clock starts; the clock runs from writing a request to reading the last byte of its answer. An HTTP client
library would put its own time into the figures: httpx measured 250-570 ms p50 for 50 concurrent requests to a
Starlette route that only answers "ok" (this machine, December 2026), against 10-20 ms over plain connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devtools.signing import (
    FORM_CONTENT_TYPE,
    SlackActor,
    block_actions_payload,
    block_suggestion_payload,
    interactive_body,
    sign_request,
    slash_command_body,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
EVENTS_PATH = "/slack/events"
ANSWER_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Round:
    """`count` requests sent at once (or one after the other when `sequential`):

    - "command": `/qbo <text>`;
    - "suggestion": typing `text` in the external select `action_id` of `view`;
    - "button": pressing the button `action_id` (its `block_id` and `text` as value) in `view` (the App Home).

    `trigger_ids` and `response_urls` are minted by the fake Slack in the parent (its views.open and response_url
    check them); without them the requests carry made-up ones.
    """

    kind: str
    count: int
    text: str
    view: dict[str, Any] | None = None
    block_id: str = ""
    action_id: str = ""
    sequential: bool = False
    trigger_ids: list[str] = field(default_factory=list)
    response_urls: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Throughput:
    """`concurrency` senders repeating `/qbo <text>` for `seconds`, each on its own connection (a closed loop).

    With `until_reply`, a sender sends its next command only once the app answered the last one through its
    response_url (to a small server in this process): the loop then measures the whole command (its ack, the
    database reads after it, the reply), not only how fast acks come back while the work piles up behind them.
    """

    text: str
    seconds: float
    concurrency: int = 8
    until_reply: bool = False


@dataclass(frozen=True)
class LoadPlan:
    app_url: str
    signing_secret: str = field(repr=False)
    actor: dict[str, Any]
    channel_id: str
    channel_name: str
    rounds: list[Round]
    throughputs: list[Throughput] = field(default_factory=list)


@dataclass(frozen=True)
class ThroughputAnswer:
    text: str
    requests: int
    seconds: float
    concurrency: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class LoadAnswer:
    rounds: list[list[float]]
    throughputs: list[ThroughputAnswer]
    started_at: list[float] = field(default_factory=list)  # each round's first write, in time.time() seconds


class Connection:
    """One keep-alive HTTP/1.1 connection that sends prepared requests and reads whole answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> tuple[int, bytes, float]:
        """Send one request; (status, body, milliseconds from the write to the answer's last byte)."""
        started = time.perf_counter()
        self._writer.write(request)
        status, body = await asyncio.wait_for(self._read_answer(), ANSWER_TIMEOUT_SECONDS)
        return status, body, (time.perf_counter() - started) * 1000

    async def _read_answer(self) -> tuple[int, bytes]:
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {
            name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])
        }
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return status, await self._read_chunks()
        return status, await self._reader.readexactly(int(headers.get("content-length") or 0))

    async def _read_chunks(self) -> bytes:
        body = b""
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await self._reader.readexactly(size + 2)  # the chunk and its CRLF
            if size == 0:
                return body
            body += chunk[:-2]

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


class Sender:
    """Builds and signs the requests of a plan as raw HTTP/1.1 bytes."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self.actor = SlackActor(**plan.actor)
        address = urlsplit(plan.app_url)
        self.host = address.hostname or "127.0.0.1"
        self.port = address.port or 80

    def request(self, body: bytes) -> bytes:
        headers = {
            "Host": f"{self.host}:{self.port}",
            "Content-Type": FORM_CONTENT_TYPE,
            "Content-Length": str(len(body)),
            **sign_request(self.plan.signing_secret, body),
        }
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        return f"POST {EVENTS_PATH} HTTP/1.1\r\n{head}\r\n".encode() + body

    def command(self, text: str, response_url: str | None = None, trigger_id: str | None = None) -> bytes:
        return self.request(
            slash_command_body(
                self.actor,
                text=text,
                channel_id=self.plan.channel_id,
                channel_name=self.plan.channel_name,
                trigger_id=trigger_id or f"{time.time():.0f}.{uuid.uuid4().hex[:12]}",
                # `/qbo help` answers in its ack and never uses it; other commands answer through it.
                response_url=response_url or f"{self.plan.app_url}/unused-response-url",
            )
        )

    def round_requests(self, round_: Round) -> list[bytes]:
        return [self._round_request(round_, index) for index in range(round_.count)]

    def _round_request(self, round_: Round, index: int) -> bytes:
        trigger_id = round_.trigger_ids[index] if index < len(round_.trigger_ids) else None
        response_url = round_.response_urls[index] if index < len(round_.response_urls) else None
        if round_.kind == "command":
            return self.command(round_.text, response_url, trigger_id)
        assert round_.view is not None
        if round_.kind == "suggestion":
            payload = block_suggestion_payload(
                self.actor, action_id=round_.action_id, block_id=round_.block_id, value=round_.text, view=round_.view
            )
        else:  # "button"
            action = {"type": "button", "action_id": round_.action_id, "block_id": round_.block_id}
            if round_.text:
                action["value"] = round_.text
            payload = block_actions_payload(
                self.actor,
                action,
                trigger_id=trigger_id or f"{time.time():.0f}.{uuid.uuid4().hex[:12]}",
                view=round_.view,
            )
        return self.request(interactive_body(payload))


def _checked(status: int, body: bytes, millis: float) -> float:
    if status != 200:
        raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
    return millis


async def _run_round(sender: Sender, round_: Round, requests: list[bytes]) -> list[float]:
    if round_.sequential:
        connection = await Connection.open(sender.host, sender.port)
        try:
            return [_checked(*await connection.exchange(request)) for request in requests]
        finally:
            await connection.close()
    # One connection per request, all opened before the clock starts, all requests written at once.
    connections = await asyncio.gather(*(Connection.open(sender.host, sender.port) for _ in requests))
    try:
        answers = await asyncio.gather(*(c.exchange(r) for c, r in zip(connections, requests, strict=True)))
        return [_checked(*answer) for answer in answers]
    finally:
        await asyncio.gather(*(connection.close() for connection in connections))


class ReplyServer:
    """Where the app's response_url answers go in a throughput phase: each POST to /reply/<id> resolves <id>."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> ReplyServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()

    def expect(self) -> tuple[str, asyncio.Future[None]]:
        """A fresh response_url and the future its answer resolves."""
        key = uuid.uuid4().hex
        self._waiting[key] = asyncio.get_running_loop().create_future()
        return f"{self.url}/reply/{key}", self._waiting[key]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: the app's HTTP client reuses its connections
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = next(
                    (int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0
                )
                await reader.readexactly(length)
                key = lines[0].split(" ")[1].rsplit("/", 1)[-1]
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
                waiting = self._waiting.pop(key, None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(None)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _run_throughput(sender: Sender, phase: Throughput) -> ThroughputAnswer:
    answered = 0
    connections = await asyncio.gather(*(Connection.open(sender.host, sender.port) for _ in range(phase.concurrency)))
    async with ReplyServer() as replies:
        started = time.monotonic()
        deadline = started + phase.seconds

        async def repeat(connection: Connection) -> None:
            nonlocal answered
            while time.monotonic() < deadline:
                if phase.until_reply:
                    url, reply = replies.expect()
                    _checked(*await connection.exchange(sender.command(phase.text, url)))
                    await asyncio.wait_for(reply, ANSWER_TIMEOUT_SECONDS)
                else:
                    _checked(*await connection.exchange(sender.command(phase.text)))
                answered += 1

        try:
            await asyncio.gather(*(repeat(connection) for connection in connections))
        finally:
            await asyncio.gather(*(connection.close() for connection in connections))
        return ThroughputAnswer(phase.text, answered, time.monotonic() - started, phase.concurrency)


async def run_plan(plan: LoadPlan) -> LoadAnswer:
    sender = Sender(plan)
    timings: list[list[float]] = []
    started_at: list[float] = []
    for round_ in plan.rounds:
        requests = sender.round_requests(round_)
        started_at.append(time.time())  # a moment before the first write (the connections are opened first)
        timings.append(await _run_round(sender, round_, requests))
    throughputs = [await _run_throughput(sender, phase) for phase in plan.throughputs]
    return LoadAnswer(timings, throughputs, started_at)


def run_in_child(plan: LoadPlan, timeout_seconds: float = 180) -> LoadAnswer:
    """Run the plan in a fresh interpreter (its own GIL and CPU) and read back the timings."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.load_client"],
        input=json.dumps(asdict(plan)),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_seconds,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load client failed ({done.returncode}): {done.stderr[-2000:]}")
    return _answer_from_json(json.loads(done.stdout.strip().splitlines()[-1]))


def _answer_from_json(raw: dict[str, Any]) -> LoadAnswer:
    throughputs = [ThroughputAnswer(**phase) for phase in raw["throughputs"]]
    return LoadAnswer(raw["rounds"], throughputs, raw.get("started_at", []))


def _plan_from_json(raw: dict[str, Any]) -> LoadPlan:
    raw["rounds"] = [Round(**round_) for round_ in raw["rounds"]]
    raw["throughputs"] = [Throughput(**phase) for phase in raw.get("throughputs", [])]
    return LoadPlan(**raw)


def main() -> None:
    answer = asyncio.run(run_plan(_plan_from_json(json.loads(sys.stdin.read()))))
    print(json.dumps(asdict(answer)))


if __name__ == "__main__":
    main()
