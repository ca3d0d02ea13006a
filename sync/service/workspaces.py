"""A workspace and its settings: finance channel, daily hour and time zone, app admins, supplier creation."""

from __future__ import annotations

from storage.db import transaction
from storage.repos.audit import AuditRepo
from storage.repos.workspaces import WorkspaceRepo
from sync import messages, scheduler
from sync.api import ServiceError, TeamRef, WorkspaceSettings
from sync.service.base import ServiceContext
from sync.service.reports import workspace_settings


class Workspaces:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def ensure_workspace(self, team: TeamRef, team_name: str = "") -> WorkspaceSettings:
        async with transaction(self._context.sessions) as session:
            workspace = await WorkspaceRepo(session).get_or_create(team.team_id, team.enterprise_id, team_name)
            return workspace_settings(team, workspace)

    async def update_settings(
        self,
        team: TeamRef,
        user_id: str,
        *,
        finance_channel_id: str | None,
        sync_hour: int,
        timezone: str,
        admin_user_ids: list[str],
        auto_create_vendors: bool,
    ) -> WorkspaceSettings:
        if not 0 <= sync_hour <= 23:
            raise ServiceError(messages.SYNC_HOUR_INVALID, field="sync_hour")
        if not scheduler.is_time_zone(timezone):
            raise ServiceError(messages.time_zone_invalid(timezone), field="timezone")
        async with transaction(self._context.sessions) as session:
            workspaces = WorkspaceRepo(session)
            workspace = await workspaces.get_or_create(team.team_id, team.enterprise_id)
            saved = await workspaces.save_settings(
                workspace.id,
                finance_channel_id=finance_channel_id,
                sync_hour=sync_hour,
                timezone=timezone,
                admin_user_ids=admin_user_ids,
                auto_create_vendors=auto_create_vendors,
            )
            AuditRepo(session).record(workspace.id, user_id, "settings", None, sync_hour=sync_hour, timezone=timezone)
            return workspace_settings(team, saved)
