"""Truthful run summaries: exact counts by cause, one named button per fix, review cases apart, plain words."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from handlers import labels, run_messages
from handlers.blocks import Message
from handlers.ids import FixIds, MappingIds
from sync.api import (
    FailureGroup,
    Fix,
    FixKind,
    InvoiceFailure,
    QboLinks,
    ReviewCase,
    RunStatus,
    RunSummary,
    RunTrigger,
)
from tests.slack.conftest import BOT_TOKEN, RunningApp
from tests.slack.fakes import FakeService, sample_run
from tests.slack.test_blocks import assert_valid_message

LINKS = QboLinks("https://app.sandbox.qbo.intuit.com")


def failure(number: str, worker: str, fix: Fix | None, code: str, reason: str, **more: Any) -> InvoiceFailure:
    amount = more.pop("amount", Decimal("13750.00"))
    currency = more.pop("currency", "BRL")
    return InvoiceFailure(f"inv-{number}", number, worker, amount, currency, reason, fix, code=code, **more)


def holiday_pay() -> FailureGroup:
    fix = Fix(FixKind.MAP_CONCEPT, "HOLIDAY_PAY")
    reason = "concept Holiday pay is not mapped to a QuickBooks account"
    examples = [
        failure(f"ONT-{n}", "Ana Gómez", fix, "unmapped_concept", reason, amount_usd=Decimal("2682.93"))
        for n in range(3)
    ]
    return FailureGroup("unmapped_concept", reason, 40, fix, examples)


def missing_suppliers() -> FailureGroup:
    """The service's one group for a cause with a fix per worker (FailureGroup.fixes)."""
    fixes = [
        Fix(FixKind.CREATE_VENDOR, "agr-1", "Camila dell'Acqua"),
        Fix(FixKind.CREATE_VENDOR, "agr-2", "Ben Li"),
    ]
    examples = [
        failure("ONT-201", "Camila dell'Acqua", fixes[0], "no_vendor", "Camila dell'Acqua is not a supplier"),
        failure("ONT-202", "Ben Li", fixes[1], "no_vendor", "Ben Li is not a supplier"),
    ]
    return FailureGroup("no_vendor", examples[0].reason, 3, fixes[0], examples, fixes=fixes)


def refused(number: int) -> FailureGroup:
    fix = Fix(FixKind.RETRY, f"inv-R{number}")
    reason = f"QuickBooks refused the bill: Duplicate Document Number R{number} [code 6140]"
    example = failure(f"R{number}", "Ben Li", fix, "qbo_6140", reason, amount=Decimal("10.00"), currency="USD")
    return FailureGroup("qbo_6140", reason, 1, fix, [example])


def support_case() -> FailureGroup:
    reason = "the USD amounts of invoice ONT-9's lines are more than a cent away from its USD total"
    return FailureGroup("usd_lines_off", reason, 2, None, [failure("ONT-9", "Caro", None, "usd_lines_off", reason)])


def rich_summary(**changes: Any) -> RunSummary:
    groups = [holiday_pay(), missing_suppliers(), *[refused(n) for n in range(4)], support_case()]
    summary = replace(
        sample_run(failures=[example for group in groups for example in group.examples]),
        run_id=12,
        failed=sum(group.count for group in groups),
        failure_groups=groups,
        bills_created=40,
        already_synced=5,
        skipped=3,
        held=2,
        review_cases=[
            ReviewCase("inv-77", "ONT-77", "Dana", "cancelled in Ontop after bill 151 was created", "151", "ONT-77")
        ],
        review_count=4,
        home_currency="EUR",
        booked_home_total=Decimal("12345.67"),
    )
    return replace(summary, **changes)


