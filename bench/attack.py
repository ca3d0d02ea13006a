"""Attack figures: what unauthenticated traffic costs `qbo-bot serve` in memory and in /metrics size.

python -m bench.attack              # measure, print, and write the "Attack figures" section of docs/reliability.md
python -m bench.attack --no-write   # print only
python -m bench --only attack       # the same figures in docs/benchmarks.md

The server is the real `qbo-bot serve --no-worker` in a child process, on SQLite, with the default body limits and
one connection whose Ontop webhook address is known (no emulators: nothing reaches QBO or Ontop). Floods come from
threads of this process over loopback, each stream a raw HTTP/1.1 request of 1 GiB that stops when the server
answers or hangs up. The server's peak RSS is its kernel high-water mark (VmHWM), reset before each flood by
writing 5 to /proc/<pid>/clear_refs; where that is not allowed, RSS sampled every 2 ms stands in.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import select
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import httpx
import psutil

from bench.figures import Figure
from bench.report import machine
from bot.config import PURPOSES, Settings
from bot.runtime import build_runtime
from storage import migrate
from storage.crypto import generate_key
from storage.db import transaction
from storage.repos.connections import ConnectionRepo
from storage.repos.workspaces import WorkspaceRepo

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DOC = REPO_ROOT / "docs" / "reliability.md"
SECTION_TITLE = "## Attack figures"
MiB = 1024 * 1024
GiB = 1024 * MiB
CHUNK = 64 * 1024
STREAMS = 20
METRICS_REQUESTS = 10_000
GROWTH_GOAL_MIB = 30.0
SECTION = "Attack"


@dataclass(frozen=True)
class Flood:
    """One attack: `streams` parallel requests to `path`, each meaning to send `size` bytes."""

    name: str
    path: str
    streams: int
    size: int
    declared: bool = False  # Content-Length up front (else chunked, the length unknown until the end)
    signed_looking: bool = True  # fresh, well-formed Slack signature headers (wrong signature): the body gets read
    hold: bool = False  # stop just short of `size` and keep the connection open while memory is read


@dataclass
class FloodResult:
    flood: Flood
    baseline_mib: float
    peak_mib: float
    sent_bytes: int
    statuses: Counter[int | None] = field(default_factory=Counter)
    peak_source: str = "VmHWM"

    @property
    def growth_mib(self) -> float:
        return max(0.0, self.peak_mib - self.baseline_mib)


@dataclass(frozen=True)
class MetricsResult:
    requests: int
    statuses: dict[int, int]
    bytes_before: int
    bytes_after: int
    series_before: int
    series_after: int


@dataclass
class AttackResult:
    floods: list[FloodResult]
    metrics: MetricsResult
    started: datetime
    seconds: float
    cores: int = field(default_factory=lambda: os.cpu_count() or 0)


# --- the server under attack --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _settings_env(workdir: Path, port: int, metrics_port: int) -> dict[str, str]:

    env = {key: value for key, value in os.environ.items() if key not in PURPOSES}
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'attack.sqlite3'}",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "ENCRYPTION_KEYS": generate_key(),
            "SLACK_SIGNING_SECRET": "attack-bench-signing-secret",
            "SLACK_BOT_TOKEN": "xoxb-attack-bench",
            "SLACK_API_BASE_URL": "http://127.0.0.1:9/api/",
            "QBO_CLIENT_ID": "attack-bench",
            "QBO_CLIENT_SECRET": "attack-bench-qbo-secret",
            "ONTOP_API_BASE_URL": "http://127.0.0.1:9",
            "METRICS_HOST": "127.0.0.1",
            "METRICS_PORT": str(metrics_port),
            "LOG_LEVEL": "error",
            "LOG_FORMAT": "json",
        }
    )
    return env


async def _prepare_database(env: dict[str, str]) -> str:
    """Migrate, and store one active connection with an Ontop webhook address; returns its path token."""
    settings = Settings(
        _env_file=None,
        database_url=env["DATABASE_URL"],
        encryption_keys=env["ENCRYPTION_KEYS"],
        qbo_client_id=env["QBO_CLIENT_ID"],
        ontop_api_base_url=env["ONTOP_API_BASE_URL"],
    )
    runtime = build_runtime(settings)
    try:
        await migrate.upgrade(runtime.engine)
        async with transaction(runtime.sessions) as session:
            workspace = await WorkspaceRepo(session).get_or_create("T0001", None, "Acme")
            connections = ConnectionRepo(session)
            connection = await connections.create(workspace.id, realm_id="9130")
            # As saving the Ontop login does: the token's hash and the encrypted signing secret, connection active.
            token = await connections.store_ontop_credentials(
                connection.id,
                runtime.box,
                email="finance@acme.test",
                password="unused",
                webhook_secret=secrets.token_urlsafe(32),
            )
        if not await runtime.service.webhook_address_known(token):
            raise RuntimeError("the service does not know the webhook address stored for the benchmark")
        return token
    finally:
        await runtime.aclose()


class ServedBot:
    """`qbo-bot serve --no-worker` in a child process, on loopback; use as a context manager."""

    def __init__(self) -> None:
        self._workdir = tempfile.TemporaryDirectory(prefix="qbo-bot-attack-")
        self.port = _free_port()
        self.metrics_port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.webhook_token = ""
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServedBot:
        workdir = Path(self._workdir.name)
        env = _settings_env(workdir, self.port, self.metrics_port)
        self.webhook_token = asyncio.run(_prepare_database(env))
        command = [sys.executable, "-c", "from bot.cli import main; main()", "serve", "--no-worker"]
        self.process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("qbo-bot serve did not start")
            time.sleep(0.1)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._workdir.cleanup()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


# --- memory of the server -----------------------------------------------------------------------------------


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise KeyError(key)


class PeakMemory:
    """The server's peak RSS over a stretch of time: its VmHWM after a reset, else the highest sampled RSS."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._process = psutil.Process(pid)
        self._stop = threading.Event()
        self._sampled_peak = 0
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self.can_reset = True
        self.baseline_mib = 0.0

    def __enter__(self) -> PeakMemory:
        try:
            Path(f"/proc/{self._pid}/clear_refs").write_text("5")  # VmHWM := current RSS
        except OSError:
            self.can_reset = False
        self.baseline_mib = self._process.memory_info().rss / MiB
        self._sampler.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._sampler.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self._sampled_peak = max(self._sampled_peak, self._process.memory_info().rss)
            self._stop.wait(0.002)

    def peak(self) -> tuple[float, str]:
        sampled = self._sampled_peak / MiB
        if self.can_reset:
            return max(_status_kib(self._pid, "VmHWM") / 1024, sampled), "VmHWM"
        return sampled, "sampled RSS"


