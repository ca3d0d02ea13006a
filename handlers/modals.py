"""Modal submissions and the buttons inside modals.

Checks that need no I/O answer in the ack (`response_action="errors"`, inline under the field). Anything slower
acks with a "Saving…" view (`response_action="update"`), then calls the service and `views.update`s the result,
or the form again with the service's message under the field it concerns. Whatever fails after that ack, the
"Saving…" view is replaced (`Submission.guarded`): the service's message, or an error reference that is logged.
"""

from __future__ import annotations

import contextlib
import re
from contextlib import AbstractAsyncContextManager
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers import blocks, flows
from handlers.deps import Deps, team_in, user_of, with_connection
from handlers.errors import reported
from handlers.ids import ConnectIds, DisconnectIds, MappingIds, MiscIds, SettingsIds, TrackingIds, VendorIds
from handlers.notify import announce
from handlers.views.books import read_books
from handlers.views.common import flatten_state, loading_view, result_view
from handlers.views.connect import ConnectProgress, connect_done_text
from handlers.views.disconnect import disconnected_text
from handlers.views.mapping import error_block_for, mapping_saved_view, mapping_view, read_mapping, read_tax_codes
from handlers.views.settings import read_settings, settings_saved_text, settings_view
from handlers.views.tracking import TITLE as TRACKING_TITLE
from handlers.views.tracking import error_block_for as tracking_error_block
from handlers.views.tracking import read_tracking, tracking_saved_view, tracking_view
from handlers.views.vendors import vendors_result_lines, vendors_view
from sync.api import ConnectionChoiceNeeded, ServiceError, TeamRef

log = structlog.get_logger(__name__)


async def channel_problem(client: AsyncWebClient, channel_id: str | None) -> str | None:
    """Why the bot could not post run summaries in the chosen channel, checked before saving it (None: it can)."""
    if not channel_id:
        return None
    try:
        found = await client.conversations_info(channel=channel_id)
    except SlackApiError as error:
        if error.response.get("error") == "channel_not_found":  # private, and the bot is not in it
            return "I can't see that channel: it is private. Run /invite @QBO Sync there first, then save again."
        raise
    channel = found.get("channel") or {}
    if channel.get("is_archived"):
        return "That channel is archived: pick another one."
    if channel.get("is_private") and not channel.get("is_member"):
        return "That channel is private: run /invite @QBO Sync there first, then save again."
    return None


class Submission:
    """A submitted modal after its "working" ack: the view can now only change through views.update."""

    def __init__(
        self, deps: Deps, client: AsyncWebClient, body: dict[str, Any], context: AsyncBoltContext, title: str
    ) -> None:
        self.deps = deps
        self.client = client
        self.title = title
        self.team: TeamRef = team_in(context, body)
        self.user_id = user_of(body)
        self.view_id = str((body.get("view") or {}).get("id"))
        structlog.contextvars.bind_contextvars(team_id=self.team.team_id, user_id=self.user_id)

    async def show(self, view: dict[str, Any]) -> None:
        await self.client.views_update(view_id=self.view_id, view=with_connection(view, self.team.connection_id))

    def guarded(self) -> AbstractAsyncContextManager[None]:
        """The work after the ack: any failure replaces the "Saving…" view (see flows.guarded)."""
        return flows.guarded(self.show, self.title)

    async def allowed(self, action: str) -> bool:
        """Re-checked on submit: a crafted submission must not bypass the check done when the modal opened."""
        if await self.deps.admins.is_admin(self.client, self.team, self.user_id):
            return True
        await self.show(flows.refusal_view(self.title, action))
        return False


