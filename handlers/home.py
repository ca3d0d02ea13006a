"""App Home: the dashboard, published each time a user opens the Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from handlers.deps import Deps, team_of
from handlers.errors import reported
from handlers.views.home import home_view
from sync.api import ServiceError


def register(app: AsyncApp, deps: Deps) -> None:
    async def publish_home(event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
        if event.get("tab") != "home":
            return  # the Messages tab: nothing to publish
        team = team_of(context)
        settings = await deps.service.ensure_workspace(team)
        try:
            statuses = await deps.service.statuses(team)
        except ServiceError:
            statuses = []
        await client.views_publish(user_id=str(event.get("user")), view=home_view(statuses, settings))

    app.event("app_home_opened")(reported(publish_home))
