"""Finance-channel notifications: run progress and summaries, reauth alerts, announcements.

When the finance channel is gone, archived, private without the bot, or not set, the message goes to an admin's
DM instead and says why, so nobody silently misses a failed sync.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers import blocks, run_messages
from sync.api import BotService, QboConnected, RunSummary, TeamRef, WorkspaceSettings

log = structlog.get_logger(__name__)

# Errors meaning "this channel cannot take our message": fall back to a DM.
CHANNEL_UNAVAILABLE = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})
# Errors meaning "the progress message cannot be edited any more" (deleted, too old, channel gone): post anew.
MESSAGE_GONE = CHANNEL_UNAVAILABLE | {"message_not_found", "cant_update_message", "edit_window_closed"}

ClientFactory = Callable[[TeamRef], Awaitable[AsyncWebClient]]


@dataclass(frozen=True)
class MessageRef:
    """Where a notification landed, so progress and the result can update it."""

    team: TeamRef
    channel_id: str
    ts: str
    fell_back: bool = False


async def announce(
    client: AsyncWebClient,
    settings: WorkspaceSettings,
    message: blocks.Message,
    fallback_user_id: str | None,
    *,
    team: TeamRef | None = None,
) -> MessageRef | None:
    """Post to the finance channel, or to a DM (with a note saying why) when the channel cannot take it."""
    team = team or settings.team
    channel_id = settings.finance_channel_id
    reason = "no finance channel is set"
    if channel_id:
        try:
            response = await client.chat_postMessage(channel=channel_id, **message.as_kwargs())
            return MessageRef(team, str(response["channel"]), str(response["ts"]))
        except SlackApiError as error:
            code = str(error.response.get("error"))
            if code not in CHANNEL_UNAVAILABLE:
                raise
            reason = {
                "not_in_channel": "I am not in that channel; /invite me",
                "channel_not_found": "the channel is gone or private without me; /invite me",
                "is_archived": "the channel is archived",
            }.get(code, code)
            log.warning("finance_channel_unavailable", team_id=team.team_id, channel_id=channel_id, error=code)
    recipient = fallback_user_id or next(iter(settings.admin_user_ids), None)
    if recipient is None:
        log.warning("notification_dropped_no_recipient", team_id=team.team_id, reason=reason)
        return None
    opened = await client.conversations_open(users=recipient)
    dm_id = str((opened.get("channel") or {}).get("id"))
    noted = blocks.Message(
        text=message.text,
        blocks=[run_messages.fallback_note(channel_id, reason), *message.blocks][: blocks.MESSAGE_BLOCK_LIMIT],
    )
    response = await client.chat_postMessage(channel=dm_id, **noted.as_kwargs())
    return MessageRef(team, str(response["channel"]), str(response["ts"]), fell_back=True)


class SlackNotifier:
    """What the worker calls to tell a workspace about its syncs (one client per team from `client_factory`)."""

    def __init__(self, client_factory: ClientFactory, service: BotService) -> None:
        self._client_factory = client_factory
        self._service = service

    async def run_started(self, team: TeamRef, run: RunSummary) -> MessageRef | None:
        """Posts the progress message that later updates turn into the summary."""
        client = await self._client_factory(team)
        settings = await self._service.workspace_settings(team)
        return await announce(client, settings, run_messages.run_started_message(run), run.requested_by, team=team)

    async def run_progress(
        self, ref: MessageRef, run_id: int, done: int, total: int | None, *, requested_by: str | None = None
    ) -> None:
        """chat.update of the progress message (the worker throttles how often)."""
        client = await self._client_factory(ref.team)
        message = run_messages.run_progress_message(run_id, done, total, requested_by=requested_by)
        try:
            await client.chat_update(channel=ref.channel_id, ts=ref.ts, **_with_note(ref, message).as_kwargs())
        except SlackApiError as error:
            if error.response.get("error") not in MESSAGE_GONE:
                raise
            # Progress is a courtesy: the summary is posted anew at the end.
            log.info("progress_message_gone", team_id=ref.team.team_id, error=error.response.get("error"))

    async def run_finished(self, team: TeamRef, summary: RunSummary, ref: MessageRef | None) -> MessageRef | None:
        """The summary replaces the progress message (or is posted); long failure lists go to its thread."""
        client = await self._client_factory(team)
        message = run_messages.run_summary_message(summary)
        if ref is not None and not await self._replace(client, ref, message):
            ref = None  # the progress message is gone: the summary is posted as a new message
        if ref is None:
            settings = await self._service.workspace_settings(team)
            ref = await announce(client, settings, message, summary.requested_by, team=team)
            if ref is None:
                return None
        if run_messages.needs_thread(summary):
            for reply in run_messages.failure_thread_messages(summary):
                await client.chat_postMessage(channel=ref.channel_id, thread_ts=ref.ts, **reply.as_kwargs())
        return ref

    async def _replace(self, client: AsyncWebClient, ref: MessageRef, message: blocks.Message) -> bool:
        """chat.update of the progress message; False when it can no longer be edited."""
        try:
            await client.chat_update(channel=ref.channel_id, ts=ref.ts, **_with_note(ref, message).as_kwargs())
        except SlackApiError as error:
            if error.response.get("error") not in MESSAGE_GONE:
                raise
            log.info("progress_message_gone", team_id=ref.team.team_id, error=error.response.get("error"))
            return False
        return True

    async def needs_reauth(self, team: TeamRef, *, company_name: str, reason: str | None = None) -> MessageRef | None:
        """QuickBooks refused the tokens (or will soon): ask for a reconnect, with the button."""
        client = await self._client_factory(team)
        settings = await self._service.workspace_settings(team)
        return await announce(
            client, settings, run_messages.needs_reauth_message(company_name, reason), None, team=team
        )

    async def qbo_connected(self, connected: QboConnected) -> MessageRef | None:
        """The QuickBooks OAuth callback succeeded: tell the channel (or the person who connected)."""
        client = await self._client_factory(connected.team)
        settings = await self._service.workspace_settings(connected.team)
        message = run_messages.qbo_connected_message(connected)
        return await announce(client, settings, message, connected.user_id, team=connected.team)


def _with_note(ref: MessageRef, message: blocks.Message) -> blocks.Message:
    """Updates of a DM fallback keep saying why they are in a DM."""
    if not ref.fell_back:
        return message
    note = blocks.context(":information_source: Sent to you directly: the finance channel could not take it.")
    return blocks.Message(text=message.text, blocks=[note, *message.blocks][: blocks.MESSAGE_BLOCK_LIMIT])
