"""The `/qbo` router: help answers in the ack; everything else acks at once and works after."""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers import blocks, flows
from handlers.deps import Deps, team_of
from handlers.errors import reported
from handlers.ids import CommandIds
from sync.api import ServiceError, TeamRef

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CommandCall:
    """One `/qbo <subcommand> [args]` after the ack."""

    deps: Deps
    client: AsyncWebClient
    respond: AsyncRespond
    team: TeamRef
    user_id: str
    channel_id: str | None
    trigger_id: str
    team_domain: str
    args: list[str]

    async def reply(self, message: blocks.Message) -> None:
        await self.respond(response_type="ephemeral", **message.as_kwargs())

    async def ensure_workspace(self) -> None:
        await self.deps.service.ensure_workspace(self.team, self.team_domain)

    async def is_admin(self) -> bool:
        return await self.deps.admins.is_admin(self.client, self.team, self.user_id)


def suggest(word: str) -> str | None:
    """The closest known subcommand to a misspelt one (difflib), if any is close enough."""
    matches = difflib.get_close_matches(word.lower(), list(blocks.SUBCOMMANDS), n=1, cutoff=0.5)
    return matches[0] if matches else None


# --- subcommands (after the ack) ---------------------------------------------------------------------------


async def open_connect(call: CommandCall) -> None:
    build = flows.connect_builder(call.deps, call.team, call.user_id)
    await _modal(call, "Connect", "connect QuickBooks and Ontop", build)


async def open_vendors(call: CommandCall) -> None:
    await _modal(call, "Suppliers", "create or link suppliers", flows.vendors_builder(call.deps, call.team))


async def open_mapping(call: CommandCall) -> None:
    focus = call.args[0] if call.args else None
    await _modal(call, "Map accounts", "change the account mapping", flows.mapping_builder(call.deps, call.team, focus))


async def open_settings(call: CommandCall) -> None:
    await _modal(call, "Settings", "change the settings", flows.settings_builder(call.deps, call.team))


async def open_disconnect(call: CommandCall) -> None:
    await _modal(call, "Disconnect", "disconnect QuickBooks", flows.disconnect_builder(call.deps, call.team))


async def _modal(call: CommandCall, title: str, action: str, build: flows.ViewBuilder) -> None:
    await flows.show_modal(
        call.deps,
        call.client,
        trigger_id=call.trigger_id,
        team=call.team,
        user_id=call.user_id,
        title=title,
        action=action,
        build=build,
        prepare=call.ensure_workspace,
    )


async def sync_now(call: CommandCall) -> None:
    if call.args and call.args[0].lower() == "preview":
        await call.reply(blocks.sync_preview_message(await call.deps.service.sync_preview(call.team)))
        return
    if not await call.is_admin():
        await call.reply(blocks.refusal_message("start a sync"))
        return
    request = await call.deps.service.request_sync(call.team, call.user_id, "manual", call.channel_id)
    await call.reply(blocks.sync_queued_message(request))


async def reconcile(call: CommandCall) -> None:
    if not await call.is_admin():
        await call.reply(blocks.refusal_message("reconcile QuickBooks with Ontop"))
        return
    days = [parse_day(word) for word in call.args[:2]]
    if any(day is None for day in days):
        await call.reply(blocks.error_message("Give the period as days, like `/qbo reconcile 2026-01-01 2026-02-01`."))
        return
    since = days[0] if days else None
    until = days[1] if len(days) > 1 else None
    await call.reply(blocks.reconcile_message(await call.deps.service.reconcile(call.team, since, until)))


def parse_day(word: str) -> date | None:
    try:
        return date.fromisoformat(word)
    except ValueError:
        return None


async def show_status(call: CommandCall) -> None:
    await call.reply(blocks.status_message(await call.deps.service.status(call.team)))


SUBCOMMANDS: dict[str, Callable[[CommandCall], Awaitable[None]]] = {
    "connect": open_connect,
    "vendors": open_vendors,
    "map": open_mapping,
    "sync": sync_now,
    "status": show_status,
    "reconcile": reconcile,
    "settings": open_settings,
    "disconnect": open_disconnect,
}


MODAL_SUBCOMMANDS = (open_connect, open_vendors, open_mapping, open_settings, open_disconnect)


def register(app: AsyncApp, deps: Deps) -> None:
    async def qbo_command(
        ack: AsyncAck,
        command: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:
        words = str(command.get("text") or "").split()
        name = words[0].lower() if words else "help"
        if name == "help":
            await ack(response_type="ephemeral", **blocks.help_message().as_kwargs())
            return
        handler = SUBCOMMANDS.get(name)
        if handler is None:
            message = blocks.help_message(unknown=words[0], suggestion=suggest(name))
            await ack(response_type="ephemeral", **message.as_kwargs())
            return
        await ack()  # Slack shows nothing for an empty ack; the answer follows through response_url or a modal
        team = team_of(context)
        user_id = str(command.get("user_id"))
        structlog.contextvars.bind_contextvars(team_id=team.team_id, user_id=user_id, subcommand=name)
        call = CommandCall(
            deps=deps,
            client=client,
            respond=respond,
            team=team,
            user_id=user_id,
            channel_id=command.get("channel_id"),
            trigger_id=str(command.get("trigger_id")),
            team_domain=str(command.get("team_domain") or ""),
            args=words[1:],
        )
        try:
            if handler not in MODAL_SUBCOMMANDS:  # modals open their loading view first (trigger_id lasts 3 s)
                await call.ensure_workspace()
            await handler(call)
        except ServiceError as error:
            await call.reply(blocks.error_message(error.message))

    app.command(CommandIds.COMMAND.value)(reported(qbo_command))
