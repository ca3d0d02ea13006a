"""The Slack app served for real on loopback: fake Slack Web API, FakeService, signed requests over HTTP."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import SlackInstallation, create_bolt_app
from bot.config import Settings
from bot.web import create_web_app
from devtools.fake_slack import FakeSlack
from devtools.server import BackgroundServer
from devtools.signing import SlackClientSimulator
from handlers.notify import SlackNotifier
from storage.crypto import SecretBox, generate_key
from storage.db import create_engine
from sync.api import QboLinks, RunSummary, TeamRef
from sync.outbox import NotificationKind, NotificationRecord
from tests.slack.fakes import FakeService

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test"
TEAM = TeamRef("T0001")


def single_workspace_settings(fake: FakeSlack, database_url: str) -> Settings:
    """Settings for one workspace (bot token), every value explicit so the environment cannot leak in."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        slack_signing_secret=SIGNING_SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_client_id=None,
        slack_client_secret=None,
        slack_api_base_url=fake.api_url,
        public_base_url="https://bot.example.test",
    )


@dataclass
class RunningApp:
    url: str
    fake: FakeSlack
    service: FakeService
    notifier: SlackNotifier
    settings: Settings

    async def deliver_run(
        self, summary: RunSummary, *, team: TeamRef = TEAM, steps: RecordedSteps | None = None
    ) -> RecordedSteps:
        """The outbox delivering a finished run's summary (as the worker's outbox would, minus the database)."""
        self.service.add_run(team.team_id, summary)
        steps = steps or RecordedSteps(notification_id=summary.run_id)
        result = await self.notifier.deliver(team, steps.record(summary.run_id), steps)
        steps.results.append(result)
        return steps


@dataclass
class RecordedSteps:
    """sync.outbox.Steps in memory: what a delivery recorded, and the notification row it would leave."""

    notification_id: int
    channel_id: str | None = None
    ts: str | None = None
    post_started_at: datetime | None = None
    reply_ts: str | None = None
    pages: int = 0
    file: bool = False
    fell_back: str | None = None
    attempts: int = 0
    results: list[object] = field(default_factory=list)

    def record(self, run_id: int, kind: str = NotificationKind.RUN_RESULT) -> NotificationRecord:
        """The row as the next delivery attempt reads it."""
        self.attempts += 1
        return NotificationRecord(
            id=self.notification_id,
            workspace_id=1,
            connection_id=1,
            kind=kind,
            key=f"run:{run_id}",
            run_id=run_id,
            payload={},
            state="pending",
            attempts=self.attempts,
            next_attempt_at=datetime.now(UTC),
            channel_id=self.channel_id,
            ts=self.ts,
            post_started_at=self.post_started_at,
            reply_ts=self.reply_ts,
            pages_posted=self.pages,
            file_posted=self.file,
            fell_back=self.fell_back,
            last_error=None,
            created_at=datetime.now(UTC),
            delivered_at=None,
        )

    async def post_started(self, channel_id: str) -> None:
        self.channel_id, self.post_started_at = channel_id, datetime.now(UTC)

    async def top_posted(self, channel_id: str, ts: str, *, fell_back: str | None) -> None:
        self.channel_id, self.ts, self.fell_back = channel_id, ts, fell_back

    async def reply_posted(self, ts: str) -> None:
        self.reply_ts = ts

    async def pages_posted(self, count: int) -> None:
        self.pages = count

    async def file_posted(self) -> None:
        self.file = True


@pytest.fixture
def shutdowns() -> Iterator[list[threading.Thread]]:
    """Servers stop in parallel at the end of a test (each uvicorn takes a moment to exit)."""
    stopping: list[threading.Thread] = []
    yield stopping
    for thread in stopping:
        thread.join(timeout=10)


def stop_later(shutdowns: list[threading.Thread], stop: Callable[[], None]) -> None:
    thread = threading.Thread(target=stop, daemon=True)
    thread.start()
    shutdowns.append(thread)


@pytest.fixture
def fake(shutdowns: list[threading.Thread]) -> Iterator[FakeSlack]:
    running = FakeSlack().start()
    yield running
    stop_later(shutdowns, running.stop)


@pytest.fixture
def service() -> FakeService:
    return FakeService()


@pytest.fixture
def database_path(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'slack.sqlite3'}"


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(generate_key())


def serve(
    settings: Settings, service: FakeService, engine: AsyncEngine, box: SecretBox
) -> tuple[BackgroundServer, SlackNotifier]:

    installation = SlackInstallation(settings, engine, box)
    bolt_app = create_bolt_app(settings, service, engine, box, installation=installation)
    notifier = SlackNotifier(installation.client_for, service, QboLinks("https://app.sandbox.qbo.intuit.com"))
    web = create_web_app(settings, bolt_app, service, engine, notifier=notifier, is_admin=notifier.is_admin)
    return BackgroundServer(web), notifier


@pytest.fixture
def app(
    fake: FakeSlack, service: FakeService, database_path: str, box: SecretBox, shutdowns: list[threading.Thread]
) -> Iterator[RunningApp]:
    settings = single_workspace_settings(fake, database_path)
    # The engine is only touched from the server's event loop (readyz); created here, used there.
    engine = create_engine(settings.database_url)
    server, notifier = serve(settings, service, engine, box)
    server.start()
    yield RunningApp(server.url, fake, service, notifier, settings)
    stop_later(shutdowns, server.stop)


@pytest.fixture
async def slack(app: RunningApp) -> AsyncIterator[SlackClientSimulator]:
    """Slack's side, as admin Ann of workspace T0001."""
    async with SlackClientSimulator(app.url, SIGNING_SECRET, "T0001", "U0ANN", app.fake) as simulator:
        yield simulator


@pytest.fixture
def connected(service: FakeService) -> FakeService:
    """Workspace T0001 has QuickBooks and Ontop connected, finance channel #finance."""
    service.connect("T0001")
    return service
