"""The real web app over the real service on a SQLite file, with one connection whose Ontop webhook is set up.

No emulators: nothing here reaches QuickBooks or Ontop. The connection's webhook path token and signing secret are
stored the way connecting Ontop stores them (the token's hash, the secret encrypted), through the storage repos.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette

from bot.config import Settings
from bot.metrics import AppMetrics
from bot.runtime import Runtime, build_runtime
from bot.server import build_web_app
from devtools.server import BackgroundServer
from storage import migrate
from storage.crypto import generate_key
from storage.db import transaction
from storage.repos.connections import ConnectionRepo
from storage.repos.workspaces import WorkspaceRepo

SIGNING_SECRET = "security-suite-signing-secret"  # a test value, not a real secret
TEAM_ID = "T0001"


@dataclass(frozen=True)
class Webhook:
    token: str  # the secret path token of /ontop/webhook/{token}
    secret: str  # the B.6 signing secret Ontop was given

    @property
    def path(self) -> str:
        return f"/ontop/webhook/{self.token}"


def real_settings(database: Path) -> Settings:
    """`qbo-bot serve` settings for one workspace (bot token), nothing read from the environment."""
    return Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{database}",
        public_base_url="https://bot.example.test",
        encryption_keys=generate_key(),
        slack_signing_secret=SIGNING_SECRET,
        slack_bot_token="xoxb-security-suite",
        slack_client_id=None,
        slack_client_secret=None,
        slack_api_base_url="http://127.0.0.1:9/api/",  # nothing listens: no test here gets past verification to Slack
        qbo_client_id="security-suite",
        qbo_client_secret="security-suite-qbo-secret",
        ontop_api_base_url="http://127.0.0.1:9",
    )


async def prepare_database(settings: Settings) -> Webhook:
    """Migrate the SQLite file and add an active connection with an Ontop webhook address and signing secret."""
    runtime = build_runtime(settings)
    try:
        await migrate.upgrade(runtime.engine)
        webhook_secret = secrets.token_urlsafe(32)
        async with transaction(runtime.sessions) as session:
            workspace = await WorkspaceRepo(session).get_or_create(TEAM_ID, None, "Acme")
            connections = ConnectionRepo(session)
            connection = await connections.create(workspace.id, realm_id="9130")
            # What saving the Ontop login does: the token's hash and the encrypted secret stored, the connection active.
            token = await connections.store_ontop_credentials(
                connection.id, runtime.box, email="finance@acme.test", password="unused", webhook_secret=webhook_secret
            )
        assert await runtime.service.webhook_address_known(token), "the service knows the address just stored"
        return Webhook(token, webhook_secret)
    finally:
        await runtime.aclose()


@dataclass
class RealApp:
    runtime: Runtime
    web: Starlette
    webhook: Webhook

    @property
    def metrics(self) -> AppMetrics:
        metrics: AppMetrics = self.web.state.metrics
        return metrics


@asynccontextmanager
async def real_app(database: Path) -> AsyncIterator[RealApp]:
    """The app `qbo-bot serve` runs, to call in-process (its engine belongs to the caller's event loop)."""
    settings = real_settings(database)
    webhook = await prepare_database(settings)
    runtime = build_runtime(settings)
    try:
        web = build_web_app(settings, runtime.service, runtime.engine, runtime.box)
        yield RealApp(runtime, web, webhook)
    finally:
        await runtime.aclose()


@asynccontextmanager
async def served_app(database: Path) -> AsyncIterator[tuple[str, Webhook]]:
    """The same app served by uvicorn on loopback: (base URL, webhook). Its engine is used on the server's loop only."""
    settings = real_settings(database)
    webhook = await prepare_database(settings)
    runtime = build_runtime(settings)
    server = BackgroundServer(build_web_app(settings, runtime.service, runtime.engine, runtime.box))
    await asyncio.to_thread(server.start)
    try:
        yield server.url, webhook
    finally:
        await asyncio.to_thread(server.stop)
        await runtime.aclose()


def ontop_signature(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """ontop-api.md B.6: `X-Ontop-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`."""
    moment = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Ontop-Signature": f"t={moment},v1={mac}"}
