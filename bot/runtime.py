"""The composition root: settings in, every long-lived part wired together (database, clients, service, engine)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.notify import MessageRef
from storage import migrate
from storage.crypto import SecretBox
from storage.db import create_engine, session_factory, transaction
from storage.models import ConnectionStatus
from storage.records import RunRecord
from storage.repos.connections import ConnectionRepo
from storage.repos.runs import RunRepo
from storage.repos.workspaces import WorkspaceRepo
from sync import messages
from sync.api import RunSummary, TeamRef
from sync.connections import ClientFactory, QboSettings
from sync.qbo.limiter import RateLimits
from sync.run import SyncEngine
from sync.service import Service
from sync.worker import EngineExecutor, run_jobs

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


def qbo_redirect_uri(settings: Settings) -> str:
    return f"{(settings.public_base_url or 'http://127.0.0.1:3000').rstrip('/')}/qbo/callback"


def build_runtime(
    settings: Settings, *, rate_limits: RateLimits | None = None, throttle_wait_seconds: float = 60.0
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
    requested_by: str | None
    posted: Any  # handlers.notify.MessageRef, or None when nothing could be posted


class SlackRunNotifier:
    """The worker's RunNotifier, speaking through handlers.notify.SlackNotifier (which knows Block Kit)."""

    def __init__(self, runtime: Runtime, slack: Any) -> None:
        self._runtime = runtime
        self._slack = slack

    async def _team_for_connection(self, connection_id: int) -> TeamRef | None:
        async with self._runtime.sessions() as session:
            connection = await ConnectionRepo(session).get(connection_id)
            workspace = await WorkspaceRepo(session).get(connection.workspace_id) if connection else None
        if workspace is None:
            return None
        return TeamRef(workspace.team_id, workspace.enterprise_id or None)

    async def _summary(self, team: TeamRef, run_id: int) -> RunSummary | None:
        return await self._runtime.service.run_summary(team, run_id)

    async def run_started(self, run: RunRecord) -> RunMessage | None:
        team = await self._team_for_connection(run.connection_id)
        summary = await self._summary(team, run.id) if team else None
        if team is None or summary is None:
            return None
        if run.progress_channel and run.progress_ts:
            # A run taken over from a lost worker keeps updating the message already posted.
            return RunMessage(team, run.id, run.requested_by, MessageRef(team, run.progress_channel, run.progress_ts))
        posted = await self._slack.run_started(team, summary)
        if posted is not None:
            async with transaction(self._runtime.sessions) as session:
                await RunRepo(session).record_progress_message(run.id, posted.channel_id, posted.ts)
        return RunMessage(team, run.id, run.requested_by, posted)

    async def run_progress(self, ref: RunMessage | None, done: int, total: int | None) -> None:
        if ref is None or ref.posted is None:
            return
        await self._slack.run_progress(ref.posted, ref.run_id, done, total, requested_by=ref.requested_by)

    async def run_finished(self, run_id: int, ref: RunMessage | None) -> None:
        async with self._runtime.sessions() as session:
            run = await RunRepo(session).get(run_id)
        if run is None:
            return
        team = ref.team if ref else await self._team_for_connection(run.connection_id)
        if team is None:
            return
        summary = await self._summary(team, run_id)
        if summary is not None:
            await self._slack.run_finished(team, summary, ref.posted if ref else None)
        await self._warn_before_authorization_expires(team, run.connection_id)

    async def _warn_before_authorization_expires(self, team: TeamRef, connection_id: int) -> None:
        """QBO authorizations end (100 days unused, 5 years at most): ask for a reconnect in the last 30 days."""
        async with self._runtime.sessions() as session:
            connection = await ConnectionRepo(session).get(connection_id)
        if connection is None or connection.status != ConnectionStatus.ACTIVE:
            return
        deadline = connection.refresh_expires_at
        if deadline is not None and deadline - datetime.now(UTC) < AUTHORIZATION_WARNING:
            reason = messages.authorization_ends(f"{deadline:%Y-%m-%d}")
            await self._slack.needs_reauth(team, company_name=connection.company_name, reason=reason)


async def run_worker_until(
    runtime: Runtime, notifier: Any, stop: asyncio.Event, *, with_scheduler: bool = True, poll_seconds: float = 1.0
) -> None:
    await run_jobs(
        runtime.sessions,
        runtime.executor,
        notifier,
        stop,
        concurrency=runtime.settings.worker_concurrency,
        with_scheduler=with_scheduler,
        poll_seconds=poll_seconds,
    )
