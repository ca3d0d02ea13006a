"""The approval gate in Slack: the review message, who may decide it, its details modal, its reminder and expiry,
and the preview that can turn into a review."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from devtools.signing import (
    FORM_CONTENT_TYPE,
    SlackClientSimulator,
    block_actions_payload,
    interactive_body,
    view_state,
)
from handlers.ids import ReviewIds, SettingsIds
from handlers.views.review import preview_message, review_details_view, review_message
from sync.api import ReviewInvoice, ReviewPage, ReviewSettings, ReviewState, ReviewView, SyncPreview
from sync.outbox import NotificationKind, NotificationRecord
from tests.slack.conftest import BOT_TOKEN, TEAM, RecordedSteps, RunningApp
from tests.slack.fakes import FakeService, sample_review, sample_review_invoices
from tests.slack.test_blocks import assert_valid_message

EVIL = "<!channel> *Bold* <https://evil.example|click> & co"


def texts(thing: dict[str, Any]) -> str:
    return json.dumps(thing.get("blocks", []), ensure_ascii=False)


def button_ids(blocks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (element["action_id"], element.get("value", ""))
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


async def post_review(app: RunningApp, review: ReviewView) -> str:
    """The review message in #finance (as the outbox posts it); its ts."""
    client = AsyncWebClient(token=BOT_TOKEN, base_url=app.fake.api_url)
    posted = await client.chat_postMessage(channel="C0FIN", **review_message(review).as_kwargs())
    return str(posted["ts"])


def many_invoices(count: int) -> list[ReviewInvoice]:
    return [
        ReviewInvoice(f"inv-{n}", f"ONT-{n:04d}", f"Worker {n}", Decimal("100.00"), "USD", Decimal("100.00"))
        for n in range(count)
    ]


# --- the message ------------------------------------------------------------------------------------------------


def test_a_review_message_says_what_would_be_posted_and_offers_approve_details_and_skip() -> None:
    message = review_message(sample_review(3))

    assert_valid_message(message)
    body = json.dumps(message.blocks, ensure_ascii=False)
    assert "*2 bills* to post" in body and "*1 supplier* to create" in body
    assert "Totals: 13,750.00 BRL · 980.50 USD (in USD: 3,663.43 USD)" in body
    assert "*ONT-2011* · Ana Gómez · 13,750.00 BRL (2,682.93 USD)" in body
    assert "Blocked, not in this posting: 1 invoice" in body and "Concept Bonus is not mapped" in body
    assert button_ids(message.blocks)[-3:] == [
        (ReviewIds.APPROVE, "3"),
        (ReviewIds.DETAILS, "3"),
        (ReviewIds.SKIP, "3"),
    ]
    assert "QuickBooks sync #" not in message.text  # never mistaken for a run's summary
    assert message.text.startswith("Review #3 before posting: 2 bills, 3,663.43 USD")


def test_a_decided_review_says_who_approved_and_when_and_has_no_buttons() -> None:
    decided_at = datetime(2026, 11, 26, 9, 24, tzinfo=UTC)
    approved = replace(sample_review(3), state=ReviewState.APPROVED, decided_by="U0ANN", decided_at=decided_at)

    message = review_message(approved)

    body = json.dumps(message.blocks, ensure_ascii=False)
    assert f":white_check_mark: Approved by <@U0ANN> at <!date^{int(decided_at.timestamp())}^" in body
    assert not [b for b in message.blocks if b["type"] == "actions"]


def test_names_from_ontop_are_escaped_in_the_review_and_its_details() -> None:
    evil = [replace(invoice, worker_name=EVIL, invoice_number=EVIL) for invoice in sample_review_invoices()]
    review = sample_review(3)
    review = replace(review, content=replace(review.content, largest=evil))

    message = review_message(review)
    details = review_details_view(ReviewPage(review, evil, 0, 1))

    body = json.dumps(message.blocks, ensure_ascii=False)
    assert "<!channel>" not in body and "&lt;!channel&gt;" in body
    assert "<https://evil" not in body
    options = [o for b in details["blocks"] if b["type"] == "input" for o in b["element"]["options"]]
    assert all(o["text"]["type"] == "plain_text" and len(o["text"]["text"]) <= 75 for o in options)


