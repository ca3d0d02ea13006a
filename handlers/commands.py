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
from handlers.actions import BUTTONS, press
from handlers.deps import Deps, team_of, user_of
from handlers.errors import reported
from handlers.ids import ChooseIds, CommandIds
from handlers.runs import run_details_builder
from handlers.views.connections import choose_connection_message, continuation_of
from handlers.views.review import preview_message
from handlers.views.runs import history_message
from sync.api import ConnectionChoiceNeeded, RunTrigger, ServiceError, TeamRef

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
    name: str = ""  # the subcommand as typed
    session: flows.ModalSession | None = None  # the modal a choice of company was made in, to continue there

    async def reply(self, message: blocks.Message) -> None:
        await self.respond(response_type="ephemeral", **message.as_kwargs())

    async def ensure_workspace(self) -> None:
        await self.deps.service.ensure_workspace(self.team.workspace, self.team_domain)

    def then(self) -> dict[str, Any]:
        """What a choice of company continues with: this subcommand and its own arguments."""
        return {"command": self.name, "args": self.args}

    async def modal(
        self,
        title: str,
        build: flows.ViewBuilder | None = None,
        *,
        make: Callable[[TeamRef], flows.ViewBuilder] | None = None,
        prefer_unfinished: bool = False,
    ) -> None:
        """Open the loading view at once (the trigger_id lasts 3 s), then check the admin, then the real view (`make`:
        for the company the command names, or the only one; asked for in the modal when there are several)."""
        await flows.show_modal(
            self.deps,
            self.client,
            trigger_id=self.trigger_id,
            team=self.team,
            user_id=self.user_id,
            title=title,
            action=self.subcommand.action,
            build=build,
            make=make,
            then=self.then(),
            session=self.session,
            prefer_unfinished=prefer_unfinished,
            admin_only=self.subcommand.admin_only,
            prepare=self.ensure_workspace,
        )

    async def on_connection(self) -> TeamRef | None:
        """The request about the company it names (or the only one); None when the person is asked to choose."""
        try:
            return await self.deps.service.which_connection(self.team)
        except ConnectionChoiceNeeded as choice:
            await self.reply(choose_connection_message(choice.message, choice.choices, self.then()))
            return None


def suggest(word: str) -> str | None:
    """The closest known subcommand to a misspelt one (difflib), if any is close enough."""
    matches = difflib.get_close_matches(word.lower(), list(blocks.SUBCOMMANDS), n=1, cutoff=0.5)
    return matches[0] if matches else None


# --- subcommands (after the ack) ---------------------------------------------------------------------------


async def open_connect(call: CommandCall) -> None:
    """`/qbo connect`: finishes the unfinished connection (or the only one); `/qbo connect new` adds a company;
    `/qbo connect NAME` reconnects that one."""
    deps, user_id = call.deps, call.user_id
    if [word.lower() for word in call.args] == [NEW]:
        await call.modal("Connect", flows.connect_builder(deps, call.team.workspace, user_id, new=True))
        return
    await call.modal("Connect", make=lambda team: flows.connect_builder(deps, team, user_id), prefer_unfinished=True)


async def open_vendors(call: CommandCall) -> None:
    await call.modal("Suppliers", make=lambda team: flows.vendors_builder(call.deps, team))


async def open_mapping(call: CommandCall) -> None:
    await call.modal("Map accounts", make=lambda team: flows.mapping_builder(call.deps, team))


async def open_settings(call: CommandCall) -> None:
    await call.modal("Settings", make=lambda team: flows.settings_builder(call.deps, team))


async def open_tracking(call: CommandCall) -> None:
    await call.modal("Classes and locations", make=lambda team: flows.tracking_builder(call.deps, team))


async def open_disconnect(call: CommandCall) -> None:
    await call.modal("Disconnect", make=lambda team: flows.disconnect_builder(call.deps, team))


async def sync_now(call: CommandCall) -> None:
    team = await call.on_connection()
    if team is None:
        return
    if call.args and call.args[0].lower() == "preview":
        await call.reply(preview_message(await call.deps.service.sync_preview(team)))
        return
    request = await call.deps.service.request_sync(team, call.user_id, RunTrigger.MANUAL, call.channel_id)
    await call.reply(blocks.sync_queued_message(request))


async def reconcile(call: CommandCall) -> None:
    days = [parse_day(word) for word in call.args[:2]]
    if any(day is None for day in days):
        await call.reply(blocks.error_message("Give the period as days, like `/qbo reconcile 2026-01-01 2026-02-01`."))
        return
    team = await call.on_connection()
    if team is None:
        return
    since = days[0] if days else None
    until = days[1] if len(days) > 1 else None
    await call.reply(blocks.reconcile_message(await call.deps.service.reconcile(team, since, until)))


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
    team = await call.on_connection()
    if team is not None:
        await call.reply(history_message(await call.deps.service.run_history(team)))


async def show_status(call: CommandCall) -> None:
    team = await call.on_connection()
    if team is not None:
        await call.reply(blocks.status_message(await call.deps.service.status(team)))


