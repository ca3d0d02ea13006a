"""Buttons on the App Home and the fix buttons under run summaries (and in the "Fix the rest…" modal).

Every button acks, opens a loading modal with its trigger_id, then does the work; whatever fails, the loading
view is replaced (flows.show_modal). The button's value (a concept, an agreement id, an invoice id, a run id)
is only ever looked up inside the workspace that sent the request.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers import flows
from handlers.blocks import context, escape
from handlers.deps import Deps, team_in, unscoped, user_of
from handlers.errors import reported
from handlers.ids import FixIds, HomeIds
from handlers.views.common import result_view
from handlers.views.fixes import fixes_view
from handlers.views.home import NEW_CONNECTION
from handlers.views.vendors import vendors_result_lines
from sync.api import ServiceError, TeamRef

log = structlog.get_logger(__name__)

RUN_GONE = "I can't find that sync any more. `/qbo status` shows the latest one."

# (title, what the user tries to do, builder from (deps, team, user, value)) for each button
ButtonBuilder = Callable[[Deps, TeamRef, str, str], flows.ViewBuilder]


def _create_vendor(deps: Deps, team: TeamRef, user_id: str, agreement_id: str) -> flows.ViewBuilder:
    async def build() -> dict[str, Any]:
        result = await deps.service.create_missing_vendors(team, user_id, [agreement_id])
        headline, details = vendors_result_lines(result)
        icon = ":white_check_mark:" if not result.failed else ":warning:"
        return result_view("Create supplier", f"{icon} {headline}", details=details)

    return build


def _retry(deps: Deps, team: TeamRef, user_id: str, invoice_id: str) -> flows.ViewBuilder:
    async def build() -> dict[str, Any]:
        request = await deps.service.retry_invoice(team, user_id, invoice_id)
        return result_view("Retry", f":arrows_counterclockwise: Retry queued as sync #{request.run_id}.")

    return build


def _create_vendor_in_currency(deps: Deps, team: TeamRef, user_id: str, value: str) -> flows.ViewBuilder:
    # value is "agreement:CUR" (see sync.api.Fix for CREATE_VENDOR_IN_CURRENCY)
    agreement_id, _, currency = value.rpartition(":")

    async def build() -> dict[str, Any]:
        result = await deps.service.create_vendor_in_currency(team, user_id, agreement_id, currency)
        headline, details = vendors_result_lines(result)
        icon = ":white_check_mark:" if not result.failed else ":warning:"
        return result_view("Create supplier", f"{icon} {headline}", details=details)

    return build


def _link_bill(deps: Deps, team: TeamRef, user_id: str, invoice_id: str) -> flows.ViewBuilder:
    async def build() -> dict[str, Any]:
        doc_number = await deps.service.link_bill(team, user_id, invoice_id)
        return result_view(
            "Use existing bill",
            f":link: Bill {escape(doc_number)} is now this invoice's bill; its payment follows with the next sync.",
        )

    return build


def _skip_invoice(deps: Deps, team: TeamRef, user_id: str, invoice_id: str) -> flows.ViewBuilder:
    async def build() -> dict[str, Any]:
        number = await deps.service.skip_invoice(team, user_id, invoice_id)
        return result_view("Skip invoice", f":no_entry_sign: Invoice {escape(number)} will not be booked.")

    return build


def _more_fixes(deps: Deps, team: TeamRef, user_id: str, run_id: str) -> flows.ViewBuilder:
    """ "Fix the rest…": the run is read again (within this workspace), so the list is as exact as the summary."""

    async def build() -> dict[str, Any]:
        summary = await deps.service.run_summary(team, int(run_id)) if run_id.isdigit() else None
        if summary is None:
            raise ServiceError(RUN_GONE)
        return fixes_view(summary)

    return build


# Fix buttons whose work is done when they are pressed (the others open a form that does it later).
DONE_ON_PRESS = frozenset(
    {FixIds.CREATE_VENDOR, FixIds.CREATE_VENDOR_IN_CURRENCY, FixIds.LINK_BILL, FixIds.SKIP_INVOICE, FixIds.RETRY}
)


def _done_on_message(
    client: AsyncWebClient, body: dict[str, Any], action: dict[str, Any], user_id: str
) -> Callable[[], Awaitable[None]] | None:
    """For a fix button pressed under a run summary: once its work succeeded, take the button off the summary
    (saying who did it) and say so in the run's thread, so nobody presses a fix that no longer applies."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel_id, ts = container.get("channel_id"), container.get("message_ts")
    if container.get("type") != "message" or not channel_id or not ts or not message.get("blocks"):
        return None
    label = str((action.get("text") or {}).get("text") or "Fix")
    done = f":white_check_mark: {escape(label)}: done by <@{user_id}>"

    async def mark() -> None:
        blocks = without_button(message["blocks"], str(action.get("action_id")), str(action.get("value") or ""))
        blocks.append(context(done))
        try:
            await client.chat_update(channel=channel_id, ts=ts, text=str(message.get("text") or label), blocks=blocks)
            await client.chat_postMessage(channel=channel_id, thread_ts=ts, text=done)
        except SlackApiError as error:  # the fix is done; telling the channel is a courtesy
            log.info("fix_not_marked", error=error.response.get("error"))

    return mark