# --- the floods ---------------------------------------------------------------------------------------------


def _head(flood: Flood) -> bytes:
    lines = [f"POST {flood.path} HTTP/1.1", "Host: bot", "Content-Type: application/json"]
    if flood.signed_looking:
        lines += [f"X-Slack-Request-Timestamp: {int(time.time())}", f"X-Slack-Signature: v0={'0' * 64}"]
    lines.append(f"Content-Length: {flood.size}" if flood.declared else "Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _status(answer: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    return int(match.group(1)) if match else None


def _read_answer(connection: socket.socket) -> bytes:
    received = b""
    with contextlib.suppress(OSError):
        while chunk := connection.recv(65536):
            received += chunk
    return received


def _stream(port: int, flood: Flood, start: threading.Barrier, release: threading.Event) -> tuple[int | None, int]:
    """One attacker: send until the server answers or hangs up (or `size` is reached); returns (status, sent)."""
    payload = b"x" * CHUNK
    piece = payload if flood.declared else b"%x\r\n" % CHUNK + payload + b"\r\n"
    target = flood.size - CHUNK if flood.hold else flood.size
    sent = 0  # body bytes, chunk framing not counted
    pending = memoryview(piece)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        start.wait()
        connection.sendall(_head(flood))
        while sent < target:
            readable, _, _ = select.select([connection], [connection], [], 60)
            if readable:  # the answer, or the hang-up, came while the body was still being sent
                break
            try:
                pending = pending[connection.send(pending) :]
            except OSError:  # reset or broken pipe: the server hung up
                break
            if not pending:
                sent += CHUNK
                pending = memoryview(piece)
        if flood.hold and sent >= target:
            release.wait()  # keep the server holding this body until the peak has been read
            return None, sent
        return _status(_read_answer(connection)), sent


def run_flood(bot: ServedBot, flood: Flood) -> FloodResult:
    start = threading.Barrier(flood.streams)
    release = threading.Event()
    outcomes: list[tuple[int | None, int]] = []
    lock = threading.Lock()

    def attacker() -> None:
        outcome = _stream(bot.port, flood, start, release)
        with lock:
            outcomes.append(outcome)

    with PeakMemory(bot.pid) as memory:
        threads = [threading.Thread(target=attacker, daemon=True) for _ in range(flood.streams)]
        for thread in threads:
            thread.start()
        if flood.hold:
            _wait_for_held_bodies(bot, flood)
            peak, source = memory.peak()
            release.set()
        for thread in threads:
            thread.join()
        if not flood.hold:
            peak, source = memory.peak()
    return FloodResult(
        flood,
        baseline_mib=memory.baseline_mib,
        peak_mib=peak,
        sent_bytes=sum(sent for _, sent in outcomes),
        statuses=Counter(status for status, _ in outcomes),
        peak_source=source,
    )


def _wait_for_held_bodies(bot: ServedBot, flood: Flood) -> None:
    """Until every held connection has sent its part (the server has read it: the body is under the limit)."""
    process = psutil.Process(bot.pid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # Each held request has been read when the server's socket receive queues are empty again.
        with contextlib.suppress(psutil.Error):
            established = [c for c in process.net_connections() if c.status == psutil.CONN_ESTABLISHED]
            if len(established) >= flood.streams and _receive_queues_empty(bot.port):
                return
        time.sleep(0.05)
    raise RuntimeError("the held bodies were not read within a minute")


def _receive_queues_empty(port: int) -> bool:
    """No bytes waiting in the server side's receive queues for `port` (/proc/net/tcp rx_queue)."""
    local = f":{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(local) and fields[3] == "01":  # ESTABLISHED, our port on the local side
            rx_queue = int(fields[4].split(":")[1], 16)
            if rx_queue:
                return False
    return True


FLOODS = [
    Flood("1 GiB chunked bodies to /slack/events", "/slack/events", STREAMS, GiB),
    Flood("1 GiB declared (Content-Length) bodies to /slack/events", "/slack/events", STREAMS, GiB, declared=True),
    Flood("1 GiB chunked bodies to a known webhook address", "{webhook}", STREAMS, GiB, signed_looking=False),
    Flood(
        "1 GiB chunked bodies to unknown webhook addresses",
        "/ontop/webhook/{random}",
        STREAMS,
        GiB,
        signed_looking=False,
    ),
]
HELD = Flood("bodies just under the 1 MiB limit, held open, to /slack/events", "/slack/events", STREAMS, MiB, hold=True)


# --- the metrics --------------------------------------------------------------------------------------------


def _series(exposition: str) -> int:
    return sum(1 for line in exposition.splitlines() if line and not line.startswith("#"))


def measure_metrics(bot: ServedBot, requests: int) -> MetricsResult:
    """/metrics before and after `requests` unverified Slack requests with random types (half unsigned, half
    signed wrongly), after one of each so every series they can create exists already."""
    senders = 4
    counts = [Counter[int]() for _ in range(senders + 1)]

    def send(count: int, statuses: Counter[int]) -> None:
        with httpx.Client(base_url=bot.url, timeout=30) as http:
            for index in range(count):
                body = f'{{"type": "{secrets.token_hex(8)}", "event": {{"type": "{secrets.token_hex(8)}"}}}}'
                headers = {"Content-Type": "application/json"}
                if index % 2:
                    headers |= {
                        "X-Slack-Request-Timestamp": str(int(time.time())),
                        "X-Slack-Signature": "v0=" + "1" * 64,
                    }
                statuses[http.post("/slack/events", content=body, headers=headers).status_code] += 1

    send(2, counts[senders])
    before = httpx.get(bot.metrics_url, timeout=10).text
    threads = [threading.Thread(target=send, args=(requests // senders, counts[n])) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = httpx.get(bot.metrics_url, timeout=10).text
    statuses = sum(counts[:senders], Counter[int]())
    return MetricsResult(
        requests=sum(statuses.values()),
        statuses=dict(statuses),
        bytes_before=len(before.encode()),
        bytes_after=len(after.encode()),
        series_before=_series(before),
        series_after=_series(after),
    )


# --- the whole run ------------------------------------------------------------------------------------------


def _warm_up(bot: ServedBot) -> None:
    """One request of every kind first, so lazy imports and first-use caches are not counted as attack cost."""
    with contextlib.suppress(httpx.TransportError), httpx.Client(base_url=bot.url, timeout=10) as http:
        http.post("/slack/events", content=b"{}")
        http.post("/slack/events", content=b"x" * 2 * MiB)
        http.post(f"/ontop/webhook/{bot.webhook_token}", content=b"x" * 512 * 1024)
        http.post("/ontop/webhook/unknown", content=b"{}")
        http.get("/healthz")


def _resolved(flood: Flood, bot: ServedBot) -> Flood:
    path = flood.path.replace("{webhook}", f"/ontop/webhook/{bot.webhook_token}")
    return Flood(
        flood.name,
        path.replace("{random}", secrets.token_urlsafe(16)),
        flood.streams,
        flood.size,
        flood.declared,
        flood.signed_looking,
        flood.hold,
    )


def measure_attack(*, streams: int = STREAMS, metrics_requests: int = METRICS_REQUESTS) -> AttackResult:
    """Each flood, and the /metrics run, against a freshly started server: no flood inherits another's heap."""
    started = datetime.now(UTC)
    clock = time.monotonic()
    results: list[FloodResult] = []
    for flood in [*FLOODS, HELD]:
        sized = Flood(flood.name, flood.path, streams, flood.size, flood.declared, flood.signed_looking, flood.hold)
        with ServedBot() as bot:
            _warm_up(bot)
            results.append(run_flood(bot, _resolved(sized, bot)))
        print(f"  {_flood_line(results[-1])}", flush=True)
    with ServedBot() as bot:
        _warm_up(bot)
        metrics = measure_metrics(bot, metrics_requests)
    return AttackResult(results, metrics, started, time.monotonic() - clock)


def _flood_line(result: FloodResult) -> str:
    statuses = ", ".join(f"{status or 'none'}×{count}" for status, count in sorted(result.statuses.items(), key=str))
    return (
        f"{result.flood.streams} × {result.flood.name}: peak RSS +{result.growth_mib:.1f} MiB "
        f"({result.baseline_mib:.1f} → {result.peak_mib:.1f} MiB, {result.peak_source}); "
        f"{result.sent_bytes / MiB:.1f} MiB sent in all; answers {statuses}"
    )


def figures(result: AttackResult) -> list[Figure]:
    """The figures, with the goals of the attack report: under 30 MiB of growth, no /metrics growth."""
    out: list[Figure] = []
    for flood in result.floods:
        held = flood.flood.hold
        out.append(
            Figure(
                SECTION,
                f"peak RSS growth, {flood.flood.streams} × {flood.flood.name}",
                flood.growth_mib,
                "MiB",
                target="" if held else f"< {GROWTH_GOAL_MIB:g} MiB",
                met=None if held else flood.growth_mib < GROWTH_GOAL_MIB,
                note=(
                    f"{flood.sent_bytes / MiB:.1f} MiB held open by {flood.flood.streams} connections at the peak;"
                    " the worst case the limits allow (about streams × limit), for scale"
                    if held
                    else f"{flood.sent_bytes / MiB:.1f} MiB sent in all before the server answered; answers "
                    + ", ".join(f"{status}×{count}" for status, count in flood.statuses.items())
                ),
                decimals=1,
            )
        )
    metrics = result.metrics
    out.append(
        Figure(
            SECTION,
            f"/metrics series after {metrics.requests:,} unverified requests with random types",
            metrics.series_after - metrics.series_before,
            "new series",
            target="0",
            met=metrics.series_after == metrics.series_before,
            note=(
                f"{metrics.series_before} series before and {metrics.series_after} after; "
                f"{metrics.bytes_before:,} → {metrics.bytes_after:,} bytes (counter digits only); answers "
                + ", ".join(f"{status}×{count}" for status, count in sorted(metrics.statuses.items()))
            ),
            decimals=0,
        )
    )
    return out


# --- docs/reliability.md ------------------------------------------------------------------------------------


def render_section(result: AttackResult, command: str) -> str:
    lines = [
        SECTION_TITLE,
        "",
        f"Measured {result.started:%Y-%m-%d %H:%M} UTC on {result.cores} cores ({machine()}), in"
        f" {result.seconds:.0f} s. Reproduce with `{command}` (`python -m bench --only attack` puts the same figures"
        " in docs/benchmarks.md).",
        "",
        "The real `qbo-bot serve --no-worker` runs in a child process on SQLite with the default body limits"
        " (1 MiB for `/slack/events`, 256 KiB for `/ontop/webhook/{token}`, 16 KiB elsewhere) and one connection"
        " whose webhook address is known. Each attacker is a raw HTTP/1.1 request over loopback that sends up to"
        " 1 GiB and stops when the server answers or hangs up; the streams of a flood start together. Each flood"
        " meets a freshly started server (after one warm-up request of each kind); peak RSS is its VmHWM, reset"
        " just before the flood (`/proc/<pid>/clear_refs`), minus its RSS at that moment. Slack floods carry fresh,"
        " well-formed but wrong signature headers, so the server has to read the body before it can refuse it.",
        "",
        "| attack | figure | goal | result |",
        "|---|---|---|---|",
    ]
    for figure in figures(result):
        goal = figure.target or "(no goal: for scale)"
        verdict = figure.verdict() or "measured"
        lines.append(f"| {figure.name} | {figure.value_text()} {figure.unit} | {goal} | {verdict} — {figure.note} |")
    lines += [
        "",
        "Before the limits, one 200 MiB body to either path cost about 400 MiB until it was refused, and 100 unsigned"
        " requests with random types grew /metrics by 110 KB. uvicorn stops reading a body nobody asks for once about"
        " 64 KiB wait (flow control), so memory follows what the app reads: about the route's limit per request."
        " uvicorn has no request-body timeout: a slow sender holds one limit's worth until it gives up, so a"
        " proxy in front should bound request time and connections per client.",
        "",
    ]
    # Prose wrapped like the rest of the file; table rows stay whole.
    return "\n".join(line if line.startswith("|") else textwrap.fill(line, width=118) for line in lines)


def write_section(path: Path, section: str) -> None:
    """Replace the "Attack figures" section of `path`, or add it at the end; the rest is left as it is."""
    text = path.read_text() if path.exists() else ""
    start = text.find(SECTION_TITLE + "\n")
    if start == -1:
        path.write_text(text.rstrip("\n") + "\n\n" + section)
        return
    following = re.search(r"^## ", text[start + len(SECTION_TITLE) :], flags=re.MULTILINE)
    end = start + len(SECTION_TITLE) + following.start() if following else len(text)
    rest = text[end:]
    path.write_text(text[:start] + section + ("\n" + rest if rest else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.attack", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--streams", type=int, default=STREAMS, help="parallel bodies per flood (default 20)")
    parser.add_argument("--requests", type=int, default=METRICS_REQUESTS, help="unverified requests (default 10,000)")
    parser.add_argument("--output", type=Path, default=DEFAULT_DOC, help="the Markdown file to put the section in")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    result = measure_attack(streams=args.streams, metrics_requests=args.requests)
    for figure in figures(result):
        print(f"  {figure.line()}", flush=True)
    if not args.no_write:
        shown = " ".join(argv if argv is not None else sys.argv[1:])
        write_section(args.output, render_section(result, f"python -m bench.attack {shown}".strip()))
        print(f"wrote the attack figures into {args.output}")
    return 0 if all(figure.met is not False for figure in figures(result)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
