"""Buttons on the App Home and the fix buttons under run summaries.

Every button acks, opens a loading modal with its trigger_id, then does the work. The button's value (a concept,
an agreement id, an invoice id) is only ever looked up inside the workspace that sent the request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from handlers import flows
from handlers.blocks import escape
from handlers.deps import Deps, team_of
from handlers.errors import reported
from handlers.ids import FixIds, HomeIds
from handlers.views.common import result_view
from handlers.views.vendors import vendors_result_lines
from sync.api import TeamRef

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
}


def register(app: AsyncApp, deps: Deps) -> None:
    async def press_button(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        title, purpose, builder = BUTTONS[str(action.get("action_id"))]
        team = team_of(context)
        user_id = str((body.get("user") or {}).get("id") or "")
        structlog.contextvars.bind_contextvars(team_id=team.team_id, user_id=user_id, action_id=action.get("action_id"))
        await flows.show_modal(
            deps,
            client,
            trigger_id=str(body.get("trigger_id")),
            team=team,
            user_id=user_id,
            title=title,
            action=purpose,
            build=builder(deps, team, user_id, str(action.get("value") or "")),
        )

    for action_id in BUTTONS:
        app.action(str(action_id))(reported(press_button))
