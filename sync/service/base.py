"""What every feature of the service shares: the database, the clients, and finding a workspace's connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import ConnectionStatus
from storage.records import ConnectionRecord
from storage.repos.connections import ConnectionRepo
from storage.repos.workspaces import WorkspaceRepo
from sync import messages
from sync.api import NeedsReauthError, NotConnectedError, ServiceError, TeamRef
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
        if connection is None:
            raise NotConnectedError(messages.QBO_NOT_CONNECTED)
        if connection.status == ConnectionStatus.NEEDS_REAUTH:
            raise NeedsReauthError(messages.RECONNECT)
        if require_active and connection.status != ConnectionStatus.ACTIVE:
            raise ServiceError(messages.ONTOP_NOT_CONNECTED)
        return connection

    async def find_connection(self, team: TeamRef) -> ConnectionRecord | None:
        async with self.sessions() as session:
            workspace = await WorkspaceRepo(session).find(team.team_id, team.enterprise_id)
            return await ConnectionRepo(session).current(workspace.id) if workspace else None


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def start_of_month(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def unavailable(exc: Exception) -> ServiceError:
    """QuickBooks or Ontop did not answer a request a person made."""
    where = "QuickBooks" if isinstance(exc, QboError) else "Ontop"
    log.warning("service.unavailable", service=where, error=type(exc).__name__)
    return ServiceError(messages.unreachable_now(where))
