"""Finance-channel notifications and the buttons on them, and the App Home dashboard."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

from handlers.ids import BooksIds, FixIds, HomeIds, MappingIds
from handlers.notify import MessageRef
from sync.api import Fix, FixKind, InvoiceFailure, RunSummary, ServiceError
from sync.outbox import NotificationKind
from tests.slack.conftest import TEAM, RecordedSteps, RunningApp
from tests.slack.fakes import FakeService, sample_run


def texts(thing: dict[str, Any]) -> str:
    return json.dumps(thing.get("blocks", []), ensure_ascii=False)


async def post_summary(app: RunningApp, run: RunSummary | None = None) -> MessageRef:
    """The outbox delivers a finished run's summary; where its top-level message landed."""
    steps = await app.deliver_run(run or sample_run())
    assert steps.results == [None] and steps.channel_id and steps.ts
    return MessageRef(TEAM, steps.channel_id, steps.ts, fell_back=steps.fell_back is not None)


async def post_reauth_alert(app: RunningApp) -> MessageRef:
    steps = RecordedSteps(notification_id=900)
    notification = replace(steps.record(0, NotificationKind.REAUTH), run_id=None, payload={"refused": True})
    assert await app.notifier.deliver(TEAM, notification, steps) is None
    assert steps.channel_id and steps.ts
    return MessageRef(TEAM, steps.channel_id, steps.ts, fell_back=steps.fell_back is not None)


async def test_run_progress_then_summary_update_one_message(app: RunningApp, connected: FakeService) -> None:
    started = await app.notifier.run_started(TEAM, replace(sample_run(), finished_at=None))
    assert started is not None and started.channel_id == "C0FIN" and not started.fell_back
    await app.notifier.run_progress(started, 7, 5, 20, requested_by="U0ANN")
    progress = app.fake.message("C0FIN", started.ts)
    assert progress is not None and "5/20 invoices (25%)" in progress["text"]
    await post_summary(app, replace(sample_run(), progress_message=(started.channel_id, started.ts)))
    [summary] = [m for m in app.fake.messages("C0FIN") if "thread_ts" not in m]
    assert summary["ts"] == started.ts
    assert "sync #7 finished with problems in 1m 05s" in summary["text"]
    assert "10 bills booked" in summary["text"]


async def test_summary_groups_failures_and_offers_one_button_per_fix(app: RunningApp, connected: FakeService) -> None:
    ref = await post_summary(app)
    message = app.fake.message("C0FIN", ref.ts)
    assert message is not None
    body = texts(message)
    assert "Concept Bonus is not mapped" in body and "ONT-1001" in body and "Ana Gómez" in body
    assert "1,250.00 USD" in body
    buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        (FixIds.MAP, "bonus"),
        (FixIds.CREATE_VENDOR, "agr-2"),
        (FixIds.RETRY, "inv-3"),
    ]


async def test_long_failure_lists_go_to_the_thread(app: RunningApp, connected: FakeService) -> None:
    from tests.slack.fakes import sample_failures

    many = [
        replace(f, invoice_id=f"inv-{n}", invoice_number=f"ONT-{n}") for n in range(60) for f in sample_failures()[:1]
    ]
    ref = await post_summary(app, sample_run(failures=many))
    thread = [m for m in app.fake.messages("C0FIN") if m.get("thread_ts") == ref.ts]
    pages = [m for m in thread if str(m.get("metadata", {}).get("event_payload", {}).get("part")).startswith("page-")]
    assert len(pages) == 3  # 60 failures, 20 per reply
    assert "ONT-59" in texts(pages[-1])
    assert len(app.fake.files("C0FIN")) == 1  # and all of them in a CSV


async def test_map_button_opens_the_mapping_modal_at_that_concept(
    app: RunningApp, connected: FakeService, slack
) -> None:
    ref = await post_summary(app)
    response = await slack.click_message_button("C0FIN", ref.ts, FixIds.MAP)
    assert response.status_code == 200
    app.fake.recorder.wait_for("views.update")
    view = app.fake.last_view(MappingIds.CALLBACK)
    assert view is not None
    first_input = next(b for b in view["blocks"] if b["type"] == "input")
    assert first_input["block_id"] == "concept:bonus"


async def test_create_supplier_button_creates_only_that_worker_in_this_workspace(
    app: RunningApp, connected: FakeService, slack
) -> None:
    ref = await post_summary(app)
    await slack.click_message_button("C0FIN", ref.ts, FixIds.CREATE_VENDOR)
    app.fake.recorder.wait_for("views.update")
    [call] = connected.wait_for_call("create_missing_vendors")
    assert call.team_id == "T0001" and call.args["agreement_ids"] == ["agr-2"]
    result = app.fake.last_view("result-view")
    assert result is not None and "Created 1 supplier." in texts(result)


async def test_retry_button_queues_a_retry_of_that_invoice(app: RunningApp, connected: FakeService, slack) -> None:
    ref = await post_summary(app)
    await slack.click_message_button("C0FIN", ref.ts, FixIds.RETRY)
    [call] = connected.wait_for_call("retry_invoice")
    assert call.team_id == "T0001" and call.args == {"user_id": "U0ANN", "invoice_id": "inv-3"}


