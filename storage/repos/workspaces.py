"""Slack workspaces and their settings."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Workspace, utcnow
from storage.records import WorkspaceRecord


class WorkspaceRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _find_row(self, team_id: str, enterprise_id: str | None) -> Workspace | None:
        return await self._session.scalar(
            select(Workspace).where(Workspace.team_id == team_id, Workspace.enterprise_id == (enterprise_id or ""))
        )

    async def get_or_create(
        self, team_id: str, enterprise_id: str | None = None, team_name: str = ""
    ) -> WorkspaceRecord:
        """The workspace, created on first contact; a reinstall clears its uninstalled mark."""
        row = await self._find_row(team_id, enterprise_id)
        if row is None:
            row = Workspace(team_id=team_id, enterprise_id=enterprise_id or "", team_name=team_name, admin_user_ids=[])
            try:
                async with self._session.begin_nested():  # a savepoint: losing the race must not end the transaction
                    self._session.add(row)
            except IntegrityError:
                # A first contact racing another (a burst of requests from a new workspace): use the row it made.
                found = await self._find_row(team_id, enterprise_id)
                if found is None:
                    raise
                row = found
        elif row.uninstalled_at is not None:
            row.uninstalled_at = None
            await self._session.flush()
        return WorkspaceRecord.of(row)

    async def find(self, team_id: str, enterprise_id: str | None = None) -> WorkspaceRecord | None:
        row = await self._find_row(team_id, enterprise_id)
        return WorkspaceRecord.of(row) if row is not None else None

    async def get(self, workspace_id: int) -> WorkspaceRecord | None:
        row = await self._session.get(Workspace, workspace_id)
        return WorkspaceRecord.of(row) if row is not None else None

    async def save_settings(
        self,
        workspace_id: int,
        *,
        finance_channel_id: str | None,
        sync_hour: int,
        timezone: str,
        admin_user_ids: list[str],
        auto_create_vendors: bool,
    ) -> WorkspaceRecord:
        row = await self._session.get(Workspace, workspace_id)
        assert row is not None
        row.finance_channel_id = finance_channel_id
        row.sync_hour = sync_hour
        row.timezone = timezone
        row.admin_user_ids = sorted(set(admin_user_ids))
        row.auto_create_vendors = auto_create_vendors
        await self._session.flush()
        return WorkspaceRecord.of(row)

    async def mark_uninstalled(self, workspace_id: int) -> None:
        row = await self._session.get(Workspace, workspace_id)
        if row is not None:
            row.uninstalled_at = utcnow()
