"""A workspace and its settings: finance channel, daily hour and time zone, app admins, supplier creation, and the
approval gate of its connection."""

from __future__ import annotations

import dataclasses

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import transaction
from storage.records import WorkspaceRecord
from storage.repos.audit import AuditRepo
from storage.repos.connections import ConnectionRepo
from storage.repos.workspaces import WorkspaceRepo
from sync import messages, scheduler
from sync.api import ReviewSettings, ServiceError, TeamRef, WorkspaceSettings
from sync.review import review_settings_of
from sync.service.base import ServiceContext
from sync.service.reports import workspace_settings


async def _with_review(session: AsyncSession, team: TeamRef, workspace: WorkspaceRecord) -> WorkspaceSettings:
    """The workspace's settings and, once QuickBooks is connected, its connection's approval gate."""
    connection = await ConnectionRepo(session).current(workspace.id)
    settings = workspace_settings(team, workspace)
    return dataclasses.replace(settings, review=review_settings_of(connection)) if connection else settings


class Workspaces:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def ensure_workspace(self, team: TeamRef, team_name: str = "") -> WorkspaceSettings:
        async with transaction(self._context.sessions) as session:
            workspace = await WorkspaceRepo(session).get_or_create(team.team_id, team.enterprise_id, team_name)
            return await _with_review(session, team, workspace)

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
        review: ReviewSettings | None = None,
    ) -> WorkspaceSettings:
        if not 0 <= sync_hour <= 23:
            raise ServiceError(messages.SYNC_HOUR_INVALID, field="sync_hour")
        if not scheduler.is_time_zone(timezone):
            raise ServiceError(messages.time_zone_invalid(timezone), field="timezone")
        if review is not None and review.over_bills is not None and review.over_bills < 0:
            raise ServiceError(messages.REVIEW_THRESHOLD_INVALID, field="review_over_bills")
        if review is not None and review.over_usd is not None and review.over_usd < 0:
            raise ServiceError(messages.REVIEW_AMOUNT_INVALID, field="review_over_usd")
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
            if review is not None:
                await self._save_review(session, workspace, user_id, review)
            AuditRepo(session).record(workspace.id, user_id, "settings", None, sync_hour=sync_hour, timezone=timezone)
            return await _with_review(session, team, saved)

    @staticmethod
    async def _save_review(
        session: AsyncSession, workspace: WorkspaceRecord, user_id: str, review: ReviewSettings
    ) -> None:
        connections = ConnectionRepo(session)
        connection = await connections.current(workspace.id)
        if connection is None:
            raise ServiceError(messages.REVIEW_NEEDS_CONNECTION)
        await connections.save_review_settings(
            connection.id,
            first_sync=review.first_sync,
            later_runs=review.later_runs,
            over_bills=review.over_bills,
            over_usd=review.over_usd,
        )
        AuditRepo(session).record(
            workspace.id,
            user_id,
            "review_settings",
            connection.id,
            first_sync=review.first_sync,
            later_runs=review.later_runs,
            over_bills=review.over_bills,
            over_usd=None if review.over_usd is None else str(review.over_usd),
        )
