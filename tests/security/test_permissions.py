"""A member who is not an admin can read status but cannot connect, map, create suppliers, change settings, sync or
disconnect, whichever surface they use: commands, Home and fix buttons, or modals submitted by hand."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.signing import block_actions_payload, interactive_body
from devtools.stack import ADMIN_USER, FINANCE_CHANNEL, MEMBER_USER, LocalStack
from handlers.ids import ConnectIds, DisconnectIds, FixIds, HomeIds, MappingIds, SettingsIds, VendorIds
from tests.reliability.support import TEAM, Driver, wait_until
from tests.security.support import snapshot, state_from_view

LOCK = ":lock:"


def refusals(stack: LocalStack) -> int:
    """Refusal views and refusal replies the fake Slack has received so far."""
    views = [call for call in stack.fake_slack.calls("views.update") if LOCK in str(call.params.get("view"))]
    replies = [call for call in stack.fake_slack.calls("response_url") if "only workspace admins" in str(call.params)]
    return len(views) + len(replies)


async def wait_for_refusals(stack: LocalStack, count: int) -> None:
    async def arrived() -> bool:
        return refusals(stack) >= count

    await wait_until(arrived, timeout_seconds=10, what=f"{count} refusal(s)")


@pytest.mark.parametrize("subcommand", ["connect", "map", "vendors", "settings", "disconnect", "sync"])
async def test_a_member_typing_an_admin_command_is_refused_and_nothing_changes(
    connected: Driver, subcommand: str
) -> None:
    stack = connected.stack
    before = await snapshot(stack, connected.runtime.sessions)

    async with stack.slack(MEMBER_USER) as bob:
        answer = await bob.command(subcommand)

    assert answer.status_code == 200
    await wait_for_refusals(stack, 1)
    assert await snapshot(stack, connected.runtime.sessions) == before


async def test_a_member_may_read_the_status(connected: Driver) -> None:
    """The control for the refusals: members are not locked out of everything."""
    stack = connected.stack
    replies_before = len(stack.fake_slack.ephemerals(user_id=MEMBER_USER))
    refused_before = refusals(stack)
    async with stack.slack(MEMBER_USER) as bob:
        await bob.command("status")

    async def replied() -> bool:
        return len(stack.fake_slack.ephemerals(user_id=MEMBER_USER)) > replies_before

    await wait_until(replied, timeout_seconds=10, what="the status reply")
    assert refusals(stack) == refused_before
    assert "Connected" in str(stack.fake_slack.ephemerals(user_id=MEMBER_USER)[-1]) or "QuickBooks" in str(
        stack.fake_slack.ephemerals(user_id=MEMBER_USER)[-1]
    )


async def open_as_admin(stack: LocalStack, subcommand: str, callback_id: str) -> dict[str, Any]:
    """The admin opens a modal: the view the member will then try to submit by hand."""
    async with stack.slack(ADMIN_USER) as ann:
        await ann.command(subcommand)

    async def opened() -> bool:
        return stack.fake_slack.last_view(callback_id, user_id=ADMIN_USER) is not None

    await wait_until(opened, timeout_seconds=10, what=f"the {callback_id} modal")
    view = stack.fake_slack.last_view(callback_id, user_id=ADMIN_USER)
    assert view is not None
    return view


async def test_a_member_submitting_an_admin_modal_by_hand_is_refused_and_nothing_changes(connected: Driver) -> None:
    stack = connected.stack
    views = {
        "settings": await open_as_admin(stack, "settings", SettingsIds.CALLBACK),
        "map": await open_as_admin(stack, "map", MappingIds.CALLBACK),
        "disconnect": await open_as_admin(stack, "disconnect", DisconnectIds.CALLBACK),
        "vendors": await open_as_admin(stack, "vendors", VendorIds.CALLBACK),
        "connect": await open_as_admin(stack, "connect", ConnectIds.CALLBACK),
    }
    overrides: dict[str, dict[str, dict[str, Any]]] = {
        "settings": {SettingsIds.ADMINS_BLOCK.value: {"selected_users": [ADMIN_USER, MEMBER_USER]}},
        "connect": {
            ConnectIds.EMAIL_BLOCK.value: {"value": "intruder@example.com"},
            ConnectIds.PASSWORD_BLOCK.value: {"value": "hunter2-intruder"},
        },
    }
    before = await snapshot(stack, connected.runtime.sessions)
    refused_before = refusals(stack)

    async with stack.slack(MEMBER_USER) as bob:
        for name, view in views.items():
            answer = await bob.submit_view(view["id"], state_from_view(view, overrides.get(name)))
            assert answer.status_code == 200, (name, answer.text)

    await wait_for_refusals(stack, refused_before + len(views))
    assert await snapshot(stack, connected.runtime.sessions) == before
    settings = await connected.runtime.service.workspace_settings(TEAM)
    assert MEMBER_USER not in settings.admin_user_ids


BUTTONS = {
    HomeIds.CONNECT: "",
    HomeIds.SYNC: "",
    HomeIds.MAP: "",
    HomeIds.VENDORS: "",
    HomeIds.SETTINGS: "",
    HomeIds.DISCONNECT: "",
    FixIds.CREATE_VENDOR: "AGREEMENT",
    FixIds.RETRY: "INVOICE",
    FixIds.MAP: "BONUS",
    FixIds.RECONNECT: "",
}


async def test_a_member_pressing_admin_buttons_with_crafted_values_is_refused_and_nothing_changes(
    connected: Driver,
) -> None:
    stack = connected.stack
    ledger = await connected.ledger()
    summary = next(m for m in stack.fake_slack.messages(FINANCE_CHANNEL) if "QuickBooks sync #" in m.get("text", ""))
    values = {"AGREEMENT": str(ledger[0].agreement_id), "INVOICE": str(ledger[0].ontop_invoice_id)}
    before = await snapshot(stack, connected.runtime.sessions)
    refused_before = refusals(stack)

    async with stack.slack(MEMBER_USER) as bob:
        for action_id, value in BUTTONS.items():
            action = {
                "type": "button",
                "action_id": str(action_id),
                "block_id": "crafted",
                "value": values.get(value, value),
            }
            payload = block_actions_payload(
                bob.actor,
                action,
                trigger_id=stack.fake_slack.mint_trigger_id(MEMBER_USER),
                message=summary,
                channel=stack.fake_slack.channel_ref(FINANCE_CHANNEL),
                response_url=stack.fake_slack.new_response_url(
                    channel_id=FINANCE_CHANNEL, user_id=MEMBER_USER, message_ts=summary["ts"]
                ),
            )
            answer = await bob.post(interactive_body(payload), "application/x-www-form-urlencoded")
            assert answer.status_code == 200, (action_id, answer.text)

    await wait_for_refusals(stack, refused_before + len(BUTTONS))
    assert await snapshot(stack, connected.runtime.sessions) == before
