"""What every feature of the service shares: the database, the clients, and finding a workspace's connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import ConnectionStatus
from storage.records import ConnectionRecord
from storage.repos.connections import ConnectionRepo
from storage.repos.reviews import ReviewRepo
from storage.repos.workspaces import WorkspaceRepo
from sync import messages
from sync.api import (
    ConnectionChoice,
    ConnectionChoiceNeeded,
    NeedsReauthError,
    NotConnectedError,
    ServiceError,
    TeamRef,
    UnknownConnectionError,
)
from sync.connections import ClientFactory
from sync.qbo.errors import QboError

log = structlog.get_logger(__name__)


@dataclass
class ServiceContext:
    sessions: async_sessionmaker[AsyncSession]
    clients: ClientFactory
    public_base_url: str | None = None
    webhook_delay_seconds: int = 30

    def __repr__(self) -> str:
        return "ServiceContext()"

    async def connection(self, team: TeamRef, *, require_active: bool = False) -> ConnectionRecord:
        """The workspace's connection; raises what the person needs to hear when there is none usable."""
        connection = await self.find_connection(team)
        if connection is None or connection.status == ConnectionStatus.DISCONNECTED:
            raise NotConnectedError(messages.QBO_NOT_CONNECTED)
        if connection.status == ConnectionStatus.NEEDS_REAUTH:
            raise NeedsReauthError(messages.RECONNECT)
        if require_active and connection.status != ConnectionStatus.ACTIVE:
            raise ServiceError(messages.ONTOP_NOT_CONNECTED)
        return connection

    async def about_review(self, team: TeamRef, review_id: int) -> TeamRef:
        """The request, about the review's connection (still checked against the workspace when it is resolved)."""
        if team.connection_id is not None or team.connection:
            return team
        async with self.sessions() as session:
            record = await ReviewRepo(session).get(review_id)
        return team.on(record.connection_id) if record is not None else team

    async def which_connection(
        self, team: TeamRef, *, prefer_unfinished: bool = False, prefer_newest: bool = False
    ) -> TeamRef:
        """The request about one connection by id (see `resolve_connection`); unchanged when the workspace has none.

        prefer_unfinished: with several and none named, the newest one still waiting for its Ontop login (what
        `/qbo connect` finishes) rather than asking.
        prefer_newest: with several and none named, the newest one (what a `/qbo connect new` modal just made).
        """
        async with self.sessions() as session:
            workspace = await WorkspaceRepo(session).find(team.team_id, team.enterprise_id)
            if workspace is None:
                return team
            if (prefer_unfinished or prefer_newest) and not (team.connection or team.connection_id):
                open_ones = await ConnectionRepo(session).list_open(workspace.id)  # oldest first
                unfinished = [one for one in open_ones if one.status == ConnectionStatus.PENDING]
                if prefer_unfinished and unfinished:
                    return team.on(unfinished[-1].id)
                if prefer_newest and open_ones:
                    return team.on(open_ones[-1].id)
            connection = await resolve_connection(session, workspace.id, team)
        return team.on(connection.id) if connection is not None else team

    async def find_connection(self, team: TeamRef) -> ConnectionRecord | None:
        """The connection the request is about (see `resolve_connection`); None when the workspace has none."""
        async with self.sessions() as session:
            workspace = await WorkspaceRepo(session).find(team.team_id, team.enterprise_id)
            if workspace is None:
                if team.connection or team.connection_id:
                    raise UnknownConnectionError(messages.CONNECTION_NOT_HERE)
                return None
            return await resolve_connection(session, workspace.id, team)


def choice_of(connection: ConnectionRecord) -> ConnectionChoice:
    return ConnectionChoice(connection.id, connection.name, connection.company_name)


async def resolve_connection(
    session: AsyncSession, workspace_id: int, team: TeamRef, *, ask: bool = True
) -> ConnectionRecord | None:
    """Which of the workspace's connections a request is about.

    A carried id: that connection, only if it is this workspace's (a disconnected one is returned as such, so an old
    button says "not connected"). A name: the open connection with that name, else UnknownConnectionError listing the
    names. Neither: the only open connection, None when there is none, and when there are several
    ConnectionChoiceNeeded (or None, with `ask=False`, for what is the workspace's alone, like its settings).
    """
    connections = ConnectionRepo(session)
    if team.connection_id is not None:
        found = await connections.get(team.connection_id)
        if found is None or found.workspace_id != workspace_id:
            log.warning("connection_of_another_workspace_refused", connection_id=team.connection_id)
            raise UnknownConnectionError(messages.CONNECTION_NOT_HERE)
        return found
    if team.connection:
        named = await connections.get_open_by_name(workspace_id, team.connection)
        if named is None:
            names = [open_one.name for open_one in await connections.list_open(workspace_id)]
            raise UnknownConnectionError(messages.unknown_connection(team.connection, names))
        return named
    open_ones = await connections.list_open(workspace_id)
    if len(open_ones) <= 1:
        return open_ones[0] if open_ones else None
    if not ask:
        return None
    raise ConnectionChoiceNeeded(messages.CHOOSE_CONNECTION, [choice_of(one) for one in open_ones])


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def start_of_month(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def unavailable(exc: Exception) -> ServiceError:
    """QuickBooks or Ontop did not answer a request a person made."""
    where = "QuickBooks" if isinstance(exc, QboError) else "Ontop"
    log.warning("service.unavailable", service=where, error=type(exc).__name__)
    return ServiceError(messages.unreachable_now(where))