def books_failures() -> list[InvoiceFailure]:
    """The failures the books add: a supplier in another currency, a bill somebody else made, no pay-from account."""
    return [
        InvoiceFailure(
            "inv-1",
            "ONT-1001",
            "Ana Gómez",
            Decimal("900.00"),
            "EUR",
            "Ana Gómez's supplier in QuickBooks is in ARS; this invoice is in EUR.",
            Fix(FixKind.CREATE_VENDOR_IN_CURRENCY, "agr-1:EUR", "Ana Gómez (EUR)"),
        ),
        InvoiceFailure(
            "inv-2",
            "ONT-1002",
            "Ben Li",
            Decimal("980.50"),
            "USD",
            "A bill ONT-1002 exists in QuickBooks that this bot did not make.",
            Fix(FixKind.LINK_BILL, "inv-2"),
        ),
        InvoiceFailure("", "", "Acme", None, None, "Choose the account bills are paid from.", Fix(FixKind.BOOKS, "1")),
    ]


async def test_books_failures_offer_their_fixes_and_a_foreign_bill_can_be_linked_or_skipped(
    app: RunningApp, connected: FakeService
) -> None:
    ref = await post_summary(app, sample_run(failures=books_failures()))
    message = app.fake.message("C0FIN", ref.ts)
    assert message is not None
    buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["value"], b["text"]["text"]) for b in buttons] == [
        (FixIds.CREATE_VENDOR_IN_CURRENCY, "agr-1:EUR", "Create supplier Ana Gómez (EUR)"),
        (FixIds.LINK_BILL, "inv-2", "Link bill ONT-1002"),
        (FixIds.SKIP_INVOICE, "inv-2", "Skip ONT-1002"),
        (FixIds.BOOKS, "1", "Choose the accounts"),
    ]


async def test_create_supplier_in_currency_button_creates_that_workers_second_supplier(
    app: RunningApp, connected: FakeService, slack
) -> None:
    connected.team("T0001").last_run = sample_run(failures=books_failures())
    ref = await post_summary(app, sample_run(failures=books_failures()))
    await slack.click_message_button("C0FIN", ref.ts, FixIds.CREATE_VENDOR_IN_CURRENCY)
    [call] = connected.wait_for_call("create_vendor_in_currency")
    assert call.team_id == "T0001" and (call.args["agreement_id"], call.args["currency"]) == ("agr-1", "EUR")
    app.fake.recorder.wait_for("views.update")
    result = app.fake.last_view("result-view")
    assert result is not None and "Ana Gómez (EUR)" in texts(result)


async def test_link_and_skip_buttons_act_on_that_invoice_only(app: RunningApp, connected: FakeService, slack) -> None:
    connected.team("T0001").last_run = sample_run(failures=books_failures())
    ref = await post_summary(app, sample_run(failures=books_failures()))
    await slack.click_message_button("C0FIN", ref.ts, FixIds.LINK_BILL)
    [link] = connected.wait_for_call("link_bill")
    assert link.args == {"user_id": "U0ANN", "invoice_id": "inv-2"}
    app.fake.recorder.wait_for("views.update")
    assert "ONT-1002 is now this invoice" in texts(app.fake.last_view("result-view") or {})
    await slack.click_message_button("C0FIN", ref.ts, FixIds.SKIP_INVOICE)
    [skip] = connected.wait_for_call("skip_invoice")
    assert skip.args == {"user_id": "U0ANN", "invoice_id": "inv-2"}
    assert connected.team("T0001").skipped_invoices == {"inv-2"}


async def test_books_button_opens_the_mapping_modal_at_its_books_part(
    app: RunningApp, connected: FakeService, slack
) -> None:
    ref = await post_summary(app, sample_run(failures=books_failures()))
    await slack.click_message_button("C0FIN", ref.ts, FixIds.BOOKS)
    app.fake.recorder.wait_for("views.update")
    view = app.fake.last_view(MappingIds.CALLBACK)
    assert view is not None and any(b.get("block_id") == BooksIds.PAY_FROM_BLOCK for b in view["blocks"])


