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
from handlers.runs import run_details_builder
from handlers.views.review import preview_message
from handlers.views.runs import history_message
from sync.api import RunTrigger, ServiceError, TeamRef

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

    subcommand: Subcommand

    async def reply(self, message: blocks.Message) -> None:
        await self.respond(response_type="ephemeral", **message.as_kwargs())

    async def ensure_workspace(self) -> None:
        await self.deps.service.ensure_workspace(self.team, self.team_domain)

    async def modal(self, title: str, build: flows.ViewBuilder) -> None:
        """Open the loading view at once (the trigger_id lasts 3 s), then check the admin, then the real view."""
        await flows.show_modal(
            self.deps,
            self.client,
            trigger_id=self.trigger_id,
            team=self.team,
            user_id=self.user_id,
            title=title,
            action=self.subcommand.action,
            build=build,
            admin_only=self.subcommand.admin_only,
            prepare=self.ensure_workspace,
        )


def suggest(word: str) -> str | None:
    """The closest known subcommand to a misspelt one (difflib), if any is close enough."""
    matches = difflib.get_close_matches(word.lower(), list(blocks.SUBCOMMANDS), n=1, cutoff=0.5)
    return matches[0] if matches else None


# --- subcommands (after the ack) ---------------------------------------------------------------------------


async def open_connect(call: CommandCall) -> None:
    await call.modal("Connect", flows.connect_builder(call.deps, call.team, call.user_id))


async def open_vendors(call: CommandCall) -> None:
    await call.modal("Suppliers", flows.vendors_builder(call.deps, call.team))


async def open_mapping(call: CommandCall) -> None:
    focus = call.args[0] if call.args else None
    await call.modal("Map accounts", flows.mapping_builder(call.deps, call.team, focus))


async def open_settings(call: CommandCall) -> None:
    await call.modal("Settings", flows.settings_builder(call.deps, call.team))


async def open_disconnect(call: CommandCall) -> None:
    await call.modal("Disconnect", flows.disconnect_builder(call.deps, call.team))


async def sync_now(call: CommandCall) -> None:
    if call.args and call.args[0].lower() == "preview":
        await call.reply(preview_message(await call.deps.service.sync_preview(call.team)))
        return
    request = await call.deps.service.request_sync(call.team, call.user_id, RunTrigger.MANUAL, call.channel_id)
    await call.reply(blocks.sync_queued_message(request))


async def reconcile(call: CommandCall) -> None:
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


async def open_run(call: CommandCall) -> None:
    """`/qbo run N`: the run's invoices by outcome, in a modal (which says how to ask when N is missing)."""
    run_id = int(call.args[0].lstrip("#")) if call.args and call.args[0].lstrip("#").isdigit() else None
    await call.modal("Sync details", run_details_builder(call.deps, call.team, run_id))


async def show_history(call: CommandCall) -> None:
    await call.reply(history_message(await call.deps.service.run_history(call.team)))


async def show_status(call: CommandCall) -> None:
    await call.reply(blocks.status_message(await call.deps.service.status(call.team)))


@dataclass(frozen=True)
class Subcommand:
    """One `/qbo` subcommand and who may use it: the one place permissions are declared."""

    run: Callable[[CommandCall], Awaitable[None]]
    admin_only: bool
    action: str  # what a refused person tried to do, for the refusal ("start a sync")
    opens_modal: bool = False  # opens a loading view with the trigger_id first, and checks the admin after it


SUBCOMMANDS: dict[str, Subcommand] = {
    "connect": Subcommand(open_connect, True, "connect QuickBooks and Ontop", opens_modal=True),
    "vendors": Subcommand(open_vendors, True, "create or link suppliers", opens_modal=True),
    "map": Subcommand(open_mapping, True, "change the account mapping", opens_modal=True),
    "sync": Subcommand(sync_now, True, "start or preview a sync"),
    "reconcile": Subcommand(reconcile, True, "reconcile QuickBooks with Ontop"),
    "settings": Subcommand(open_settings, True, "change the settings", opens_modal=True),
    "disconnect": Subcommand(open_disconnect, True, "disconnect QuickBooks", opens_modal=True),
    "status": Subcommand(show_status, False, "see the status"),
    "run": Subcommand(open_run, True, "see a sync's invoices", opens_modal=True),
    "history": Subcommand(show_history, True, "see the latest syncs"),
}
ADMIN_ONLY = tuple(name for name, subcommand in SUBCOMMANDS.items() if subcommand.admin_only)


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
            await ack(response_type="ephemeral", **blocks.help_message(admin_only=ADMIN_ONLY).as_kwargs())
            return
        subcommand = SUBCOMMANDS.get(name)
        if subcommand is None:
            message = blocks.help_message(unknown=words[0], suggestion=suggest(name), admin_only=ADMIN_ONLY)
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
            subcommand=subcommand,
        )
        try:
            if not subcommand.opens_modal:
                await call.ensure_workspace()
                if subcommand.admin_only and not await deps.admins.is_admin(client, team, user_id):
                    await call.reply(blocks.refusal_message(subcommand.action))
                    return
            await subcommand.run(call)
        except ServiceError as error:
            await call.reply(blocks.error_message(error.message))

    app.command(CommandIds.COMMAND.value)(reported(qbo_command))
