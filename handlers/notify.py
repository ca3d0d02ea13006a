"""Finance-channel notifications: the outbox's Slack side, run progress, and announcements.

Someone always hears: when the finance channel cannot take a message (archived, private without the bot, gone,
never set), it goes by DM to the person who asked, else the installer, else the app's admins, and says why.
Deliveries are idempotent (sync/outbox.py): each post carries message metadata naming its notification and part,
so after a lost answer the thread or channel is searched before anything is posted again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers import blocks, run_messages
from handlers.deps import AdminChecker
from handlers.views.home import home_view
from handlers.views.review import review_message, review_reminder_message
from sync.api import (
    BotService,
    QboConnected,
    QboLinks,
    ReviewState,
    RunSummary,
    RunTrigger,
    ServiceError,
    TeamRef,
    WorkspaceSettings,
)
from sync.outbox import (
    DeliveryResult,
    NotificationKind,
    NotificationRecord,
    RetryLater,
    Steps,
    Unreachable,
)

log = structlog.get_logger(__name__)

# Errors meaning "this channel cannot take our message": fall back to a DM.
CHANNEL_UNAVAILABLE = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})
# Errors meaning "the message cannot be edited any more" (deleted, too old, channel gone): post anew.
MESSAGE_GONE = CHANNEL_UNAVAILABLE | {"message_not_found", "cant_update_message", "edit_window_closed"}
# Errors meaning "this person cannot get a DM from us": try the next person.
PERSON_UNREACHABLE = frozenset({"user_not_found", "cannot_dm_bot", "user_disabled", "channel_not_found"})
# Errors no retry fixes: the workspace removed the app or its token.
TOKEN_GONE = frozenset({"invalid_auth", "account_inactive", "token_revoked", "not_authed", "team_access_not_granted"})
METADATA_EVENT = "qbo_sync_notification"
CHANNEL_REASONS = {
    "not_in_channel": "I am not in that channel; /invite me",
    "channel_not_found": "the channel is gone or private without me; /invite me",
    "is_archived": "the channel is archived",
    "restricted_action": "posting there is restricted",
}

ClientFactory = Callable[[TeamRef], Awaitable[AsyncWebClient]]


@dataclass(frozen=True)
class MessageRef:
    """Where a notification landed, so progress and the result can update it."""

    team: TeamRef
    channel_id: str
    ts: str
    fell_back: bool = False


def fallback_recipients(settings: WorkspaceSettings, requester: str | None) -> list[str]:
    """Who hears when the channel cannot: the person who asked, the installer, then the app's admins."""
    people = [requester, settings.installer_user_id, *settings.admin_user_ids]
    return list(dict.fromkeys(person for person in people if person and person.startswith(("U", "W"))))


async def workspace_admins(client: AsyncWebClient) -> list[str]:
    """The workspace's owners and admins (users:read): who hears when the app has nobody else to tell."""
    try:
        listed = await client.users_list(limit=500)
    except SlackApiError as error:
        log.warning("users_list_failed", error=error.response.get("error"))
        return []
    people = [
        member
        for member in listed.get("members") or []
        if not member.get("deleted") and not member.get("is_bot") and (member.get("is_admin") or member.get("is_owner"))
    ]
    people.sort(key=lambda member: (not member.get("is_primary_owner"), not member.get("is_owner")))
    return [str(member["id"]) for member in people][:5]


async def people_to_tell(client: AsyncWebClient, settings: WorkspaceSettings, requester: str | None) -> list[str]:
    """In order: who asked, the installer, the app's admins, then the workspace's owners and admins."""
    named = fallback_recipients(settings, requester)
    return named or await workspace_admins(client)


async def open_dm(client: AsyncWebClient, people: Sequence[str]) -> str | None:
    """A DM with the first of `people` Slack lets us write to, or None."""
    for person in people:
        try:
            opened = await client.conversations_open(users=person)
        except SlackApiError as error:
            code = str(error.response.get("error"))
            if code not in PERSON_UNREACHABLE:
                raise
            log.warning("dm_refused", user_id=person, error=code)
            continue
        channel = (opened.get("channel") or {}).get("id")
        if channel:
            return str(channel)
    return None


