"""What every listener needs: the domain service, the admin check, and a way to drop a workspace's install."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from sync.api import BotService, QboLinks, ServiceError, TeamRef

log = structlog.get_logger(__name__)


class AdminChecker:
    """The one admin check: a Slack admin or owner (users.info), or a person on the app's allow-list.

    Asked afresh for every admin action (after the ack), so a demotion takes effect at once.
    """

    def __init__(self, service: BotService) -> None:
        self._service = service

    async def is_admin(self, client: AsyncWebClient, team: TeamRef, user_id: str) -> bool:
        try:
            settings = await self._service.workspace_settings(team)
        except ServiceError:
            settings = None
        if settings is not None and user_id in settings.admin_user_ids:
            return True
        return await self._is_slack_admin(client, team, user_id)

    async def _is_slack_admin(self, client: AsyncWebClient, team: TeamRef, user_id: str) -> bool:
        try:
            response = await client.users_info(user=user_id)
        except SlackApiError as error:
            log.warning("users_info_failed", team_id=team.team_id, user_id=user_id, error=error.response.get("error"))
            return False
        user = response.get("user") or {}
        return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))


@dataclass
class Deps:
    """Built once per app by bot/app.py and handed to every `register` function."""

    service: BotService
    admins: AdminChecker
    # Called on app_uninstalled / tokens_revoked after the service forgot the workspace (drops the install).
    forget_installation: Callable[[TeamRef], Awaitable[None]] | None = None
    # Addresses in the QuickBooks web app (bills in a run's drill-down and its CSV); None: no links shown.
    links: QboLinks | None = None


def team_of(context: AsyncBoltContext) -> TeamRef:
    """The workspace a request came from: always from the signed request itself, never from values in it."""
    team_id = context.team_id or context.enterprise_id or ""
    return TeamRef(team_id=team_id, enterprise_id=context.enterprise_id)