def test_the_details_modal_pages_invoices_in_groups_of_ten_within_slacks_limits() -> None:
    review = replace(sample_review(3), invoices=120)
    invoices = many_invoices(50)

    view = review_details_view(ReviewPage(review, invoices, 1, 3))

    groups = [b for b in view["blocks"] if b["type"] == "input"]
    assert len(groups) == 5 and all(len(group["element"]["options"]) <= 10 for group in groups)
    assert len(view["blocks"]) <= 100
    assert json.loads(view["private_metadata"]) == {"review_id": 3, "page": 1}
    assert [action for action, _ in button_ids(view["blocks"])] == [
        f"{ReviewIds.PAGE}-prev",
        f"{ReviewIds.PAGE}-next",
    ]


# --- deciding -----------------------------------------------------------------------------------------------------


async def test_approval_by_someone_who_is_not_an_admin_is_refused(
    app: RunningApp, connected: FakeService, slack
) -> None:
    connected.add_review("T0001", sample_review(3))
    ts = await post_review(app, sample_review(3))

    await slack.as_user("U0BOB").click_message_button("C0FIN", ts, ReviewIds.APPROVE)

    app.fake.recorder.wait_for("response_url")
    [refusal] = app.fake.ephemerals(user_id="U0BOB")
    assert "only workspace admins" in refusal["text"]
    assert connected.calls("approve_review") == []
    message = app.fake.message("C0FIN", ts)
    assert message is not None and (ReviewIds.APPROVE, "3") in button_ids(message["blocks"])


async def test_an_admin_approves_and_the_message_records_who_and_when(
    app: RunningApp, connected: FakeService, slack
) -> None:
    connected.add_review("T0001", sample_review(3))
    ts = await post_review(app, sample_review(3))

    response = await slack.click_message_button("C0FIN", ts, ReviewIds.APPROVE)

    assert response.status_code == 200
    [call] = connected.wait_for_call("approve_review")
    assert call.team_id == "T0001" and call.args == {"user_id": "U0ANN", "review_id": 3}
    app.fake.recorder.wait_for("chat.update")
    message = app.fake.message("C0FIN", ts)
    assert message is not None
    assert "Approved by <@U0ANN> at" in texts(message)
    assert button_ids(message["blocks"]) == []


async def test_pressing_approve_on_a_review_decided_elsewhere_changes_nothing_and_says_so(
    app: RunningApp, connected: FakeService, slack
) -> None:
    skipped = replace(sample_review(3), state=ReviewState.SKIPPED, decided_by="U0BOB")
    connected.add_review("T0001", skipped)
    ts = await post_review(app, sample_review(3))  # the channel still shows it pending

    await slack.click_message_button("C0FIN", ts, ReviewIds.APPROVE)

    app.fake.recorder.wait_for("response_url")
    [answer] = app.fake.ephemerals(user_id="U0ANN")
    assert "already skipped" in answer["text"]
    app.fake.recorder.wait_for("chat.update")
    message = app.fake.message("C0FIN", ts)
    assert message is not None and "Skipped by <@U0BOB>" in texts(message)


async def test_review_details_opens_the_list_and_saving_leaves_the_ticked_invoices_out(
    app: RunningApp, connected: FakeService, slack
) -> None:
    connected.add_review("T0001", sample_review(3))
    ts = await post_review(app, sample_review(3))

    await slack.click_message_button("C0FIN", ts, ReviewIds.DETAILS)
    app.fake.recorder.wait_for("views.update")
    view = app.fake.last_view(ReviewIds.DETAILS_CALLBACK)
    assert view is not None and "ONT-2011" in texts(view)
    [group] = [b for b in view["blocks"] if b["type"] == "input"]
    ana = next(o for o in group["element"]["options"] if o["value"] == "inv-11")
    await slack.submit_view(
        view["id"], {group["block_id"]: {ReviewIds.EXCLUDE: {"type": "checkboxes", "selected_options": [ana]}}}
    )

    [saved] = connected.wait_for_call("save_review_exclusions")
    assert saved.args == {"user_id": "U0ANN", "review_id": 3, "shown": ["inv-11", "inv-12"], "excluded": ["inv-11"]}
    app.fake.recorder.wait_for("views.update", 2)
    result = app.fake.last_view("result-view")
    assert result is not None and "1 invoice left out" in texts(result)