def body(message: Message) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def buttons(message: Message) -> list[tuple[str, str, str]]:
    return [
        (element["action_id"], element["value"], element["text"]["text"])
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def test_counts_are_exact_per_cause_and_add_up_to_the_failures() -> None:
    summary = rich_summary()
    message = run_messages.run_summary_message(summary, LINKS)
    assert_valid_message(message)
    text = body(message)
    assert summary.failed == 49  # 40 + 3 + 4 + 2, though the summary carries only a few examples
    assert "*49 need a fix*" in text and "49 need a fix" in message.text
    assert "*40 invoices*: concept Holiday pay is not mapped to a QuickBooks account" in text
    assert "*3 invoices*: workers not suppliers in QuickBooks" in text
    assert "• *Camila dell'Acqua*: ONT-201" in text and "• *Ben Li*: ONT-202" in text
    assert "*4 invoices*: QuickBooks refused the bill" in text
    assert "*2 invoices*: the USD amounts" in text
    assert "…and 37 more (every invoice is in the thread)" in text  # 40 minus the 3 examples named
    assert "(every failed invoice is in the thread)" in message.text
    assert run_messages.needs_thread(summary)


def test_one_button_per_fix_names_its_target_and_the_rest_go_behind_fix_the_rest() -> None:
    message = run_messages.run_summary_message(rich_summary(), LINKS)
    assert buttons(message) == [
        (FixIds.MAP, "HOLIDAY_PAY", "Map Holiday pay"),
        (FixIds.CREATE_VENDOR, "agr-1", "Create supplier Camila dell'Acqua"),
        (FixIds.CREATE_VENDOR, "agr-2", "Create supplier Ben Li"),
        (FixIds.RETRY, "inv-R0", "Retry R0"),
        (FixIds.RETRY, "inv-R1", "Retry R1"),
        (FixIds.MORE, "12", "Fix the rest… (2 more)"),
    ]
    for block in message.blocks:  # Slack wants action ids unique within a block
        if block["type"] == "actions":
            ids = [element["action_id"] for element in block["elements"]]
            assert len(ids) == len(set(ids))
    assert "fix-contact" not in body(message)  # a support case has no button; nothing is invented


def test_review_cases_have_their_own_section_with_a_link_to_the_bill_and_are_not_failures() -> None:
    message = run_messages.run_summary_message(rich_summary(), LINKS)
    text = body(message)
    assert "*To review: 4*" in text
    assert "• *ONT-77* · Dana: cancelled in Ontop after bill 151 was created" in text
    assert "<https://app.sandbox.qbo.intuit.com/app/bill?txnId=151|bill ONT-77>" in text
    assert "…and 3 more" in text
    assert "*4 to review*" in text and "49 need a fix" in text  # counted apart
    without_links = body(run_messages.run_summary_message(rich_summary()))
    assert "(bill ONT-77)" in without_links and "https://" not in without_links


def test_what_was_left_alone_is_explained_and_the_total_is_in_the_home_currency() -> None:
    head = run_messages.run_summary_message(rich_summary()).blocks[0]["text"]["text"]
    assert head.startswith(":warning: *QuickBooks sync #12 finished with problems in 1m 05s*")
    assert "Booked *12,345.67 EUR*: 40 bills" in head
    assert (
        "Left alone: 5 already in QuickBooks · 3 waiting for payment in Ontop · 2 you chose to skip or already reported"
        in head
    )


def test_failure_lines_show_the_invoice_amount_and_what_ontop_charged_in_usd() -> None:
    text = body(run_messages.run_summary_message(rich_summary()))
    assert "• *ONT-0* · Ana Gómez · 13,750.00 BRL (2,682.93 USD)" in text
    # Under a title shared by several reasons, each line says its own; a USD invoice is not converted into itself.
    assert "• *R0* · Ben Li · 10.00 USD: QuickBooks refused the bill: Duplicate Document Number R0 [code 6140]" in text
    assert "10.00 USD (" not in text
    pages = run_messages.failure_page_messages(rich_summary().failures, run_id=12)
    assert "13,750.00 BRL (2,682.93 USD): concept Holiday pay is not mapped" in body(pages[0])


def test_plain_words_no_raw_codes_or_bill_s() -> None:
    for status in RunStatus:
        for trigger in RunTrigger:
            message = run_messages.run_summary_message(rich_summary(status=status, trigger=trigger))
            rendered = body(message) + message.text
            assert "(s)" not in rendered
            assert f"sync #12 {labels.run_status_label(status)}" in message.text
            assert f" · {labels.trigger_label(trigger)} · " in rendered
            for raw in ("partial", "succeeded", "schedule", "webhook", "`"):
                assert raw not in rendered


def test_the_result_reply_mentions_the_requester_and_says_the_outcome_in_one_line() -> None:
    reply = run_messages.run_result_reply(rich_summary())
    assert_valid_message(reply)
    assert reply.text == (
        "<@U0ANN> Sync #12 finished with problems: 40 bills booked, 49 need a fix, 4 to review — details above"
    )
    scheduled = run_messages.run_result_reply(rich_summary(requested_by=None, failed=0, failure_groups=[], failures=[]))
    assert scheduled.text.startswith("Sync #12 finished with problems: 40 bills booked, 4 to review")
    one = run_messages.run_result_reply(replace(sample_run(failures=sample_run().failures[:1])))
    assert "1 needs a fix" in one.text


def test_a_run_with_nothing_to_say_is_quiet() -> None:
    empty = replace(
        sample_run(failures=[]), bills_created=0, vendors_created=0, trigger=RunTrigger.SCHEDULE, requested_by=None
    )
    assert run_messages.run_quiet(empty)
    assert not run_messages.run_quiet(replace(empty, bills_created=1))
    assert not run_messages.run_quiet(replace(empty, payments_created=1))
    assert not run_messages.run_quiet(replace(empty, credits_created=1))
    assert not run_messages.run_quiet(replace(empty, vendors_created=1))
    assert not run_messages.run_quiet(replace(empty, failed=1))
    assert not run_messages.run_quiet(replace(empty, review_count=1))
    assert not run_messages.run_quiet(replace(empty, status=RunStatus.FAILED, error_summary="QuickBooks was down"))


def test_a_small_run_is_listed_whole_and_needs_no_thread() -> None:
    summary = sample_run()
    message = run_messages.run_summary_message(summary)
    assert not run_messages.needs_thread(summary)
    assert "thread" not in body(message) + message.text
    assert [label for _, _, label in buttons(message)] == ["Map Bonus", "Create supplier Ben Li", "Retry ONT-1003"]


def test_a_bill_that_is_not_ours_offers_link_and_skip_naming_the_invoice() -> None:
    fix = Fix(FixKind.LINK_BILL, "inv-2")
    group = FailureGroup(
        "not_our_bill",
        "a bill numbered ONT-1002 already exists in QuickBooks and this bot did not make it",
        1,
        fix,
        [failure("ONT-1002", "Ben Li", fix, "not_our_bill", "a bill numbered ONT-1002 already exists")],
    )
    message = run_messages.run_summary_message(replace(sample_run(), failure_groups=[group], failed=1))
    assert buttons(message) == [
        (FixIds.LINK_BILL, "inv-2", "Link bill ONT-1002"),
        (FixIds.SKIP_INVOICE, "inv-2", "Skip ONT-1002"),
    ]


async def post(app: RunningApp, message: Message) -> str:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=app.fake.api_url)
    posted = await client.chat_postMessage(channel="C0FIN", **message.as_kwargs())
    return str(posted["ts"])


