"""The composition root: settings in, every long-lived part wired together (database, clients, service, engine)."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.notify import MessageRef, SlackNotifier
from storage import migrate
from storage.crypto import SecretBox
from storage.db import create_engine, session_factory, transaction
from storage.records import RunRecord
from storage.repos.connections import ConnectionRepo
from storage.repos.runs import RunRepo
from storage.repos.workspaces import WorkspaceRepo
from sync.api import QboLinks, RunTrigger, TeamRef
from sync.connections import ClientFactory, QboSettings
from sync.outbox import Outbox
from sync.qbo.limiter import RateLimits, RealmLimiter
from sync.run import SyncEngine
from sync.service import Service
from sync.worker import EngineExecutor, default_worker_id, run_jobs

log = structlog.get_logger(__name__)

AUTHORIZATION_WARNING = timedelta(days=30)


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    box: SecretBox
    clients: ClientFactory
    service: Service
    sync_engine: SyncEngine
    executor: EngineExecutor

    async def aclose(self) -> None:
        await self.clients.aclose()
        await self.engine.dispose()

    def sibling(self) -> Runtime:
        """Another runtime on the same settings, for another event loop: a database pool and HTTP clients belong to
        the loop that made them (the embedded worker's thread builds its own). The QBO rate limiter is shared: both
        loops spend one realm's budget, and two budgets would overrun QuickBooks' limits (a 429 costs 60 s)."""
        qbo = self.clients.qbo
        return build_runtime(
            self.settings,
            rate_limits=qbo.rate_limits,
            throttle_wait_seconds=qbo.throttle_wait_seconds,
            limiter=self.clients.limiter,
        )


def qbo_redirect_uri(settings: Settings) -> str:
    return f"{(settings.public_base_url or 'http://127.0.0.1:3000').rstrip('/')}/qbo/callback"


def build_runtime(
    settings: Settings,
    *,
    rate_limits: RateLimits | None = None,
    throttle_wait_seconds: float = 60.0,
    limiter: RealmLimiter | None = None,
) -> Runtime:
    """Everything but the Slack side; `settings.require(...)` has been checked by the caller."""
    if settings.encryption_keys is None:
        raise ValueError("ENCRYPTION_KEYS is required")
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    box = SecretBox(settings.encryption_keys.get_secret_value())
    clients = ClientFactory(
        sessions,
        box,
        QboSettings(
            client_id=settings.qbo_client_id or "",
            client_secret=settings.qbo_client_secret.get_secret_value() if settings.qbo_client_secret else "",
            redirect_uri=qbo_redirect_uri(settings),
            api_base_url=settings.qbo_api_url,
            oauth_base_url=settings.qbo_oauth_base_url,
            minorversion=settings.qbo_minorversion,
            rate_limits=rate_limits or RateLimits(per_minute=settings.qbo_requests_per_minute),
            throttle_wait_seconds=throttle_wait_seconds,
        ),
        ontop_base_url=settings.ontop_api_base_url or "",
        limiter=limiter,
    )
    service = Service(
        sessions,
        clients,
        public_base_url=settings.public_base_url,
        webhook_delay_seconds=settings.ontop_webhook_delay_seconds,
    )
    sync_engine = SyncEngine(sessions, clients)
    return Runtime(settings, engine, sessions, box, clients, service, sync_engine, EngineExecutor(sync_engine))


async def upgrade_if_sqlite(runtime: Runtime) -> None:
    """demo and serve create or migrate an embedded SQLite database themselves; PostgreSQL is migrated by
    `qbo-bot db upgrade` as a deploy step."""
    if runtime.settings.is_sqlite:
        await migrate.upgrade(runtime.engine)


@dataclass(frozen=True)
class RunMessage:
    """The Slack message of one run, kept by the worker between progress updates."""

    team: TeamRef
    run_id: int
    trigger: str
    requested_by: str | None
    posted: Any  # handlers.notify.MessageRef, or None while nothing is posted


class SlackRunNotifier:
    """The worker's RunNotifier: progress messages through handlers.notify.SlackNotifier, summaries through the
    outbox (owed in the run's final transaction, so a crash cannot lose them; this only asks for them now)."""

    def __init__(self, runtime: Runtime, slack: SlackNotifier, outbox: Outbox | None = None) -> None:
        self._runtime = runtime
        self._slack = slack
        self._outbox = outbox

    async def _team_for_connection(self, connection_id: int) -> TeamRef | None:
        async with self._runtime.sessions() as session:
            connection = await ConnectionRepo(session).get(connection_id)
            workspace = await WorkspaceRepo(session).get(connection.workspace_id) if connection else None
        if workspace is None:
            return None
        # About this connection: its run's messages go to its finance channel.
        return TeamRef(workspace.team_id, workspace.enterprise_id or None).on(connection_id)

    async def run_started(self, run: RunRecord) -> RunMessage | None:
        team = await self._team_for_connection(run.connection_id)
        if team is None:
            return None
        if run.progress_channel and run.progress_ts:
            # A run taken over from a lost worker keeps updating the message already posted.
            posted = MessageRef(team, run.progress_channel, run.progress_ts)
            return RunMessage(team, run.id, run.trigger, run.requested_by, posted)
        message = RunMessage(team, run.id, run.trigger, run.requested_by, None)
        if run.trigger in PERSON_TRIGGERS:  # someone is waiting: show the run at once
            return await self._post_progress(message)
        return message  # a scheduled run shows up only once it has work (run_progress)

    async def _post_progress(self, message: RunMessage) -> RunMessage:
        summary = await self._runtime.service.run_summary(message.team, message.run_id)
        if summary is None:
            return message
        posted = await self._slack.run_started(message.team, summary)
        if posted is not None:
            async with transaction(self._runtime.sessions) as session:
                await RunRepo(session).record_progress_message(message.run_id, posted.channel_id, posted.ts)
        return dataclasses.replace(message, posted=posted)

    async def run_progress(self, ref: RunMessage | None, done: int, total: int | None) -> RunMessage | None:
        if ref is None:
            return None
        if ref.posted is None and total:
            ref = await self._post_progress(ref)  # a scheduled run that found work
        if ref.posted is not None:
            what = "payments, fee bills and PDFs" if ref.trigger == RunTrigger.FINISH else "invoices"
            await self._slack.run_progress(
                ref.posted, ref.run_id, done, total, requested_by=ref.requested_by, what=what
            )
        return ref

    async def run_finished(self, run_id: int, ref: RunMessage | None) -> None:
        if self._outbox is not None:
            self._outbox.wake()


# The follow-up of a big first sync was asked for too: its person waits for its payments and PDFs.
PERSON_TRIGGERS = (RunTrigger.MANUAL, RunTrigger.RETRY, RunTrigger.FIRST, RunTrigger.FINISH)


def build_outbox(runtime: Runtime, slack: SlackNotifier, owner: str | None = None) -> Outbox:
    return Outbox(runtime.sessions, slack, owner=owner or default_worker_id(), poll_seconds=2.0)


def slack_links(settings: Settings) -> QboLinks:
    return QboLinks(settings.qbo_app_url)


async def run_worker_until(
    runtime: Runtime,
    notifier: SlackRunNotifier | None,
    stop: asyncio.Event,
    *,
    outbox: Outbox | None = None,
    with_scheduler: bool = True,
    poll_seconds: float = 1.0,
) -> None:
    """The worker (runs and the daily scheduler) and the outbox, until `stop` is set."""
    parts = [
        run_jobs(
            runtime.sessions,
            runtime.executor,
            notifier,
            stop,
            concurrency=runtime.settings.worker_concurrency,
            with_scheduler=with_scheduler,
            poll_seconds=poll_seconds,
        )
    ]
    if outbox is not None:
        parts.append(outbox.run_forever(stop))
    await asyncio.gather(*parts)
