"""Uninstall and token revocation: the service forgets the workspace and the installation is deleted."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from handlers.deps import Deps, team_of
from handlers.errors import reported

log = structlog.get_logger(__name__)


def register(app: AsyncApp, deps: Deps) -> None:
    async def forget_workspace(context: AsyncBoltContext) -> None:
        team = team_of(context)
        log.info("workspace_uninstalled", team_id=team.team_id)
        await deps.service.forget_workspace(team)
        if deps.forget_installation is not None:
            await deps.forget_installation(team)

    async def app_uninstalled(context: AsyncBoltContext) -> None:
        await forget_workspace(context)

    async def tokens_revoked(event: dict[str, Any], context: AsyncBoltContext) -> None:
        # This app only holds a bot token; revoked user tokens (from a past user-scope install) change nothing.
        if (event.get("tokens") or {}).get("bot"):
            await forget_workspace(context)

    # Handed off like every listener (handlers/errors.py): Slack hears its 200 before the database work.
    app.event("app_uninstalled")(reported(app_uninstalled))
    app.event("tokens_revoked")(reported(tokens_revoked))