def _none(word: str) -> bool:
    return False


@dataclass(frozen=True)
class Subcommand:
    """One `/qbo` subcommand and who may use it: the one place permissions are declared."""

    run: Callable[[CommandCall], Awaitable[None]]
    admin_only: bool
    action: str  # what a refused person tried to do, for the refusal ("start a sync")
    opens_modal: bool = False  # opens a loading view with the trigger_id first, and checks the admin after it
    own_words: Callable[[str], bool] | None = None  # its own arguments; any other word names a company (None: none)


NEW = "new"  # `/qbo connect new`: connect another company


def is_day(word: str) -> bool:
    return parse_day(word) is not None


def split_connection(subcommand: Subcommand, args: list[str]) -> tuple[str | None, list[str]]:
    """(the company's short name, the subcommand's own arguments): the first word that is not one of its own."""
    if subcommand.own_words is None:
        return None, args
    for index, word in enumerate(args):
        if not subcommand.own_words(word):
            return word, args[:index] + args[index + 1 :]
    return None, args


SUBCOMMANDS: dict[str, Subcommand] = {
    "connect": Subcommand(
        open_connect, True, "connect QuickBooks and Ontop", opens_modal=True, own_words=lambda w: w.lower() == NEW
    ),
    "vendors": Subcommand(open_vendors, True, "create or link suppliers", opens_modal=True, own_words=_none),
    "map": Subcommand(open_mapping, True, "change the account mapping", opens_modal=True, own_words=_none),
    "sync": Subcommand(sync_now, True, "start or preview a sync", own_words=lambda w: w.lower() == "preview"),
    "reconcile": Subcommand(reconcile, True, "reconcile QuickBooks with Ontop", own_words=is_day),
    "settings": Subcommand(open_settings, True, "change the settings", opens_modal=True, own_words=_none),
    "tracking": Subcommand(open_tracking, True, "change classes and locations", opens_modal=True, own_words=_none),
    "disconnect": Subcommand(open_disconnect, True, "disconnect QuickBooks", opens_modal=True, own_words=_none),
    "status": Subcommand(show_status, False, "see the status", own_words=_none),
    "run": Subcommand(open_run, True, "see a sync's invoices", opens_modal=True),  # a run knows its company
    "history": Subcommand(show_history, True, "see the latest syncs", own_words=_none),
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
        connection, args = split_connection(subcommand, words[1:])
        call = CommandCall(
            deps=deps,
            client=client,
            respond=respond,
            team=team.named(connection),
            user_id=user_id,
            channel_id=command.get("channel_id"),
            trigger_id=str(command.get("trigger_id")),
            team_domain=str(command.get("team_domain") or ""),
            args=args,
            subcommand=subcommand,
            name=name,
        )
        await run_subcommand(call)

    async def continue_with_connection(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:
        """A company chosen in the select: what the person was doing continues, about that company."""
        await ack()
        chosen = str((action.get("selected_option") or {}).get("value") or "")
        then = continuation_of(body, action)
        view = body.get("view")
        session = flows.ModalSession(client, str(view.get("id")), view.get("hash")) if view else None
        team = team_of(context).on(int(chosen)) if chosen.isdigit() else team_of(context)
        user_id = user_of(body)
        structlog.contextvars.bind_contextvars(team_id=team.team_id, user_id=user_id)
        if session is None:
            # The question is answered: replace it, so choosing again cannot run the command a second time.
            label = str(((action.get("selected_option") or {}).get("text") or {}).get("text") or "")
            await respond(replace_original=True, text=f"Going on with {blocks.escape(label)}." if label else "…")
        button = str(then.get("button") or "")
        if button in BUTTONS:
            await press(deps, client, body, team, user_id, button, str(then.get("value") or ""), session=session)
            return
        name = str(then.get("command") or "")
        subcommand = SUBCOMMANDS.get(name)
        if subcommand is None:
            return
        args = then.get("args")
        call = CommandCall(
            deps=deps,
            client=client,
            respond=respond,
            team=team,
            user_id=user_id,
            channel_id=(body.get("channel") or {}).get("id"),
            trigger_id=str(body.get("trigger_id")),
            team_domain=str((body.get("team") or {}).get("domain") or ""),
            args=[str(arg) for arg in args] if isinstance(args, list) else [],
            subcommand=subcommand,
            name=name,
            session=session,
        )
        await run_subcommand(call)

    app.command(CommandIds.COMMAND.value)(reported(qbo_command))
    app.action(ChooseIds.SELECT.value)(reported(continue_with_connection))


async def run_subcommand(call: CommandCall) -> None:
    """Check who may (modals check after their loading view), then run it; a ServiceError is said to the person."""
    subcommand = call.subcommand
    try:
        if not subcommand.opens_modal:
            await call.ensure_workspace()
            if subcommand.admin_only and not await call.deps.admins.is_admin(call.client, call.team, call.user_id):
                await call.reply(blocks.refusal_message(subcommand.action))
                return
        await subcommand.run(call)
    except ServiceError as error:
        await call.reply(blocks.error_message(error.message))