async def test_fix_the_rest_opens_every_other_fix_and_its_buttons_work_from_the_modal(
    app: RunningApp, connected: FakeService, slack
) -> None:
    summary = rich_summary()
    connected.team("T0001").last_run = summary
    ts = await post(app, run_messages.run_summary_message(summary))
    await slack.click_message_button("C0FIN", ts, FixIds.MORE)
    app.fake.recorder.wait_for("views.update")
    view = app.fake.last_view("result-view")
    assert view is not None
    [call] = connected.calls("run_summary")
    assert call.team_id == "T0001" and call.args == {"run_id": 12}
    accessories = [b["accessory"] for b in view["blocks"] if "accessory" in b]
    assert [(a["action_id"], a["value"], a["text"]["text"]) for a in accessories] == [
        (FixIds.RETRY, "inv-R2", "Retry R2"),
        (FixIds.RETRY, "inv-R3", "Retry R3"),
    ]
    assert "2 more fixes" in body(Message("", view["blocks"]))
    await slack.click_view_element(view["id"], FixIds.RETRY)
    [retry] = connected.wait_for_call("retry_invoice")
    assert retry.args["invoice_id"] == "inv-R2"
    [pushed] = app.fake.recorder.wait_for("views.push")  # stacked on the list, not a second modal
    assert pushed.error is None


async def test_fix_the_rest_of_an_unknown_run_says_so(app: RunningApp, connected: FakeService, slack) -> None:
    ts = await post(app, run_messages.run_summary_message(rich_summary(run_id=999)))
    await slack.click_message_button("C0FIN", ts, FixIds.MORE)
    app.fake.recorder.wait_for("views.update")
    view = app.fake.last_view("result-view")
    assert view is not None and "can't find that sync" in body(Message("", view["blocks"]))


async def test_map_button_in_a_summary_still_opens_the_mapping_modal_at_that_concept(
    app: RunningApp, connected: FakeService, slack
) -> None:
    ts = await post(app, run_messages.run_summary_message(sample_run()))
    await slack.click_message_button("C0FIN", ts, FixIds.MAP)
    app.fake.recorder.wait_for("views.update")
    view = app.fake.last_view(MappingIds.CALLBACK)
    assert view is not None
    assert next(b for b in view["blocks"] if b["type"] == "input")["block_id"] == "concept:bonus"


