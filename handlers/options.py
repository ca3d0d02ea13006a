"""External select options from the service's caches: accounts (mapping modal), classes and locations (tracking)."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext

from handlers.deps import Deps, team_of
from handlers.errors import reported
from handlers.ids import MappingIds, TrackingIds
from handlers.views.mapping import account_options
from sync.api import ServiceError, TrackingKind

log = structlog.get_logger(__name__)

# Options are answered in the ack itself (3 s): give up early with an empty list rather than time out.
OPTIONS_BUDGET_SECONDS = 2.0


def register(app: AsyncApp, deps: Deps) -> None:
    async def suggest_accounts(ack: AsyncAck, payload: dict[str, Any], context: AsyncBoltContext) -> None:
        team = team_of(context)
        search = str(payload.get("value") or "")
        try:
            accounts = await asyncio.wait_for(deps.service.account_options(team, search), OPTIONS_BUDGET_SECONDS)
        except TimeoutError:
            log.warning("account_options_slow", team_id=team.team_id)
            accounts = []
        except ServiceError as error:  # e.g. disconnected while the modal was open: an empty list, not an error
            log.info("account_options_unavailable", team_id=team.team_id, reason=error.message)
            accounts = []
        await ack(options=account_options(accounts))

    app.options(MappingIds.ACCOUNT.value)(reported(suggest_accounts))

    async def suggest_tracking(ack: AsyncAck, payload: dict[str, Any], context: AsyncBoltContext) -> None:
        team = team_of(context)
        kind: TrackingKind = "class" if payload.get("action_id") == TrackingIds.CLASS else "location"
        search = str(payload.get("value") or "")
        try:
            found = await asyncio.wait_for(deps.service.tracking_options(team, kind, search), OPTIONS_BUDGET_SECONDS)
        except TimeoutError:
            log.warning("tracking_options_slow", team_id=team.team_id)
            found = []
        except ServiceError as error:
            log.info("tracking_options_unavailable", team_id=team.team_id, reason=error.message)
            found = []
        await ack(options=account_options(found))

    for action_id in (TrackingIds.CLASS, TrackingIds.LOCATION):
        app.options(action_id.value)(reported(suggest_tracking))
