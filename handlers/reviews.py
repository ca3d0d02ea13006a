"""The approval gate's buttons: *Approve and post*, *Review details* (with its paged modal) and *Skip* on the review
message, and *Ask for approval in the channel* / *Include again* under `/qbo sync preview`.

Every listener acks first, then checks the admin afresh (a demotion takes effect at once, and a crafted payload
gains nothing), then calls one service method. A review id from a button or private_metadata is only ever looked up
within the workspace that sent the request.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers import blocks, flows
from handlers.deps import Deps, number_of, team_of, unscoped, user_of
from handlers.errors import reported
from handlers.ids import ReviewIds
from handlers.modals import Submission
from handlers.views.common import flatten_state, loading_view, result_view
from handlers.views.review import (
    details_metadata,
    exclusions_saved_text,
    read_exclusions,
    review_details_view,
    review_message,
    review_requested_text,
)
from sync import messages
from sync.api import ReviewView, ServiceError, TeamRef

T = TypeVar("T")

log = structlog.get_logger(__name__)

TITLE = "Review"


async def _tell(respond: AsyncRespond, message: blocks.Message) -> None:
    """An answer only the person who pressed sees, under the message they pressed in."""
    await respond(response_type="ephemeral", replace_original=False, **message.as_kwargs())


async def show_review(client: AsyncWebClient, where: tuple[str, str], view: ReviewView, metadata: Any = None) -> None:
    """Update the review message to what the review is now (decided: who and when, and no buttons)."""
    extra = {"metadata": metadata} if metadata else {}
    try:
        await client.chat_update(channel=where[0], ts=where[1], **review_message(view).as_kwargs(), **extra)
    except SlackApiError as error:  # the decision stands; the message is a courtesy
        log.info("review_message_not_updated", review_id=view.review_id, error=error.response.get("error"))


def _pressed_in(body: dict[str, Any]) -> tuple[str, str] | None:
    container = body.get("container") or {}
    channel_id, ts = container.get("channel_id"), container.get("message_ts")
    if container.get("type") != "message" or not channel_id or not ts or container.get("is_ephemeral"):
        return None
    return str(channel_id), str(ts)


def details_builder(deps: Deps, team: TeamRef, review_id: int | None, page: int = 0) -> flows.ViewBuilder:
    async def build() -> dict[str, Any]:
        if review_id is None:
            raise ServiceError(messages.REVIEW_NOT_FOUND)
        return review_details_view(await deps.service.review_page(team, review_id, page))

    return build


def register(app: AsyncApp, deps: Deps) -> None:
    async def decide_review(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
        respond: AsyncRespond,
    ) -> None:
        """*Approve and post* or *Skip*: only an admin decides; the message then says who did, and when."""
        await ack()
        team, user_id = team_of(context), user_of(body)
        approving = action.get("action_id") == ReviewIds.APPROVE
        structlog.contextvars.bind_contextvars(team_id=team.team_id, user_id=user_id, action_id=action.get("action_id"))
        if not await deps.admins.is_admin(client, team, user_id):
            log.info("refused_non_admin", action="approve_review" if approving else "skip_review")
            await _tell(respond, blocks.refusal_message("approve or skip what is posted to QuickBooks"))
            return
        review_id = number_of(action.get("value"))
        where = _pressed_in(body)
        metadata = (body.get("message") or {}).get("metadata")
        try:
            if review_id is None:
                raise ServiceError(messages.REVIEW_NOT_FOUND)
            if approving:
                decision = await deps.service.approve_review(team, user_id, review_id)
            else:
                decision = await deps.service.skip_review(team, user_id, review_id)
        except ServiceError as error:
            await _tell(respond, blocks.error_message(error.message))
            current = await deps.service.review(team, review_id) if review_id is not None else None
            if current is not None and where is not None:  # decided elsewhere, or expired: show it as it is
                await show_review(client, where, current, metadata)
            return
        if where is not None:
            await show_review(client, where, decision.review, metadata)

    async def open_review_details(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        team, user_id = team_of(context), user_of(body)
        await flows.show_modal(
            deps,
            client,
            trigger_id=str(body.get("trigger_id")),
            team=team,
            user_id=user_id,
            title=TITLE,
            action="review what is posted to QuickBooks",
            build=details_builder(deps, team, number_of(action.get("value"))),
            push=(body.get("view") or {}).get("type") == "modal",
        )

    async def save_review_details(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        """*Save* in the details modal: the ticked invoices of this page are left out, the others included."""
        await ack(response_action="update", view=loading_view(TITLE, "Saving…"))
        submission = Submission(deps, client, body, context, TITLE)
        saved: ReviewView | None = None
        async with submission.guarded():
            if not await submission.allowed("leave invoices out of a review"):
                return
            review_id, _ = details_metadata(view)
            if review_id is None:
                raise ServiceError(messages.REVIEW_NOT_FOUND)
            shown, excluded = read_exclusions(view, flatten_state(view))
            saved = await deps.service.save_review_exclusions(
                submission.team, submission.user_id, review_id, shown, excluded
            )
            await submission.show(result_view(TITLE, exclusions_saved_text(saved)))
        if saved is not None and saved.message is not None:  # the channel's message shows the new totals
            await show_review(client, saved.message, saved)

    async def turn_review_page(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        """*Previous* / *Next*: what was ticked on this page is kept, then the other page is shown."""
        await ack()
        team, user_id = team_of(context), user_of(body)

        async def keep_ticks_and_turn(session: flows.ModalSession, view: dict[str, Any]) -> None:
            review_id, _ = details_metadata(view)
            if review_id is None:
                raise ServiceError(messages.REVIEW_NOT_FOUND)
            shown, excluded = read_exclusions(view, flatten_state(view))
            if shown:
                await deps.service.save_review_exclusions(team, user_id, review_id, shown, excluded)
            page = number_of(action.get("value")) or 0
            await session.show(await details_builder(deps, team, review_id, page)())

        purpose = "review what is posted to QuickBooks"
        await flows.in_modal_as_admin(deps, client, body, team, user_id, TITLE, purpose, keep_ticks_and_turn)

    async def ask_channel_for_approval(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
        respond: AsyncRespond,
    ) -> None:
        """The preview's *Ask for approval in the channel*: the same content, as a review in the finance channel."""
        await ack()
        connection_id, _ = unscoped(str(action.get("value") or ""))
        team, user_id = team_of(context).on(connection_id), user_of(body)
        made = await _as_admin(
            deps, client, respond, team, user_id, "ask for approval of a posting",
            lambda: deps.service.request_review(team, user_id),
        )  # fmt: skip
        if made is None:
            return
        settings = await deps.service.workspace_settings(team)
        await _tell(respond, blocks.info_message(review_requested_text(made, settings.finance_channel_id)))

    async def include_invoice(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
        respond: AsyncRespond,
    ) -> None:
        """The preview's *Include again*: an invoice left out of a review is planned like any other again."""
        await ack()
        connection_id, invoice_id = unscoped(str(action.get("value") or ""))
        team, user_id = team_of(context).on(connection_id), user_of(body)
        number = await _as_admin(
            deps, client, respond, team, user_id, "include an invoice again",
            lambda: deps.service.include_invoice(team, user_id, invoice_id),
        )  # fmt: skip
        if number is None:
            return
        text = f":white_check_mark: Invoice {blocks.escape(number)} is included again: a sync is queued to post it."
        await _tell(respond, blocks.info_message(text))

    app.action(ReviewIds.APPROVE.value)(reported(decide_review))
    app.action(ReviewIds.SKIP.value)(reported(decide_review))
    app.action(ReviewIds.DETAILS.value)(reported(open_review_details))
    app.view(ReviewIds.DETAILS_CALLBACK.value)(reported(save_review_details))
    app.action(re.compile(f"^{ReviewIds.PAGE.value}-"))(reported(turn_review_page))
    app.action(ReviewIds.REQUEST.value)(reported(ask_channel_for_approval))
    app.action(ReviewIds.INCLUDE.value)(reported(include_invoice))
    # Ticking a checkbox in the details modal sends block_actions too; the ticks are read on Save or page turn.
    app.action(ReviewIds.EXCLUDE.value)(_acknowledge)


async def _acknowledge(ack: AsyncAck) -> None:
    await ack()


async def _as_admin(
    deps: Deps,
    client: AsyncWebClient,
    respond: AsyncRespond,
    team: TeamRef,
    user_id: str,
    purpose: str,
    call: Callable[[], Awaitable[T]],
) -> T | None:
    """`call`'s answer when the person is an admin (asked afresh) and the service agrees; otherwise None, with the
    refusal or the service's sentence told to the person."""
    if not await deps.admins.is_admin(client, team, user_id):
        await _tell(respond, blocks.refusal_message(purpose))
        return None
    try:
        return await call()
    except ServiceError as error:
        await _tell(respond, blocks.error_message(error.message))
        return None
