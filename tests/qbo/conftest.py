"""Fixtures for the QBO client and emulator: a seeded emulator served over real HTTP on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from devtools.server import BackgroundServer
from emulators.qbo.app import create_qbo_emulator
from emulators.qbo.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REALM, QboEmulatorState
from sync.qbo.auth import QboOAuth, QboTokens
from sync.qbo.client import MemoryTokenSource, QboClient
from sync.qbo.limiter import RealmLimiter
from sync.retry import Backoff

REDIRECT_URI = "http://localhost:3000/qbo/callback"
REALM = DEFAULT_REALM


@dataclass
class Emulator:
    """A running emulator: its state (to seed, inject and inspect) and its base URL."""

    state: QboEmulatorState
    url: str

    def api(self, path: str) -> str:
        return f"{self.url}/v3/company/{REALM}/{path}"


@dataclass
class RecordingSleep:
    """A fake sleep: records each requested pause and returns at once (no wall-clock waits in tests)."""

    pauses: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def emulator_state() -> QboEmulatorState:
    state = QboEmulatorState(seed=7)
    state.register_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, [REDIRECT_URI])
    state.seed_company()
    # Rate limits are off unless a test is about them, so bursts of test calls are never throttled.
    state.switches.rate_limits_enabled = False
    return state


class SwappableApp:
    """One loopback server for the whole session; each test mounts a fresh emulator app on it (fast teardown)."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        assert self.app is not None, "no emulator mounted"
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def loopback() -> Iterator[tuple[SwappableApp, str]]:
    swappable = SwappableApp()
    with BackgroundServer(swappable) as server:
        yield swappable, server.url


@pytest.fixture
def emulator(emulator_state: QboEmulatorState, loopback: tuple[SwappableApp, str]) -> Iterator[Emulator]:
    swappable, url = loopback
    swappable.app = create_qbo_emulator(emulator_state)
    yield Emulator(emulator_state, url)
    swappable.app = None


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
def oauth(emulator: Emulator) -> QboOAuth:
    return QboOAuth(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, REDIRECT_URI, oauth_base_url=emulator.url)


@pytest.fixture
def token_source(emulator: Emulator, oauth: QboOAuth) -> MemoryTokenSource:
    tokens = QboTokens.from_response(emulator.state.issue_tokens(REALM), datetime.now(UTC))
    return MemoryTokenSource(tokens, oauth)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def client(
    emulator: Emulator, token_source: MemoryTokenSource, sleeps: RecordingSleep
) -> AsyncIterator[QboClient]:
    async with QboClient(
        REALM,
        token_source,
        api_base_url=emulator.url,
        backoff=Backoff(attempts=3, base_seconds=0.01, max_seconds=0.05),
        sleep=sleeps,
        timeout=httpx.Timeout(2.0),
    ) as qbo:
        yield qbo


def make_client(
    emulator: Emulator,
    tokens: MemoryTokenSource,
    *,
    limiter: RealmLimiter | None = None,
    timeout: float = 2.0,
    sleep: RecordingSleep | None = None,
) -> QboClient:
    """A client with fast back-off, for tests that need a non-default configuration."""
    kwargs = {"sleep": sleep} if sleep is not None else {}
    return QboClient(
        REALM,
        tokens,
        api_base_url=emulator.url,
        limiter=limiter,
        backoff=Backoff(attempts=3, base_seconds=0.01, max_seconds=0.05),
        timeout=httpx.Timeout(timeout),
        **kwargs,  # type: ignore[arg-type]
    )
