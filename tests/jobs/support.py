"""Helpers for the queue tests: workspaces and connections, and reading runs back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.models import ConceptMapping, Connection, ConnectionStatus, SyncRun, Workspace
from storage.repos.runs import RunRepo
from storage.repos.workspaces import WorkspaceRepo
from sync.jobs import RunOutcome

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
WAIT_LIMIT = 10.0


async def eventually(check: Callable[[], Awaitable[bool]], limit: float = WAIT_LIMIT) -> None:
    """Poll until check() holds (short polls, a generous limit: never a timed assertion)."""
    async with asyncio.timeout(limit):
        # The state lives in the database (or another task), so there is no event to wait on: poll briefly.
        while True:
            if await check():
                return
            await asyncio.sleep(0.01)


async def make_connection(
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str = "T1",
    sync_hour: int = 7,
    timezone: str = "UTC",
    status: ConnectionStatus = ConnectionStatus.ACTIVE,
    first_sync_enqueued: bool = True,
    mapped: bool = True,
) -> int:
    """A workspace (created if missing) with one new connection; returns the connection id."""
    async with transaction(sessions) as session:
        record = await WorkspaceRepo(session).get_or_create(team_id, team_name=f"Team {team_id}")
        workspace = await session.get(Workspace, record.id)
        assert workspace is not None
        workspace.sync_hour = sync_hour
        workspace.timezone = timezone
        connection = Connection(
            workspace_id=workspace.id,
            realm_id=f"realm-{team_id}",
            status=status,
            first_sync_enqueued=first_sync_enqueued,
        )
        session.add(connection)
        await session.flush()
        if mapped:
            session.add(ConceptMapping(connection_id=connection.id, concept="base", qbo_account_id="7"))
        return connection.id


async def runs_of(sessions: async_sessionmaker[AsyncSession], connection_id: int) -> list[SyncRun]:
    async with transaction(sessions) as session:
        return list(
            (
                await session.scalars(
                    select(SyncRun).where(SyncRun.connection_id == connection_id).order_by(SyncRun.id)
                )
            ).all()
        )


async def load_run(sessions: async_sessionmaker[AsyncSession], run_id: int) -> SyncRun:
    async with transaction(sessions) as session:
        run = await session.get(SyncRun, run_id)
        assert run is not None
        return run


async def finish_run(
    session: AsyncSession, run_id: int, worker_id: str, outcome: RunOutcome, now: datetime | None = None
) -> bool:
    """Record a run's outcome as the worker does."""
    return await RunRepo(session).finish(
        run_id,
        worker_id,
        status=outcome.status,
        totals=outcome.counts.totals(),
        error_summary=outcome.error_summary,
        watermark_after=outcome.watermark_after,
        now=now,
    )
