"""The permission matrix: every admin-only `/qbo` subcommand (handlers.commands.SUBCOMMANDS) and every button
(handlers.actions.BUTTONS) is refused to a member who is not an admin, and nothing changes; the same ones pass the
check for an admin (so the refusals are about permission, not about something else failing). Modals submitted by hand
and the Ontop login page are refused too."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools.signing import block_actions_payload, interactive_body
from devtools.stack import ADMIN_USER, FINANCE_CHANNEL, MEMBER_USER, LocalStack
from handlers.actions import BUTTONS
from handlers.commands import ADMIN_ONLY, SUBCOMMANDS
from handlers.ids import ConnectIds, DisconnectIds, FixIds, MappingIds, MiscIds, SettingsIds, VendorIds
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


READ_ONLY = {"status"}  # the subcommands anyone may use; every other one must be in ADMIN_ONLY


def test_every_subcommand_is_admin_only_or_known_to_be_read_only() -> None:
    """A new subcommand must be declared admin-only, or added here on purpose (then it is tested as a read)."""
    assert set(SUBCOMMANDS) == set(ADMIN_ONLY) | READ_ONLY
    assert not set(ADMIN_ONLY) & READ_ONLY


def answers(stack: LocalStack) -> list[str]:
    """Every modal view and response_url reply the app has sent so far (what a person sees after the ack)."""
    views = [json.dumps(call.params.get("view")) for call in stack.fake_slack.calls("views.update")]
    replies = [json.dumps(call.params) for call in stack.fake_slack.calls("response_url")]
    return views + replies


async def next_answer(stack: LocalStack, before: int) -> str:
    """The first answer past `before` that is not a loading view: a refusal, a result, a modal or the service's
    message."""
    found: list[str] = []

    async def arrived() -> bool:
        found[:] = [text for text in answers(stack)[before:] if MiscIds.LOADING.value not in text]
        return bool(found)

    await wait_until(arrived, timeout_seconds=30, what="the app's answer")
    return found[0]


@pytest.mark.parametrize("subcommand", ADMIN_ONLY)
async def test_an_admin_command_passes_the_check_for_an_admin(connected: Driver, subcommand: str) -> None:
    stack = connected.stack
    before = len(answers(stack))
    async with stack.slack(ADMIN_USER) as ann:
        assert (await ann.command(subcommand)).status_code == 200

    answer = await next_answer(stack, before)

    assert LOCK not in answer and "only workspace admins" not in answer, answer[:300]
    await connected.wait_for_runs_to_settle()  # `sync` queued one: later tests compare quiet snapshots


@pytest.mark.parametrize("subcommand", ADMIN_ONLY)
async def test_a_member_typing_an_admin_command_is_refused_and_nothing_changes(
    connected: Driver, subcommand: str
) -> None:
    stack = connected.stack
    before = await snapshot(stack, connected.runtime.sessions)
    refused_before = refusals(stack)

    async with stack.slack(MEMBER_USER) as bob:
        answer = await bob.command(subcommand)

    assert answer.status_code == 200
    await wait_for_refusals(stack, refused_before + 1)
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
    """The admin opens a modal: the view the member will then try to submit by hand (this one, not one an earlier
    test opened: its states and rows must be written before the test takes its snapshot)."""
    before = len(stack.fake_slack.calls("views.update"))
    async with stack.slack(ADMIN_USER) as ann:
        await ann.command(subcommand)
    opened: list[dict[str, Any]] = []

    async def shown() -> bool:
        views = [call.params.get("view") or {} for call in stack.fake_slack.calls("views.update")[before:]]
        opened[:] = [view for view in views if view.get("callback_id") == callback_id]
        return bool(opened)

    await wait_until(shown, timeout_seconds=30, what=f"the {callback_id} modal")
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


# The value each button carries, where it needs a real one (from the connected stack's ledger and runs).
VALUES = {
    FixIds.CREATE_VENDOR: "AGREEMENT",
    FixIds.CREATE_VENDOR_IN_CURRENCY: "AGREEMENT:EUR",
    FixIds.RETRY: "INVOICE",
    FixIds.LINK_BILL: "INVOICE",
    FixIds.SKIP_INVOICE: "INVOICE",
    FixIds.MAP: "BONUS",
    FixIds.MORE: "RUN",
}


async def press(connected: Driver, user_id: str, action_id: str) -> None:
    """`user_id` presses a button under the latest run summary, with the value it would carry."""
    stack = connected.stack
    ledger = await connected.ledger()
    runs = await connected.runs()
    real = {
        "AGREEMENT": str(ledger[0].agreement_id),
        "INVOICE": str(ledger[0].ontop_invoice_id),
        "RUN": str(runs[0].id),
    }
    value = VALUES.get(action_id, "")
    for name, replacement in real.items():
        value = value.replace(name, replacement)
    summary = next(m for m in stack.fake_slack.messages(FINANCE_CHANNEL) if "QuickBooks sync #" in m.get("text", ""))
    async with stack.slack(user_id) as person:
        action = {"type": "button", "action_id": str(action_id), "block_id": "crafted", "value": value}
        payload = block_actions_payload(
            person.actor,
            action,
            trigger_id=stack.fake_slack.mint_trigger_id(user_id),
            message=summary,
            channel=stack.fake_slack.channel_ref(FINANCE_CHANNEL),
            response_url=stack.fake_slack.new_response_url(
                channel_id=FINANCE_CHANNEL, user_id=user_id, message_ts=summary["ts"]
            ),
        )
        answer = await person.post(interactive_body(payload), "application/x-www-form-urlencoded")
    assert answer.status_code == 200, (action_id, answer.text)


@pytest.mark.parametrize("action_id", [str(action_id) for action_id in BUTTONS])
async def test_a_member_pressing_an_admin_button_with_a_crafted_value_is_refused_and_nothing_changes(
    connected: Driver, action_id: str
) -> None:
    stack = connected.stack
    before = await snapshot(stack, connected.runtime.sessions)
    refused_before = refusals(stack)

    await press(connected, MEMBER_USER, action_id)

    await wait_for_refusals(stack, refused_before + 1)
    assert await snapshot(stack, connected.runtime.sessions) == before


@pytest.mark.parametrize("action_id", [str(action_id) for action_id in BUTTONS])
async def test_an_admin_button_passes_the_check_for_an_admin(connected: Driver, action_id: str) -> None:
    stack = connected.stack
    before = len(answers(stack))

    await press(connected, ADMIN_USER, action_id)

    answer = await next_answer(stack, before)
    assert LOCK not in answer and "only workspace admins" not in answer, answer[:300]
    await connected.wait_for_runs_to_settle()