async def test_a_non_admin_cannot_open_a_reviews_details(app: RunningApp, connected: FakeService, slack) -> None:
    connected.add_review("T0001", sample_review(3))
    ts = await post_review(app, sample_review(3))

    await slack.as_user("U0BOB").click_message_button("C0FIN", ts, ReviewIds.DETAILS)

    app.fake.recorder.wait_for("views.update")
    view = app.fake.last_view(user_id="U0BOB")
    assert view is not None and "only workspace admins" in texts(view)
    assert connected.calls("review_page") == []


# --- delivery: the message, its reminder, its expiry --------------------------------------------------------------


def review_notification(steps: RecordedSteps, review_id: int, event: str) -> NotificationRecord:
    return replace(
        steps.record(0, NotificationKind.REVIEW),
        run_id=None,
        key=f"review:{review_id}" if event == "posted" else f"review:{review_id}:{event}",
        payload={"review_id": review_id, "event": event},
    )


async def test_a_review_is_posted_once_in_the_finance_channel(app: RunningApp, connected: FakeService) -> None:
    connected.add_review("T0001", sample_review(3))
    steps = RecordedSteps(notification_id=41)

    assert await app.notifier.deliver(TEAM, review_notification(steps, 3, "posted"), steps) is None
    assert await app.notifier.deliver(TEAM, review_notification(steps, 3, "posted"), steps) is None  # redelivered

    [posted] = app.fake.top_level("C0FIN")
    assert steps.channel_id == "C0FIN" and steps.ts == posted["ts"]
    assert posted["metadata"]["event_payload"] == {"notification_id": 41, "part": "top"}
    assert (ReviewIds.APPROVE, "3") in button_ids(posted["blocks"])


async def test_the_reminder_goes_to_the_reviews_thread_and_the_expiry_takes_its_buttons_away(
    app: RunningApp, connected: FakeService
) -> None:
    ts = await post_review(app, sample_review(3))
    connected.add_review("T0001", replace(sample_review(3), message=("C0FIN", ts)))
    reminder = RecordedSteps(notification_id=42)

    await app.notifier.deliver(TEAM, review_notification(reminder, 3, "reminder"), reminder)

    [reply] = [m for m in app.fake.messages("C0FIN") if m.get("thread_ts") == ts]
    assert "Review #3 expires" in reply["text"] and reply.get("reply_broadcast") in (True, "true")
    expired = replace(sample_review(3), message=("C0FIN", ts), state=ReviewState.EXPIRED, decided_at=datetime.now(UTC))
    connected.add_review("T0001", expired)
    expiry = RecordedSteps(notification_id=43)
    await app.notifier.deliver(TEAM, review_notification(expiry, 3, "expired"), expiry)
    message = app.fake.message("C0FIN", ts)
    assert message is not None and "Expired on" in texts(message) and button_ids(message["blocks"]) == []


# --- the preview ---------------------------------------------------------------------------------------------------


async def click_in_ephemeral(
    app: RunningApp, slack: SlackClientSimulator, message: dict[str, Any], action_id: str
) -> None:
    """Press a button of an ephemeral answer (only its author sees it; Slack still sends its response_url)."""
    for block in message["blocks"]:
        elements = [*block.get("elements", []), *([block["accessory"]] if "accessory" in block else [])]
        found = next((element for element in elements if element.get("action_id") == action_id), None)
        if found is not None:
            action = {key: found[key] for key in ("type", "action_id", "text", "value") if key in found}
            action["block_id"] = block.get("block_id", "")
            break
    else:
        raise LookupError(action_id)
    payload = block_actions_payload(
        slack.actor,
        action,
        trigger_id=app.fake.mint_trigger_id(slack.actor.user_id),
        message={**message, "ts": "1700000000.000100"},
        channel=app.fake.channel_ref("C0FIN"),
        response_url=app.fake.new_response_url(channel_id="C0FIN", user_id=slack.actor.user_id),
    )
    await slack.post(interactive_body(payload), FORM_CONTENT_TYPE)


