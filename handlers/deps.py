"""What every listener needs: the domain service, the admin check, and a way to drop a workspace's install."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

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


def user_of(body: dict[str, Any]) -> str:
    """The Slack user who clicked or submitted ("" when the payload names none)."""
    return str((body.get("user") or {}).get("id") or "")


def number_of(value: Any) -> int | None:
    """A button value or metadata field that should be a run, review or page number; None when it is not one."""
    text = str(value or "")
    return int(text) if text.isdigit() else None


# --- which connection a button or modal is about -------------------------------------------------------------
# A button's value and a modal's private_metadata carry the connection's id; it is only a claim: the service looks it
# up among the signed workspace's own connections and refuses another workspace's.

SCOPED_VALUE = re.compile(r"^c(\d{1,18})\|(.*)$", re.DOTALL)
METADATA_KEY = "connection_id"


def scoped(value: str, connection_id: int | None) -> str:
    """A button value that also says which connection it acts on ("c12|<value>"); the value alone without one."""
    return f"c{connection_id}|{value}" if connection_id is not None else value


def unscoped(value: str) -> tuple[int | None, str]:
    """(the connection id, the value) of a button value made by `scoped` (None: it names no connection)."""
    found = SCOPED_VALUE.match(value)
    return (int(found.group(1)), found.group(2)) if found else (None, value)


def metadata_of(view: dict[str, Any] | None) -> dict[str, Any]:
    """A modal's private_metadata as the JSON object the app wrote there ({} when it is missing or not one: it came
    back from Slack, so it is only a claim)."""
    try:
        metadata = json.loads((view or {}).get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return metadata if isinstance(metadata, dict) else {}


def with_connection(view: dict[str, Any], connection_id: int | None) -> dict[str, Any]:
    """The view, its private_metadata (a JSON object) also carrying the connection it is about."""
    if connection_id is None:
        return view
    return {**view, "private_metadata": json.dumps({**metadata_of(view), METADATA_KEY: connection_id})}


def connection_in(view: dict[str, Any] | None) -> int | None:
    """The connection a modal's private_metadata carries (None: none)."""
    found = metadata_of(view).get(METADATA_KEY)
    return found if isinstance(found, int) and not isinstance(found, bool) else None


def team_in(context: AsyncBoltContext, body: dict[str, Any]) -> TeamRef:
    """The signed workspace, about the connection the modal the request came from carries (if any)."""
    team = team_of(context)
    connection_id = connection_in(body.get("view"))
    return team.on(connection_id) if connection_id is not None else team
