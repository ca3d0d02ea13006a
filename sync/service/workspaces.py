"""A workspace and its settings: finance channel, daily hour and time zone, app admins, supplier creation, and the
approval gate of its connection."""

from __future__ import annotations

import dataclasses

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import transaction
from storage.records import ConnectionRecord, WorkspaceRecord
from storage.repos.audit import AuditRepo
from storage.repos.connections import ConnectionRepo
from storage.repos.workspaces import WorkspaceRepo
from sync import messages, scheduler
from sync.api import ReviewSettings, ServiceError, TeamRef, WorkspaceSettings
from sync.naming import is_valid_name
from sync.review import review_settings_of
from sync.service.base import ServiceContext, resolve_connection
from sync.service.reports import workspace_settings


async def _with_review(session: AsyncSession, team: TeamRef, workspace: WorkspaceRecord) -> WorkspaceSettings:
    """The settings of the connection the request is about (its own channel and schedule, else the workspace's) and
    its approval gate; the workspace's alone when it has no connection, or several and the request named none."""
    connection = await resolve_connection(session, workspace.id, team, ask=False)
    count = len(await ConnectionRepo(session).list_open(workspace.id))
    settings = workspace_settings(team, workspace, connection, count)
    return dataclasses.replace(settings, review=review_settings_of(connection)) if connection else settings


class Workspaces:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def which_connection(
        self, team: TeamRef, *, prefer_unfinished: bool = False, prefer_newest: bool = False
    ) -> TeamRef:
        return await self._context.which_connection(
            team, prefer_unfinished=prefer_unfinished, prefer_newest=prefer_newest
        )

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
        connection_name: str | None = None,
    ) -> WorkspaceSettings:
        if not 0 <= sync_hour <= 23:
            raise ServiceError(messages.SYNC_HOUR_INVALID, field="sync_hour")
        if not scheduler.is_time_zone(timezone):
            raise ServiceError(messages.time_zone_invalid(timezone), field="timezone")
        if review is not None and review.over_bills is not None and review.over_bills < 0:
            raise ServiceError(messages.REVIEW_THRESHOLD_INVALID, field="review_over_bills")
        if review is not None and review.over_usd is not None and review.over_usd < 0:
            raise ServiceError(messages.REVIEW_AMOUNT_INVALID, field="review_over_usd")
        if connection_name is not None and not is_valid_name(connection_name):
            raise ServiceError(messages.CONNECTION_NAME_INVALID, field="connection_name")
        async with transaction(self._context.sessions) as session:
            workspaces = WorkspaceRepo(session)
            workspace = await workspaces.get_or_create(team.team_id, team.enterprise_id)
            connections = ConnectionRepo(session)
            connection = await resolve_connection(session, workspace.id, team, ask=False)
            several = len(await connections.list_open(workspace.id)) > 1
            if connection is not None and several:
                # One company among several: its own channel and schedule; the workspace's stay for the others.
                await connections.save_schedule(
                    connection.id, finance_channel_id=finance_channel_id, sync_hour=sync_hour, timezone=timezone
                )
            else:
                # The only company (or none): the workspace's, which a company connected later starts from.
                if connection is not None:
                    await connections.save_schedule(
                        connection.id, finance_channel_id=None, sync_hour=None, timezone=None
                    )
                workspace = await workspaces.save_settings(
                    workspace.id,
                    finance_channel_id=finance_channel_id,
                    sync_hour=sync_hour,
                    timezone=timezone,
                    admin_user_ids=admin_user_ids,
                    auto_create_vendors=auto_create_vendors,
                )
            if several:
                workspace = await workspaces.save_settings(
                    workspace.id,
                    finance_channel_id=workspace.finance_channel_id,
                    sync_hour=workspace.sync_hour,
                    timezone=workspace.timezone,
                    admin_user_ids=admin_user_ids,
                    auto_create_vendors=auto_create_vendors,
                )
            if connection is not None and connection_name is not None and connection_name != connection.name:
                await self._rename(session, workspace, user_id, connection.id, connection_name)
            if review is not None:
                await self._save_review(session, workspace, user_id, review, connection)
            AuditRepo(session).record(
                workspace.id,
                user_id,
                "settings",
                connection.id if connection is not None else None,
                sync_hour=sync_hour,
                timezone=timezone,
            )
            return await _with_review(session, team.on(connection.id) if connection else team, workspace)

    @staticmethod
    async def _rename(
        session: AsyncSession, workspace: WorkspaceRecord, user_id: str, connection_id: int, name: str
    ) -> None:
        connections = ConnectionRepo(session)
        holder = await connections.get_open_by_name(workspace.id, name)
        if holder is not None and holder.id != connection_id:
            raise ServiceError(messages.connection_name_taken(name), field="connection_name")
        await connections.save_name(connection_id, name)
        AuditRepo(session).record(workspace.id, user_id, "rename_connection", connection_id, name=name)

    @staticmethod
    async def _save_review(
        session: AsyncSession,
        workspace: WorkspaceRecord,
        user_id: str,
        review: ReviewSettings,
        connection: ConnectionRecord | None,
    ) -> None:
        connections = ConnectionRepo(session)
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