def test_the_services_own_groups_are_counted_exactly_and_every_button_names_its_own_target() -> None:
    """With sync.service.reports.group_failures: 30 refused bills are one group with a retry per invoice."""
    from sync.service.reports import group_failures

    refusals = [
        failure(f"ONT-{n}", "Ben Li", Fix(FixKind.RETRY, f"inv-{n}", f"ONT-{n}"), "qbo_6000", f"refused {n}")
        for n in range(30)
    ]
    suppliers = [
        failure(
            f"ONT-S{n}",
            f"Worker {n % 3}",
            Fix(FixKind.CREATE_VENDOR, f"agr-{n % 3}", f"Worker {n % 3}"),
            "no_vendor",
            "not a supplier",
        )
        for n in range(9)
    ]
    groups = group_failures(refusals + suppliers)
    summary = replace(sample_run(), failed=39, failure_groups=groups, failures=(refusals + suppliers)[:5])
    message = run_messages.run_summary_message(summary)
    assert_valid_message(message)
    text = body(message)
    sections = [block["text"]["text"] for block in message.blocks if block["type"] == "section"]
    assert "*30 invoices*: QuickBooks refused the bill\n• *ONT-0* · Ben Li · 13,750.00 BRL: refused 0" in sections[1]
    assert "…and 27 more (every invoice is in the thread)" in text
    assert "*9 invoices*: workers not suppliers in QuickBooks" in text
    labels_shown = [label for _, _, label in buttons(message)]
    assert labels_shown[:5] == ["Retry ONT-0", "Retry ONT-1", "Retry ONT-2", "Retry ONT-3", "Retry ONT-4"]
    assert labels_shown[5] == "Fix the rest… (28 more)"  # 30 retries and 3 suppliers, 5 shown


def test_a_retry_without_a_name_is_never_labelled_with_another_invoice() -> None:
    fixes = [Fix(FixKind.RETRY, f"inv-{n}") for n in range(6)]
    examples = [failure(f"ONT-{n}", "Ben Li", fixes[n], "qbo_6000", "refused") for n in range(3)]
    group = FailureGroup("qbo_6000", "refused", 6, fixes[0], examples, fixes=fixes)
    message = run_messages.run_summary_message(replace(sample_run(), failed=6, failure_groups=[group]))
    labels_shown = [label for _, value, label in buttons(message) if value.startswith("inv-")]
    assert labels_shown == ["Retry ONT-0", "Retry ONT-1", "Retry ONT-2", "Retry", "Retry"]


def test_a_connection_prompt_is_said_first_and_not_counted_as_a_failed_invoice() -> None:
    reconnect = Fix(FixKind.RECONNECT, "1", "Acme Books LLC")
    prompt = InvoiceFailure(
        "", "", "Acme Books LLC", None, None, "QuickBooks no longer accepts this connection.", reconnect, "reauth"
    )
    groups = [FailureGroup("reauth", prompt.reason, 1, reconnect, [prompt]), holiday_pay()]
    summary = replace(sample_run(), failed=40, failure_groups=groups)
    message = run_messages.run_summary_message(summary)
    text = body(message)
    assert ":exclamation: *QuickBooks no longer accepts this connection.*" in text
    assert "40 need a fix" in message.text and "41" not in message.text
    assert [label for _, _, label in buttons(message)][:2] == ["Reconnect QuickBooks", "Map Holiday pay"]


def test_thread_pages_name_each_button_after_what_it_fixes() -> None:
    failures = [
        failure("ONT-1", "Ana Gómez", Fix(FixKind.CREATE_VENDOR, "agr-1"), "no_vendor", "not a supplier"),
        failure("ONT-2", "Ben Li", Fix(FixKind.RETRY, "inv-2"), "qbo_6000", "refused"),
        failure("ONT-3", "Caro", Fix(FixKind.MAP_CONCEPT, "BONUS"), "unmapped_concept", "not mapped"),
        failure("ONT-4", "Dana", Fix(FixKind.LINK_BILL, "inv-4"), "not_our_bill", "not ours"),
    ]
    [page] = run_messages.failure_page_messages(failures, run_id=12)
    assert_valid_message(page)
    labels_shown = [
        element["text"]["text"]
        for block in page.blocks
        for element in ([block["accessory"]] if "accessory" in block else block.get("elements", []))
        if element.get("type") == "button"
    ]
    assert labels_shown == [
        "Create supplier Ana Gómez",
        "Retry ONT-2",
        "Map Bonus",
        "Link bill ONT-4",
        "Skip ONT-4",
    ]
    assert page.text == "Invoices that need a fix 1–4 of 4 (sync #12)"