def without_button(blocks: list[dict[str, Any]], action_id: str, value: str) -> list[dict[str, Any]]:
    """The message's blocks without one button (and without an actions block it leaves empty)."""
    kept = []
    for block in blocks:
        if block.get("type") == "actions":
            elements = [
                element
                for element in block.get("elements") or []
                if not (element.get("action_id") == action_id and str(element.get("value") or "") == value)
            ]
            if not elements:
                continue
            block = {**block, "elements": elements}
        kept.append(block)
    return kept


BUTTONS: dict[str, tuple[str, str, ButtonBuilder]] = {
    HomeIds.CONNECT: ("Connect", "connect QuickBooks and Ontop", lambda d, t, u, v: flows.connect_builder(d, t, u)),
    HomeIds.SYNC: ("Sync", "start a sync", lambda d, t, u, v: flows.sync_builder(d, t, u)),
    HomeIds.MAP: ("Map accounts", "change the account mapping", lambda d, t, u, v: flows.mapping_builder(d, t)),
    HomeIds.VENDORS: ("Suppliers", "create or link suppliers", lambda d, t, u, v: flows.vendors_builder(d, t)),
    HomeIds.SETTINGS: ("Settings", "change the settings", lambda d, t, u, v: flows.settings_builder(d, t)),
    HomeIds.DISCONNECT: ("Disconnect", "disconnect QuickBooks", lambda d, t, u, v: flows.disconnect_builder(d, t)),
    FixIds.MAP: ("Map accounts", "change the account mapping", lambda d, t, u, v: flows.mapping_builder(d, t, v)),
    FixIds.CREATE_VENDOR: ("Create supplier", "create suppliers", _create_vendor),
    FixIds.CREATE_VENDOR_IN_CURRENCY: ("Create supplier", "create a supplier", _create_vendor_in_currency),
    FixIds.LINK_BILL: ("Use existing bill", "link an existing bill", _link_bill),
    FixIds.SKIP_INVOICE: ("Skip invoice", "skip an invoice", _skip_invoice),
    FixIds.BOOKS: ("Map accounts", "choose how invoices are booked", lambda d, t, u, v: flows.mapping_builder(d, t)),
    FixIds.RECONNECT: ("Connect", "reconnect QuickBooks", lambda d, t, u, v: flows.connect_builder(d, t, u)),
    FixIds.RETRY: ("Retry", "retry invoices", _retry),
    FixIds.TRACKING: (
        "Classes and locations",
        "change classes and locations",
        lambda d, t, u, v: flows.tracking_builder(d, t),
    ),
    FixIds.MORE: ("Fixes", "fix a sync's failures", _more_fixes),
}


def _then(build: flows.ViewBuilder, after: Callable[[], Awaitable[None]]) -> flows.ViewBuilder:
    """`build`, then `after` once it succeeded (a refused fix raises, and its button stays)."""

    async def built() -> dict[str, Any]:
        view = await build()
        await after()
        return view

    return built


async def press(
    deps: Deps,
    client: AsyncWebClient,
    body: dict[str, Any],
    team: TeamRef,
    user_id: str,
    action_id: str,
    value: str,
    *,
    session: flows.ModalSession | None = None,
) -> None:
    """A button's work, about the company its value (or the modal it is in) names, or the only one; asked for when
    the workspace has several and it names none (a button from before there were several)."""
    title, purpose, builder = BUTTONS[action_id]
    if action_id == HomeIds.CONNECT and value == NEW_CONNECTION:  # another company: about none of those connected
        build = flows.connect_builder(deps, team.workspace, user_id, new=True)
        await flows.show_modal(
            deps,
            client,
            trigger_id=str(body.get("trigger_id")),
            team=team.workspace,
            user_id=user_id,
            title=title,
            action=purpose,
            build=build,
            session=session,
        )
        return
    action: dict[str, Any] = next((one for one in body.get("actions") or [] if one.get("action_id") == action_id), {})
    mark = _done_on_message(client, body, action, user_id) if action_id in DONE_ON_PRESS else None

    def make(about: TeamRef) -> flows.ViewBuilder:
        build = builder(deps, about, user_id, value)
        return _then(build, mark) if mark is not None else build

    # A fix button in the "Fix the rest…" modal stacks its view on that modal (views.open is for new ones).
    in_modal = (body.get("view") or {}).get("type") == "modal"
    await flows.show_modal(
        deps,
        client,
        trigger_id=str(body.get("trigger_id")),
        team=team,
        user_id=user_id,
        title=title,
        action=purpose,
        make=make,
        then={"button": action_id, "value": value},
        session=session,
        push=in_modal and session is None,
    )


def register(app: AsyncApp, deps: Deps) -> None:
    async def press_button(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        action_id = str(action.get("action_id"))
        connection_id, value = unscoped(str(action.get("value") or ""))
        team = team_in(context, body)
        if connection_id is not None:
            team = team.on(connection_id)
        user_id = user_of(body)
        structlog.contextvars.bind_contextvars(team_id=team.team_id, user_id=user_id, action_id=action_id)
        await press(deps, client, body, team, user_id, action_id, value)

    # One listener for every button: Bolt tries each registered listener's matcher on every request (tens of
    # microseconds each, before the ack), so fifteen registrations cost every request fifteen tries.
    every_button = re.compile("^(?:" + "|".join(re.escape(str(action_id)) for action_id in BUTTONS) + ")$")
    app.action(every_button)(reported(press_button))
