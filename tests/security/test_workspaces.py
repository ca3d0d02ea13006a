"""Workspace B can never read or act on workspace A's connection, whatever it puts in the parts of a request it
controls: action values, private_metadata, modal values and command text (Slack sets the team ids it signs)."""

from __future__ import annotations

import json
from typing import Any

from devtools.signing import SlackClientSimulator, block_actions_payload, interactive_body, view_submission_payload
from devtools.stack import SIGNING_SECRET, TEAM_ID
from handlers.ids import DisconnectIds, FixIds, HomeIds, MappingIds, SettingsIds
from sync.api import ServiceError, TeamRef
from tests.reliability.support import TEAM, Driver, wait_until
from tests.security.support import ADMIN_B, FINANCE_B, TEAM_B, TwoWorkspaceStack, snapshot, state_from_view

FORM = "application/x-www-form-urlencoded"


def as_b(stack: TwoWorkspaceStack) -> SlackClientSimulator:
    return SlackClientSimulator(stack.app_url, SIGNING_SECRET, TEAM_B, ADMIN_B, stack.fake_slack)


def b_saw(stack: TwoWorkspaceStack) -> str:
    """Everything the app sent towards workspace B's users and channels (views, replies, messages)."""
    fake = stack.fake_slack
    seen = [call.params for call in fake.calls() if call.method != "auth.test" and _for_b(call.params)]
    seen += fake.ephemerals(user_id=ADMIN_B) + fake.messages(FINANCE_B)
    return json.dumps(seen, default=str)


def _for_b(params: dict[str, Any]) -> bool:
    text = json.dumps(params, default=str)
    return ADMIN_B in text or FINANCE_B in text or "view_id" in params


async def test_workspace_b_sees_nothing_of_workspace_a_and_changes_nothing(
    two_workspaces: TwoWorkspaceStack, driver_a: Driver
) -> None:
    stack = two_workspaces
    company = (await driver_a.runtime.service.status(TEAM)).company_name  # type: ignore[union-attr]
    ledger = await driver_a.ledger()
    runs = await driver_a.runs()
    secrets_of_a = {
        "agreement": str(ledger[0].agreement_id),
        "invoice": str(ledger[0].ontop_invoice_id),
        "run": str(runs[0].id),
        "connection": str(driver_a.connection_id),
    }
    before = await snapshot(stack, driver_a.runtime.sessions)

    async with as_b(stack) as cat:
        for text in ("status", "sync", f"map {TEAM_ID}", "sync preview", f"status {TEAM_ID}"):
            assert (await cat.command(text, channel_id=FINANCE_B)).status_code == 200
        for action_id, value in (
            (FixIds.RETRY, secrets_of_a["invoice"]),
            (FixIds.CREATE_VENDOR, secrets_of_a["agreement"]),
            (FixIds.MAP, "BONUS"),
            (HomeIds.SYNC, secrets_of_a["connection"]),
            (HomeIds.DISCONNECT, json.dumps({"team_id": TEAM_ID, "connection_id": secrets_of_a["connection"]})),
            # Buttons carry their connection as "c<id>|<value>": B forges A's connection id into them.
            (HomeIds.SYNC, f"c{secrets_of_a['connection']}|home"),
            (HomeIds.DISCONNECT, f"c{secrets_of_a['connection']}|home"),
            (FixIds.RETRY, f"c{secrets_of_a['connection']}|{secrets_of_a['invoice']}"),
            (FixIds.CREATE_VENDOR, f"c{secrets_of_a['connection']}|{secrets_of_a['agreement']}"),
        ):
            action = {"type": "button", "action_id": str(action_id), "block_id": "crafted", "value": value}
            payload = block_actions_payload(
                cat.actor,
                action,
                trigger_id=stack.fake_slack.mint_trigger_id(ADMIN_B),
                message={"ts": "1.000001", "text": "crafted", "blocks": []},
                channel=stack.fake_slack.channel_ref(FINANCE_B),
                response_url=stack.fake_slack.new_response_url(channel_id=FINANCE_B, user_id=ADMIN_B),
            )
            answer = await cat.post(interactive_body(payload), FORM)
            assert answer.status_code == 200, (action_id, answer.text)
        # B's own modal (opened by /qbo settings) is the view B's forged submissions claim to come from, so that
        # the app's views.update calls land; callback ids and private_metadata point at workspace A.
        assert (await cat.command("settings", channel_id=FINANCE_B)).status_code == 200

        async def b_has_a_view() -> bool:
            return stack.fake_slack.last_view(user_id=ADMIN_B) is not None

        await wait_until(b_has_a_view, timeout_seconds=10, what="a modal in workspace B")
        own_view = stack.fake_slack.last_view(user_id=ADMIN_B)
        assert own_view is not None
        forged_metadata = json.dumps(
            {"team_id": TEAM_ID, "connection_id": driver_a.connection_id, "run_id": runs[0].id, "concept": "BONUS"}
        )
        for callback_id in (MappingIds.CALLBACK, SettingsIds.CALLBACK, DisconnectIds.CALLBACK):
            view = {**own_view, "callback_id": str(callback_id), "private_metadata": forged_metadata}
            payload = view_submission_payload(
                cat.actor, view, state_from_view(view), trigger_id=stack.fake_slack.mint_trigger_id(ADMIN_B)
            )
            answer = await cat.post(interactive_body(payload), FORM)
            assert answer.status_code == 200, (callback_id, answer.text)

    async def answered() -> bool:
        return len(stack.fake_slack.ephemerals(user_id=ADMIN_B)) >= 4  # map opens a modal instead

    await wait_until(answered, timeout_seconds=10, what="replies to workspace B's commands")
    seen = b_saw(stack)
    assert company not in seen, "workspace B was shown workspace A's company"
    shown = [row.invoice_number for row in ledger if row.invoice_number and row.invoice_number in seen]
    assert not shown, f"workspace B was shown A's invoices {shown}"
    assert f"<@{ADMIN_B}>" not in json.dumps(stack.fake_slack.messages("C0FIN")), "nothing of B's landed in A's channel"

    async def a_unchanged() -> bool:
        after = await snapshot(stack, driver_a.runtime.sessions)
        b_ids = {row[0] for row in after["workspaces"] if TEAM_B in row}
        return without_workspaces(after, b_ids) == without_workspaces(before, b_ids)

    async def forged_submissions_answered() -> bool:
        updates = [c for c in stack.fake_slack.calls("views.update") if c.params.get("view_id") == own_view["id"]]
        return len(updates) >= 3  # each forged submission ends with a views.update of B's modal

    await wait_until(forged_submissions_answered, timeout_seconds=10, what="the app to finish B's submissions")
    # B's own settings save lands after the ack; whatever B did to its own workspace, A's rows stay as they were.
    await wait_until(a_unchanged, timeout_seconds=5, what="workspace A's rows to be as before")
    after = await snapshot(stack, driver_a.runtime.sessions)
    assert len(after["sync_runs"]) == len(before["sync_runs"]) and after["qbo_writes"] == before["qbo_writes"]