def register(app: AsyncApp, deps: Deps) -> None:
    async def check_connection(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        """*Check*: the browser pages did the connecting; show what is connected now (fresh links if not all)."""
        await ack(response_action="update", view=loading_view("Connect", "Checking what is connected…"))
        submission = Submission(deps, client, body, context, "Connect")
        async with submission.guarded():
            if not await submission.allowed("connect QuickBooks and Ontop"):
                return
            # A `/qbo connect new` modal carries no company: the one it made is the one waiting for its Ontop login,
            # or, once that is done too, the newest (none yet, with several others: nothing done to show).
            with contextlib.suppress(ConnectionChoiceNeeded):
                submission.team = await deps.service.which_connection(
                    submission.team, prefer_unfinished=True, prefer_newest=True
                )
            progress = (
                await flows.connect_progress(deps, submission.team)
                if submission.team.connection_id is not None
                else ConnectProgress()
            )
            if progress.company_name and progress.ontop_connected:
                await submission.show(result_view("Connect", connect_done_text(progress.company_name)))
                return
            missing = "QuickBooks" if not progress.company_name else "Ontop"
            note = (
                f":hourglass_flowing_sand: {missing} is not connected yet: "
                "press its button, finish in the browser, then *Check*."
            )
            await submission.show(await flows.connect_builder(deps, submission.team, submission.user_id, note)())

    async def save_mapping(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        state = flatten_state(view)
        mapping, problems = read_mapping(state)
        books_choice, books_problems = read_books(state)
        if problems or books_problems:
            await ack(response_action="errors", errors={**problems, **books_problems})
            return
        await ack(response_action="update", view=loading_view("Map accounts", "Saving the mapping…"))
        submission = Submission(deps, client, body, context, "Map accounts")
        async with submission.guarded():
            if not await submission.allowed("change the account mapping"):
                return
            try:
                # Books first: the first sync that saving the mapping queues then already pays from the chosen
                # account.
                books = (
                    await deps.service.save_books(submission.team, submission.user_id, books_choice)
                    if books_choice is not None
                    else None
                )
                rows = await deps.service.save_mappings(
                    submission.team, submission.user_id, mapping, read_tax_codes(state)
                )
            except ServiceError as error:
                if error.field is None:
                    raise  # the guard shows its message
                rows = await deps.service.mapping_rows(submission.team)
                current_books = await deps.service.books_view(submission.team)
                errors = {error_block_for(error.field): error.message}
                await submission.show(mapping_view(rows, current_books, errors=errors))
                return
            await submission.show(mapping_saved_view(rows, books))

    async def save_tracking(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        choice = read_tracking(flatten_state(view))
        await ack(response_action="update", view=loading_view(TRACKING_TITLE, "Saving…"))
        submission = Submission(deps, client, body, context, TRACKING_TITLE)
        async with submission.guarded():
            if not await submission.allowed("change classes and locations"):
                return
            try:
                saved = await deps.service.save_tracking(submission.team, submission.user_id, choice)
            except ServiceError as error:
                if error.field is None:
                    raise  # the guard shows its message
                current = await deps.service.tracking_view(submission.team)
                await submission.show(tracking_view(current, errors={tracking_error_block(error.field): error.message}))
                return
            await submission.show(tracking_saved_view(saved))

    async def save_settings(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        form, problems = read_settings(flatten_state(view))
        if form is None:
            await ack(response_action="errors", errors=problems)
            return
        await ack(response_action="update", view=loading_view("Settings", "Saving…"))
        submission = Submission(deps, client, body, context, "Settings")
        async with submission.guarded():
            if not await submission.allowed("change the settings"):
                return
            problem = await channel_problem(client, form.finance_channel_id)
            if problem is not None:
                current = await deps.service.workspace_settings(submission.team)
                await submission.show(settings_view(current, errors={SettingsIds.CHANNEL_BLOCK: problem}))
                return
            try:
                saved = await deps.service.update_settings(
                    submission.team,
                    submission.user_id,
                    finance_channel_id=form.finance_channel_id,
                    sync_hour=form.sync_hour,
                    timezone=form.timezone,
                    admin_user_ids=form.admin_user_ids,
                    auto_create_vendors=form.auto_create_vendors,
                    review=form.review,
                    connection_name=form.connection_name,
                )
            except ServiceError as error:
                if error.field != "connection_name":
                    raise
                current = await deps.service.workspace_settings(submission.team)
                await submission.show(settings_view(current, errors={SettingsIds.NAME_BLOCK: error.message}))
                return
            await submission.show(result_view("Settings", f":white_check_mark: {settings_saved_text(saved)}"))

    async def create_vendors(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack(response_action="update", view=loading_view("Suppliers", "Creating and linking suppliers…"))
        submission = Submission(deps, client, body, context, "Suppliers")
        async with submission.guarded():
            if not await submission.allowed("create or link suppliers"):
                return
            result = await deps.service.create_missing_vendors(submission.team, submission.user_id)
            headline, details = vendors_result_lines(result)
            icon = ":white_check_mark:" if not result.failed else ":warning:"
            await submission.show(result_view("Suppliers", f"{icon} {headline}", details=details))

    async def disconnect(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack(response_action="update", view=loading_view("Disconnect", "Disconnecting…"))
        submission = Submission(deps, client, body, context, "Disconnect")
        text = ""
        async with submission.guarded():
            if not await submission.allowed("disconnect QuickBooks"):
                return
            gone = await deps.service.disconnect(submission.team, submission.user_id)
            text = disconnected_text(gone.company_name or gone.name)
            await submission.show(result_view("Disconnect", f":white_check_mark: {text}"))
        if text:  # after the guard: a failed announcement must not turn the done deed into an error view
            settings = await deps.service.workspace_settings(submission.team)
            message = blocks.info_message(f":electric_plug: {text} (by <@{submission.user_id}>)")
            await announce(client, settings, message, submission.user_id)

    async def turn_vendor_page(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        team = team_in(context, body)
        view = body.get("view") or {}
        try:
            page = int(action.get("value") or 0)
        except ValueError:
            page = 0
        session = flows.ModalSession(client, str(view.get("id")), view.get("hash"), team.connection_id)
        async with flows.guarded(session.show, "Suppliers"):
            await session.show(vendors_view(await deps.service.vendor_preview(team), page))

    async def acknowledge_link(ack: AsyncAck) -> None:
        await ack()  # a url button opens the link in the browser; Slack still sends block_actions

    async def ignore_loading_submit(ack: AsyncAck) -> None:
        await ack()

    app.view(ConnectIds.CALLBACK.value)(reported(check_connection))
    app.view(MappingIds.CALLBACK.value)(reported(save_mapping))
    app.view(SettingsIds.CALLBACK.value)(reported(save_settings))
    app.view(TrackingIds.CALLBACK.value)(reported(save_tracking))
    app.view(VendorIds.CALLBACK.value)(reported(create_vendors))
    app.view(DisconnectIds.CALLBACK.value)(reported(disconnect))
    app.view(re.compile(f"^({MiscIds.LOADING.value}|{MiscIds.RESULT.value})$"))(ignore_loading_submit)
    app.action(re.compile(f"^{VendorIds.PAGE.value}-"))(reported(turn_vendor_page))
    app.action(ConnectIds.QBO_BUTTON.value)(acknowledge_link)
    app.action(ConnectIds.ONTOP_BUTTON.value)(acknowledge_link)