async def test_a_done_fix_leaves_the_summary_and_says_who_did_it_in_the_thread(
    app: RunningApp, connected: FakeService, slack
) -> None:
    ref = await post_summary(app)
    posted = len(app.fake.calls("chat.postMessage"))
    await slack.click_message_button("C0FIN", ref.ts, FixIds.CREATE_VENDOR)
    connected.wait_for_call("create_missing_vendors")
    app.fake.recorder.wait_for("chat.postMessage", posted + 1)  # the note in the thread comes last

    message = app.fake.message("C0FIN", ref.ts)
    assert message is not None
    buttons = [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert FixIds.CREATE_VENDOR not in buttons and FixIds.RETRY in buttons  # only the fix that was done goes
    assert "done by <@U0ANN>" in texts(message)
    thread = [m for m in app.fake.messages("C0FIN") if m.get("thread_ts") == ref.ts]
    assert any("done by <@U0ANN>" in m["text"] for m in thread)


async def test_a_refused_fix_keeps_its_button(app: RunningApp, connected: FakeService, slack) -> None:
    connected.failures["create_missing_vendors"] = ServiceError("QuickBooks is busy, try again in a minute.")
    ref = await post_summary(app)
    await slack.click_message_button("C0FIN", ref.ts, FixIds.CREATE_VENDOR)
    app.fake.recorder.wait_for("views.update")

    message = app.fake.message("C0FIN", ref.ts)
    assert message is not None and "done by" not in texts(message)


async def test_fix_button_by_a_non_admin_is_refused(app: RunningApp, connected: FakeService, slack) -> None:
    ref = await post_summary(app)
    await slack.as_user("U0BOB").click_message_button("C0FIN", ref.ts, FixIds.RETRY)
    app.fake.recorder.wait_for("views.update")
    assert "only workspace admins" in texts(app.fake.last_view("result-view") or {})
    assert connected.calls("retry_invoice") == []


async def test_reauth_alert_has_a_reconnect_button_that_opens_connect(
    app: RunningApp, connected: FakeService, slack
) -> None:
    ref = await post_reauth_alert(app)
    message = app.fake.message("C0FIN", ref.ts)
    assert message is not None and "reconnected" in message["text"]
    await slack.click_message_button("C0FIN", ref.ts, FixIds.RECONNECT)
    app.fake.recorder.wait_for("views.update")
    assert app.fake.last_view("connect-submit") is not None


async def test_channel_without_the_bot_falls_back_to_the_requesters_dm_and_says_so(
    app: RunningApp, connected: FakeService
) -> None:
    state = connected.team("T0001")
    state.settings = replace(state.settings, finance_channel_id="G0PAY")  # private, bot not invited
    ref = await post_summary(app)
    assert ref.fell_back and ref.channel_id.startswith("D")
    message = app.fake.message(ref.channel_id, ref.ts)
    assert message is not None
    assert "Sent to you directly" in texts(message) and "/invite me" in texts(message)
    assert "sync #7 finished with problems" in message["text"]


async def test_archived_channel_falls_back_to_the_first_admin(app: RunningApp, connected: FakeService) -> None:
    app.fake.set_channel("C0FIN", is_archived=True)
    state = connected.team("T0001")
    state.settings = replace(state.settings, admin_user_ids=["U0BOB"])
    ref = await post_reauth_alert(app)
    assert ref.fell_back
    [open_call] = app.fake.calls("conversations.open")
    assert open_call.params["users"] == "U0BOB"
    assert "archived" in texts(app.fake.message(ref.channel_id, ref.ts) or {})


async def test_home_tab_shows_the_dashboard_with_actions(app: RunningApp, connected: FakeService, slack) -> None:
    response = await slack.open_home()
    assert response.status_code == 200
    app.fake.recorder.wait_for("views.publish")
    home = app.fake.home_view("U0ANN")
    assert home is not None
    body = texts(home)
    assert "Acme Books LLC" in body and "Failures to fix" in body
    action_ids = {e["action_id"] for b in home["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert {HomeIds.SYNC, HomeIds.MAP, HomeIds.VENDORS, HomeIds.SETTINGS, HomeIds.DISCONNECT} <= action_ids


async def test_messages_tab_publishes_nothing(app: RunningApp, connected: FakeService, slack) -> None:
    await slack.open_home(tab="messages")
    await slack.open_home()  # processed after the first: once it published, the first had its turn
    app.fake.recorder.wait_for("views.publish")
    assert len(connected.calls("ensure_workspace")) == 1
    assert len(app.fake.calls("views.publish")) == 1


async def test_home_sync_button_queues_a_sync_and_confirms_in_a_modal(
    app: RunningApp, connected: FakeService, slack
) -> None:
    await slack.open_home()
    app.fake.recorder.wait_for("views.publish")
    home = app.fake.home_view("U0ANN")
    assert home is not None
    await slack.click_view_element(home["id"], HomeIds.SYNC)
    [call] = connected.wait_for_call("request_sync")
    assert call.team_id == "T0001"
    app.fake.recorder.wait_for("views.update")
    assert "queued" in texts(app.fake.last_view("result-view") or {})


async def test_notifier_uses_the_team_it_is_given(app: RunningApp, connected: FakeService) -> None:
    await post_summary(app)
    assert {c.team_id for c in connected.calls("workspace_settings")} == {"T0001"}


async def test_summary_is_posted_anew_when_the_progress_message_was_deleted(
    app: RunningApp, connected: FakeService
) -> None:
    started = await app.notifier.run_started(TEAM, replace(sample_run(), finished_at=None))
    assert started is not None
    app.fake.fail_next("chat.update", error="message_not_found", times=2)
    await app.notifier.run_progress(started, 7, 1, 2)  # a lost progress update is not an error
    ref = await post_summary(app, replace(sample_run(), progress_message=(started.channel_id, started.ts)))
    assert ref.ts != started.ts
    summary = app.fake.message("C0FIN", ref.ts)
    assert summary is not None and "sync #7 finished with problems" in summary["text"]