def without_workspaces(tables: dict[str, Any], workspace_ids: set[Any]) -> dict[str, Any]:
    """The snapshot minus the rows of these workspaces (B's own row, and B's audit of changing B's own settings)."""
    return {
        **tables,
        "workspaces": [row for row in tables["workspaces"] if row[0] not in workspace_ids],
        "audit_events": [row for row in tables["audit_events"] if row[1] not in workspace_ids],
    }


async def test_the_service_never_answers_one_workspace_with_another_workspace_s_run_or_invoice(
    two_workspaces: TwoWorkspaceStack, driver_a: Driver
) -> None:
    service = driver_a.runtime.service
    team_b = TeamRef(TEAM_B)
    await service.ensure_workspace(team_b, "Beta")
    runs = await driver_a.runs()
    ledger = await driver_a.ledger()

    assert await service.run_summary(TEAM, runs[0].id) is not None  # the control
    assert await service.run_summary(team_b, runs[0].id) is None
    assert await service.status(team_b) is None
    assert await service.account_options(team_b) == []
    forged = team_b.on(driver_a.connection_id)  # B claims A's connection, as a forged button or modal would
    for attempt in (
        service.retry_invoice(team_b, ADMIN_B, ledger[0].ontop_invoice_id),
        service.create_missing_vendors(team_b, ADMIN_B, [str(ledger[0].agreement_id)]),
        service.request_sync(team_b, ADMIN_B),
        service.disconnect(team_b, ADMIN_B),
        service.request_sync(forged, ADMIN_B),
        service.status(forged),
        service.mapping_rows(forged),
        service.save_mappings(forged, ADMIN_B, {"BONUS": "1"}),
        service.disconnect(forged, ADMIN_B),
        service.which_connection(forged),
    ):
        try:
            await attempt
        except ServiceError:
            continue
        raise AssertionError("workspace B acted without a connection of its own")
    status = await service.status(TEAM)
    assert status is not None and status.status == "active"