async def announce(
    client: AsyncWebClient,
    settings: WorkspaceSettings,
    message: blocks.Message,
    fallback_user_id: str | None,
    *,
    team: TeamRef | None = None,
    metadata: dict[str, Any] | None = None,
) -> MessageRef | None:
    """Post to the finance channel, or by DM (with a note saying why) when the channel cannot take it."""
    team = team or settings.team
    channel_id = settings.finance_channel_id
    reason = "no finance channel is set"
    extra: dict[str, Any] = {"metadata": metadata} if metadata else {}
    if channel_id:
        try:
            response = await client.chat_postMessage(channel=channel_id, **message.as_kwargs(), **extra)
            return MessageRef(team, str(response["channel"]), str(response["ts"]))
        except SlackApiError as error:
            code = str(error.response.get("error"))
            if code not in CHANNEL_UNAVAILABLE:
                raise
            reason = CHANNEL_REASONS.get(code, code)
            log.warning("finance_channel_unavailable", team_id=team.team_id, channel_id=channel_id, error=code)
    dm_id = await open_dm(client, await people_to_tell(client, settings, fallback_user_id))
    if dm_id is None:
        log.error("notification_reached_nobody", team_id=team.team_id, reason=reason)
        return None
    noted = blocks.Message(
        text=message.text,
        blocks=[run_messages.fallback_note(channel_id, reason), *message.blocks][: blocks.MESSAGE_BLOCK_LIMIT],
    )
    response = await client.chat_postMessage(channel=dm_id, **noted.as_kwargs(), **extra)
    return MessageRef(team, str(response["channel"]), str(response["ts"]), fell_back=True)


def _metadata(notification: NotificationRecord, part: str) -> dict[str, Any]:
    """What a post says about itself (invisible to people): which notification, which part, which run."""
    payload: dict[str, Any] = {"notification_id": notification.id, "part": part}
    if notification.run_id is not None:
        payload["run_id"] = notification.run_id
    return {"event_type": METADATA_EVENT, "event_payload": payload}


def _is_part(message: dict[str, Any], notification_id: int, part: str) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return bool(
        metadata.get("event_type") == METADATA_EVENT
        and payload.get("notification_id") == notification_id
        and payload.get("part") == part
    )


class Delivery:
    """One attempt at delivering one notification: its client, and what earlier attempts already posted."""

    def __init__(self, client: AsyncWebClient, notification: NotificationRecord, steps: Steps) -> None:
        self.client = client
        self.notification = notification
        self.steps = steps
        self.redelivery = notification.attempts > 1 or notification.post_started_at is not None

    async def find_top(self, channel_id: str, since: datetime) -> str | None:
        """After a lost answer: the top-level message this notification already posted, if it exists."""
        try:
            found = await self.client.conversations_history(
                channel=channel_id, oldest=f"{since.timestamp() - 60:.6f}", limit=200, include_all_metadata=True
            )
        except SlackApiError as error:
            log.warning("history_unreadable", channel_id=channel_id, error=error.response.get("error"))
            return None  # cannot check: post again (at least once beats never)
        for message in found.get("messages") or []:
            if _is_part(message, self.notification.id, "top"):
                return str(message["ts"])
        return None

    async def in_thread(self, channel_id: str, thread_ts: str, part: str) -> bool:
        """Whether a redelivered part (the reply, a failure page) is already in the thread."""
        if not self.redelivery:
            return False
        try:
            found = await self.client.conversations_replies(
                channel=channel_id, ts=thread_ts, limit=200, include_all_metadata=True
            )
        except SlackApiError as error:
            log.warning("thread_unreadable", channel_id=channel_id, error=error.response.get("error"))
            return False
        return any(_is_part(message, self.notification.id, part) for message in found.get("messages") or [])

    async def reply(self, channel_id: str, thread_ts: str, part: str, message: blocks.Message, **extra: Any) -> str:
        response = await self.client.chat_postMessage(
            channel=channel_id,
            thread_ts=thread_ts,
            metadata=_metadata(self.notification, part),
            **message.as_kwargs(),
            **extra,
        )
        return str(response["ts"])