async def test_the_preview_shows_the_review_content_and_an_admin_can_ask_the_channel_for_approval(
    app: RunningApp, connected: FakeService, slack: SlackClientSimulator
) -> None:
    await slack.command("sync preview")
    app.fake.recorder.wait_for("response_url")
    [preview] = app.fake.ephemerals(user_id="U0ANN")
    body = texts(preview)
    assert "Totals: 13,750.00 BRL · 980.50 USD" in body and "*ONT-2011* · Ana Gómez" in body
    assert "Excluded by an admin: 1" in body

    await click_in_ephemeral(app, slack, preview, ReviewIds.REQUEST)

    [call] = connected.wait_for_call("request_review")
    assert call.team_id == "T0001" and call.args == {"user_id": "U0ANN"}
    app.fake.recorder.wait_for("response_url", 2)
    answer = app.fake.ephemerals(user_id="U0ANN")[-1]
    assert "is on its way to <#C0FIN>" in answer["text"]


async def test_only_an_admin_asks_for_approval_or_includes_an_invoice_again(
    app: RunningApp, connected: FakeService, slack: SlackClientSimulator
) -> None:
    await slack.command("sync preview")
    app.fake.recorder.wait_for("response_url")
    [preview] = app.fake.ephemerals(user_id="U0ANN")
    bob = slack.as_user("U0BOB")

    await click_in_ephemeral(app, bob, preview, ReviewIds.REQUEST)
    await click_in_ephemeral(app, bob, preview, ReviewIds.INCLUDE)

    app.fake.recorder.wait_for("response_url", 3)
    refusals = app.fake.ephemerals(user_id="U0BOB")
    assert len(refusals) == 2 and all("only workspace admins" in r["text"] for r in refusals)
    assert connected.calls("request_review") == connected.calls("include_invoice") == []


async def test_include_again_from_the_preview(
    app: RunningApp, connected: FakeService, slack: SlackClientSimulator
) -> None:
    await slack.command("sync preview")
    app.fake.recorder.wait_for("response_url")
    [preview] = app.fake.ephemerals(user_id="U0ANN")

    await click_in_ephemeral(app, slack, preview, ReviewIds.INCLUDE)

    [call] = connected.wait_for_call("include_invoice")
    assert call.args == {"user_id": "U0ANN", "invoice_id": "inv-13"}
    assert connected.team("T0001").included_again == ["inv-13"]


def test_names_in_the_previews_excluded_invoices_are_escaped() -> None:
    review = sample_review(3)
    excluded = [replace(sample_review_invoices()[0], worker_name=EVIL, excluded=True)]
    content = replace(review.content, excluded=excluded, excluded_count=1)

    message = preview_message(SyncPreview(2, 0, 1, {}, 0, 0, 0, 1, 0, content=content))

    assert_valid_message(message)
    body = json.dumps(message.blocks, ensure_ascii=False)
    assert "<!channel>" not in body and "&lt;!channel&gt;" in body
    accessories = [(b["accessory"]["action_id"], b["accessory"]["value"]) for b in message.blocks if "accessory" in b]
    assert (ReviewIds.INCLUDE, "inv-11") in accessories


# --- settings ------------------------------------------------------------------------------------------------------


async def test_the_settings_modal_saves_the_approval_gate_and_its_threshold(
    app: RunningApp, connected: FakeService, slack
) -> None:
    state = connected.team("T0001")
    state.settings = replace(state.settings, review=ReviewSettings())
    await slack.command("settings")
    app.fake.recorder.wait_for("views.update")
    view = app.fake.last_view(SettingsIds.CALLBACK)
    assert view is not None
    review_block = next(b for b in view["blocks"] if b.get("block_id") == SettingsIds.REVIEW_BLOCK)
    options = {o["value"]: o for o in review_block["element"]["options"]}
    assert [o["value"] for o in review_block["element"]["initial_options"]] == [SettingsIds.REVIEW_FIRST]

    answers = {
        SettingsIds.REVIEW_BLOCK: [options[SettingsIds.REVIEW_FIRST], options[SettingsIds.REVIEW_LATER]],
        SettingsIds.OVER_BILLS_BLOCK: "200",
        SettingsIds.OVER_USD_BLOCK: "25000",
    }
    await slack.submit_view(view["id"], view_state(view, answers))

    [call] = connected.wait_for_call("update_settings")
    assert call.args["review"] == ReviewSettings(
        first_sync=True, later_runs=True, over_bills=200, over_usd=Decimal("25000.00")
    )
