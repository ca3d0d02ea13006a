"""Fixtures for the QBO client and emulator: a seeded emulator served over real HTTP on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from devtools.server import BackgroundServer
from emulators.qbo.app import create_qbo_emulator
from emulators.qbo.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REALM, QboEmulatorState
from sync import money
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


class Api:
    """Raw HTTP calls to the emulator with a valid bearer token."""

    def __init__(self, emulator: Emulator, http: httpx.AsyncClient) -> None:
        self.emulator = emulator
        self.http = http
        self.token = emulator.state.issue_tokens(REALM)["access_token"]

    @property
    def state(self) -> QboEmulatorState:
        return self.emulator.state

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **extra}

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.http.get(self.emulator.api(path), params=params, headers=self.headers())

    async def post(self, path: str, body: Any, **params: str) -> httpx.Response:
        return await self.http.post(
            self.emulator.api(path),
            params={"minorversion": "75", **params},
            content=money.dumps(body),
            headers=self.headers(**{"Content-Type": "application/json"}),
        )

    async def created(self, path: str, body: Any, **params: str) -> dict[str, Any]:
        """POST a create that must succeed; the entity from the envelope."""
        response = await self.post(path, body, **params)
        assert response.status_code == 200, response.text
        parsed: dict[str, Any] = money.loads(response.text)
        [entity] = [value for key, value in parsed.items() if key != "time"]
        return dict(entity)

    async def query(self, statement: str) -> httpx.Response:
        return await self.get("query", query=statement)

    async def rows(self, statement: str) -> list[dict[str, Any]]:
        response = await self.query(statement)
        assert response.status_code == 200, response.text
        body = money.loads(response.text)["QueryResponse"]
        keys = [key for key in body if key not in ("startPosition", "maxResults", "totalCount")]
        return body[keys[0]] if keys else []

    async def create_vendor(self, name: str, **fields: Any) -> dict[str, Any]:
        response = await self.post("vendor", {"DisplayName": name, **fields})
        assert response.status_code == 200, response.text
        vendor: dict[str, Any] = money.loads(response.text)["Vendor"]
        return vendor

    def account_id(self, name: str) -> str:
        return next(a["Id"] for a in self.state.entities("Account") if a["Name"] == name)


@pytest.fixture
async def api(emulator: Emulator, http: httpx.AsyncClient) -> AsyncIterator[Api]:
    yield Api(emulator, http)


def fault(response: httpx.Response) -> dict[str, Any]:
    """The first Error of a Fault response, checking the §13.1 envelope shape."""
    body = money.loads(response.text)
    assert set(body) == {"Fault", "time"}, body
    error: dict[str, Any] = body["Fault"]["Error"][0]
    assert set(error) == {"Message", "Detail", "code", "element"}
    return error


def bill_body(vendor_id: str, account_id: str, *amounts: str, **fields: Any) -> dict[str, Any]:
    """A Bill (or VendorCredit) body with one expense line per amount."""
    lines = [
        {
            "DetailType": "AccountBasedExpenseLineDetail",
            "Amount": Decimal(amount),
            "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account_id}},
        }
        for amount in amounts
    ]
    return {"VendorRef": {"value": vendor_id}, "Line": lines, **fields}