class SlackNotifier:
    """Slack's side of the outbox (sync.outbox.Sender), and the run progress messages the worker posts."""

    def __init__(self, client_factory: ClientFactory, service: BotService, links: QboLinks | None = None) -> None:
        self._client_factory = client_factory
        self._service = service
        self._links = links

    # --- the outbox -----------------------------------------------------------------------------------------

    async def deliver(self, team: TeamRef, notification: NotificationRecord, steps: Steps) -> DeliveryResult:
        try:
            client = await self._client_factory(team)
            if notification.kind == NotificationKind.RUN_RESULT and notification.run_id is not None:
                return await self._run_result(team, Delivery(client, notification, steps), notification.run_id)
            if notification.kind == NotificationKind.REAUTH:
                return await self._reauth(team, Delivery(client, notification, steps))
            if notification.kind == NotificationKind.REVIEW:
                return await self._review(team, Delivery(client, notification, steps))
            log.warning("notification_kind_unknown", kind=notification.kind)
            return None
        except SlackApiError as error:
            code = str(error.response.get("error"))
            if code in TOKEN_GONE:
                return Unreachable(f"Slack refused the bot's token ({code})")
            retry_after = error.response.headers.get("Retry-After") if error.response.headers else None
            return RetryLater(code, float(retry_after) if retry_after else None)

    async def _run_result(self, team: TeamRef, delivery: Delivery, run_id: int) -> DeliveryResult:
        summary = await self._service.run_summary(team, run_id)
        if summary is None:
            return None  # the run is gone (the workspace disconnected and was forgotten)
        settings = await self._service.workspace_settings(team)
        someone_asked = summary.trigger in (RunTrigger.MANUAL, RunTrigger.RETRY, RunTrigger.FIRST, RunTrigger.FINISH)
        if run_messages.run_quiet(summary) and summary.progress_message is None and not someone_asked:
            await self.refresh_home(team, settings)  # an empty scheduled run: nothing to say in the channel
            return None
        top = await self._top(team, delivery, settings, summary)
        if top is None:
            return Unreachable("the finance channel refused the summary and no admin could be messaged")
        channel_id, ts = top
        notification = delivery.notification
        if notification.reply_ts is None and not await delivery.in_thread(channel_id, ts, "reply"):
            first_sync = summary.trigger in (RunTrigger.FIRST, RunTrigger.FINISH)  # its follow-up completes it
            loud = summary.failed > 0 or summary.review_count > 0 or first_sync
            reply_ts = await delivery.reply(
                channel_id, ts, "reply", run_messages.run_result_reply(summary), reply_broadcast=loud
            )
            await delivery.steps.reply_posted(reply_ts)
        if run_messages.needs_thread(summary):
            # More than the summary can list: every failure in pages under it, and all of them in a CSV.
            failures, _ = await self._service.run_failures(team, run_id)
            pages = run_messages.failure_page_messages(failures)
            for number in range(notification.pages_posted, len(pages)):
                part = f"page-{number}"
                if not await delivery.in_thread(channel_id, ts, part):
                    await delivery.reply(channel_id, ts, part, pages[number])
                await delivery.steps.pages_posted(number + 1)
            if not notification.file_posted:
                await self._upload_csv(team, delivery, channel_id, ts, run_id)
        await self.refresh_home(team, settings)
        return None

    async def _top(
        self, team: TeamRef, delivery: Delivery, settings: WorkspaceSettings, summary: RunSummary
    ) -> tuple[str, str] | None:
        """The run's top-level message, showing the summary: updated where it exists, posted once otherwise."""
        notification = delivery.notification
        message = run_messages.run_summary_message(summary, self._links)
        known = (notification.channel_id, notification.ts) if notification.ts and notification.channel_id else None
        if known is None and notification.post_started_at is not None and notification.channel_id:
            found = await delivery.find_top(notification.channel_id, notification.post_started_at)
            if found is not None:  # the earlier post went out; its answer was lost
                known = (notification.channel_id, found)
                await delivery.steps.top_posted(notification.channel_id, found, fell_back=None)
        known = known or summary.progress_message
        metadata = _metadata(notification, "top")
        fell_back = notification.fell_back
        if known is not None and known[0] != settings.finance_channel_id:
            fell_back = fell_back or "the finance channel could not take it"  # the progress went to a DM
        if known is not None and await self._update(delivery.client, known, message, fell_back, metadata):
            if notification.ts is None:
                await delivery.steps.top_posted(known[0], known[1], fell_back=fell_back)
            return known
        # Nothing to update (a scheduled run, or the progress message is gone): post the summary.
        await delivery.steps.post_started(settings.finance_channel_id or "")
        posted = await announce(
            delivery.client,
            settings,
            message,
            summary.requested_by,
            team=team,
            metadata=_metadata(notification, "top"),
        )
        if posted is None:
            return None
        reason = "the finance channel could not take it" if posted.fell_back else None
        await delivery.steps.top_posted(posted.channel_id, posted.ts, fell_back=reason)
        return posted.channel_id, posted.ts

    async def _update(
        self,
        client: AsyncWebClient,
        where: tuple[str, str],
        message: blocks.Message,
        fell_back: str | None,
        metadata: dict[str, Any],
    ) -> bool:
        """chat.update of a message; False when it can no longer be edited (deleted, channel gone)."""
        if fell_back:
            message = _with_fallback_note(message)
        try:
            await client.chat_update(channel=where[0], ts=where[1], metadata=metadata, **message.as_kwargs())
        except SlackApiError as error:
            if error.response.get("error") not in MESSAGE_GONE:
                raise
            log.info("message_gone", channel_id=where[0], error=error.response.get("error"))
            return False
        return True

    async def _upload_csv(self, team: TeamRef, delivery: Delivery, channel_id: str, ts: str, run_id: int) -> None:
        """The complete failure list as a file in the thread; a workspace without files:write keeps the pages."""
        content = await self._service.run_failures_csv(team, run_id)
        try:
            await delivery.client.files_upload_v2(
                channel=channel_id,
                thread_ts=ts,
                content=content,
                filename=f"qbo-sync-{run_id}-failures.csv",
                title=f"Sync #{run_id}: every failure",
            )
        except SlackApiError as error:
            if error.response.get("error") not in ("missing_scope", "not_allowed_token_type", "not_in_channel"):
                raise
            log.warning("failure_csv_not_uploaded", run_id=run_id, error=error.response.get("error"))
        await delivery.steps.file_posted()

    async def _reauth(self, team: TeamRef, delivery: Delivery) -> DeliveryResult:
        notification = delivery.notification
        if notification.ts is not None:
            return None  # posted already; an alert is not updated
        settings = await self._service.workspace_settings(team)
        status = await self._safe_status(team)
        company = status.company_name if status is not None else "QuickBooks"
        payload = notification.payload
        if payload.get("refused"):
            message = run_messages.needs_reauth_message(company, None, team.connection_id)
        else:
            deadline = datetime.fromisoformat(str(payload.get("deadline")))
            message = run_messages.reauth_reminder_message(company, deadline.date(), team.connection_id)
        if notification.post_started_at is not None and notification.channel_id:
            found = await delivery.find_top(notification.channel_id, notification.post_started_at)
            if found is not None:
                await delivery.steps.top_posted(notification.channel_id, found, fell_back=None)
                return None
        await delivery.steps.post_started(settings.finance_channel_id or "")
        posted = await announce(
            delivery.client, settings, message, None, team=team, metadata=_metadata(notification, "top")
        )
        if posted is None:
            return Unreachable("the finance channel refused the alert and no admin could be messaged")
        reason = "the finance channel could not take it" if posted.fell_back else None
        await delivery.steps.top_posted(posted.channel_id, posted.ts, fell_back=reason)
        return None

    async def _review(self, team: TeamRef, delivery: Delivery) -> DeliveryResult:
        """A review's message (with its buttons), its day-6 reminder in its thread, or its expiry (the message
        loses its buttons). Each is done once: the step is recorded as soon as Slack answered."""
        notification = delivery.notification
        if notification.ts is not None:
            return None
        review = await self._service.review(team, int(notification.payload.get("review_id") or 0))
        if review is None:
            return None  # the workspace disconnected and its connection was forgotten
        event = str(notification.payload.get("event") or "posted")
        if event != "posted" and review.message is not None:
            channel_id, thread_ts = review.message
            if event == "expired":
                try:  # its buttons go (the message keeps its metadata: chat.update without it leaves it alone)
                    await delivery.client.chat_update(
                        channel=channel_id, ts=thread_ts, **review_message(review).as_kwargs()
                    )
                except SlackApiError as error:
                    if error.response.get("error") not in MESSAGE_GONE:
                        raise
                    log.info("review_message_gone", review_id=review.review_id, error=error.response.get("error"))
                await delivery.steps.top_posted(channel_id, thread_ts, fell_back=None)
                return None
            if review.state != ReviewState.PENDING:
                return None  # decided since the reminder was owed: nothing to remind of
            if not await delivery.in_thread(channel_id, thread_ts, "reminder"):
                reply = review_reminder_message(review)
                ts = await delivery.reply(channel_id, thread_ts, "reminder", reply, reply_broadcast=True)
                await delivery.steps.top_posted(channel_id, ts, fell_back=None)
            return None
        # The review's own message (or a reminder or expiry whose message never reached Slack: say it in full).
        if notification.post_started_at is not None and notification.channel_id:
            found = await delivery.find_top(notification.channel_id, notification.post_started_at)
            if found is not None:
                await delivery.steps.top_posted(notification.channel_id, found, fell_back=None)
                return None
        settings = await self._service.workspace_settings(team)
        await delivery.steps.post_started(settings.finance_channel_id or "")
        posted = await announce(
            delivery.client,
            settings,
            review_message(review),
            review.requested_by,
            team=team,
            metadata=_metadata(notification, "top"),
        )
        if posted is None:
            return Unreachable("the finance channel refused the review and no admin could be messaged")
        reason = "the finance channel could not take it" if posted.fell_back else None
        await delivery.steps.top_posted(posted.channel_id, posted.ts, fell_back=reason)
        return None

    async def _safe_status(self, team: TeamRef) -> Any:
        try:
            return await self._service.status(team)
        except ServiceError:
            return None

    async def refresh_home(self, team: TeamRef, settings: WorkspaceSettings) -> None:
        """Republish the App Home of the people who run the sync, so it shows the latest run without a reopen."""
        client = await self._client_factory(team)
        people = await people_to_tell(client, settings, None)
        if not people:
            return
        try:
            statuses = await self._service.statuses(team.workspace)
        except ServiceError:
            statuses = []
        view = home_view(statuses, settings)
        for person in people:
            try:
                await client.views_publish(user_id=person, view=view)
            except SlackApiError as error:
                log.info("home_not_refreshed", user_id=person, error=error.response.get("error"))

    # --- run progress (a courtesy: may be dropped) ----------------------------------------------------------

    async def run_started(self, team: TeamRef, run: RunSummary) -> MessageRef | None:
        """The message progress updates edit and the summary finally replaces (the run's one top-level message)."""
        client = await self._client_factory(team)
        settings = await self._service.workspace_settings(team)
        return await announce(client, settings, run_messages.run_started_message(run), run.requested_by, team=team)

    async def run_progress(
        self,
        ref: MessageRef,
        run_id: int,
        done: int,
        total: int | None,
        *,
        requested_by: str | None = None,
        what: str = "invoices",
    ) -> None:
        """chat.update of the progress message (the worker throttles how often)."""
        client = await self._client_factory(ref.team)
        message = run_messages.run_progress_message(run_id, done, total, requested_by=requested_by, what=what)
        if ref.fell_back:
            message = _with_fallback_note(message)
        try:
            await client.chat_update(channel=ref.channel_id, ts=ref.ts, **message.as_kwargs())
        except SlackApiError as error:
            if error.response.get("error") not in MESSAGE_GONE:
                raise
            log.info("progress_message_gone", team_id=ref.team.team_id, error=error.response.get("error"))

    async def qbo_connected(self, connected: QboConnected) -> MessageRef | None:
        """The QuickBooks OAuth callback succeeded: tell the channel (or the person who connected)."""
        client = await self._client_factory(connected.team)
        settings = await self._service.workspace_settings(connected.team)
        message = run_messages.qbo_connected_message(connected)
        return await announce(client, settings, message, connected.user_id, team=connected.team)

    async def ontop_connected(self, team: TeamRef, user_id: str) -> MessageRef | None:
        """The Ontop login page saved a login: tell the channel (or the person who connected)."""
        client = await self._client_factory(team)
        settings = await self._service.workspace_settings(team)
        message = run_messages.ontop_connected_message(user_id)
        return await announce(client, settings, message, user_id, team=team)

    async def is_admin(self, team: TeamRef, user_id: str) -> bool:
        """The one admin check (handlers.deps.AdminChecker), for pages outside Slack: asked afresh every time."""
        return await AdminChecker(self._service).is_admin(await self._client_factory(team), team, user_id)


def _with_fallback_note(message: blocks.Message) -> blocks.Message:
    """Updates of a DM fallback keep saying why they are in a DM."""
    note = blocks.context(":information_source: Sent to you directly: the finance channel could not take it.")
    return blocks.Message(text=message.text, blocks=[note, *message.blocks][: blocks.MESSAGE_BLOCK_LIMIT])
