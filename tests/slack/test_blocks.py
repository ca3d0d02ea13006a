"""Pure Block Kit builders: top-level text everywhere, Slack's limits respected, long lists cut with "and N more"."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from handlers import blocks, labels, run_messages
from handlers.views.home import home_view
from handlers.views.mapping import account_options, mapping_view
from handlers.views.settings import read_settings
from handlers.views.vendors import vendors_view
from sync.api import (
    AccountOption,
    ConnectionStatusView,
    Fix,
    FixKind,
    MappingRow,
    ReconcileReport,
    RunStatus,
    RunTrigger,
    SyncPreview,
    TeamRef,
    VendorMatch,
    VendorPreview,
    VendorPreviewRow,
    WorkspaceSettings,
)
from tests.slack.fakes import default_books, sample_failures, sample_run


def assert_valid_message(message: blocks.Message) -> None:
    assert message.text.strip()
    assert len(message.blocks) <= 50
    for block in message.blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000


def many_failures(count: int) -> list:
    base = sample_failures()
    return [
        replace(base[n % 3], invoice_id=f"inv-{n}", invoice_number=f"ONT-{n}", reason=f"{base[n % 3].reason} #{n % 70}")
        for n in range(count)
    ]


def test_every_message_builder_has_text_and_valid_blocks() -> None:
    run = sample_run()
    for message in [
        blocks.help_message(),
        blocks.help_message(unknown="stauts", suggestion="status"),
        blocks.refusal_message("start a sync"),
        blocks.not_connected_message(),
        run_messages.run_started_message(run),
        run_messages.run_progress_message(7, 3, 9),
        run_messages.run_summary_message(run),
        run_messages.run_result_reply(run),
        run_messages.needs_reauth_message("Acme Books LLC"),
        run_messages.reauth_reminder_message("Acme Books LLC", date(2026, 12, 1)),
        *run_messages.failure_page_messages(run.failures),
    ]:
        assert_valid_message(message)


def test_huge_run_summary_stays_within_fifty_blocks_and_says_how_many_more() -> None:
    summary = sample_run(failures=many_failures(500))
    message = run_messages.run_summary_message(summary)
    assert_valid_message(message)
    assert "more causes: every failed invoice is in the thread" in str(message.blocks)
    assert "500 need a fix" in message.text
    assert run_messages.needs_thread(summary)
    replies = run_messages.failure_page_messages(summary.failures)
    assert sum(len(m.blocks) - 1 for m in replies) == 500
    assert replies[-1].text == "Invoices that need a fix 481–500 of 500"
    for reply in replies:
        assert_valid_message(reply)


def test_failure_pages_never_pass_fifty_blocks_even_when_each_failure_has_two_fixes() -> None:
    linked = [
        replace(
            sample_failures()[0],
            invoice_id=f"inv-{n}",
            invoice_number=f"ONT-{n}",
            fix=Fix(FixKind.LINK_BILL, f"inv-{n}"),
        )
        for n in range(60)
    ]
    pages = run_messages.failure_page_messages(linked, page_size=40, run_id=9)
    for page in pages:
        assert_valid_message(page)
    buttons = [e for page in pages for b in page.blocks if b["type"] == "actions" for e in b["elements"]]
    assert len(buttons) == 120  # link and skip for every one
    assert {b["text"]["text"] for b in buttons[:2]} == {"Link bill ONT-0", "Skip ONT-0"}
    assert pages[0].text.endswith("of 60 (sync #9)")


def test_summary_of_a_clean_run_has_no_fix_buttons() -> None:
    message = run_messages.run_summary_message(sample_run(failures=[]))
    assert not [b for b in message.blocks if b["type"] == "actions"]
    assert message.text == "QuickBooks sync #7 finished in 1m 05s: 10 bills booked"


@given(st.text(min_size=1, max_size=5000))
@settings(max_examples=50, deadline=None)
def test_any_failure_reason_or_name_fits_the_limits(text: str) -> None:
    failure = replace(sample_failures()[0], reason=text, worker_name=text[:300], invoice_number=text[:80])
    summary = sample_run(failures=[failure] * 4)
    assert_valid_message(run_messages.run_summary_message(summary))
    assert_valid_message(run_messages.run_result_reply(summary))
    for reply in run_messages.failure_page_messages(summary.failures):
        assert_valid_message(reply)


def test_bullet_list_cuts_with_and_n_more() -> None:
    text = blocks.bullet_list([f"item {n:04d} " + "x" * 50 for n in range(1000)], limit=3000)
    assert len(text) <= 3000
    assert text.splitlines()[-1].startswith("…and ") and text.endswith(" more")


def test_button_text_and_value_are_clipped() -> None:
    element = blocks.button("b" * 200, "a", value="v" * 3000)
    assert len(element["text"]["text"]) == 75 and len(element["value"]) == 2000


def test_money_is_shown_from_decimal() -> None:
    assert blocks.money(Decimal("1234.5"), "USD") == "1,234.50 USD"
    assert blocks.money(None, None) == "—"


def test_mapping_view_with_many_concepts_stays_within_the_modal_limit() -> None:
    rows = [MappingRow(f"c{n}", f"Concept {n}", n, None, None) for n in range(200)]
    view = mapping_view(rows, errors={"concept:c1": "bad"})
    assert len(view["blocks"]) <= 100
    View(**view).validate_json()


def test_mapping_view_with_books_and_tax_codes_for_every_concept_stays_within_the_modal_limit() -> None:
    rows = [MappingRow(f"c{n}", f"Concept {n}", n, None, None) for n in range(200)]
    books = replace(
        default_books(tax_codes=True),
        pay_from_options=[AccountOption(str(n), f"Bank {n}") for n in range(150)],
        ap_choices={f"C{n:02d}": [AccountOption(f"{n}a", "A/P"), AccountOption(f"{n}b", "A/P 2")] for n in range(9)},
    )
    errors = {"concept:c1": "bad", "books-pay-from": "bad"}
    view = mapping_view(rows, books, errors=errors)
    assert len(view["blocks"]) <= 100
    View(**view).validate_json()
    ids = [block.get("block_id", "") for block in view["blocks"]]
    assert "books-pay-from" in ids and "books-tax-default" in ids and "tax:c0" in ids
    assert "more concepts" in str(view["blocks"])
    pay_from = next(block for block in view["blocks"] if block.get("block_id") == "books-pay-from")
    assert len(pay_from["element"]["options"]) == 100  # a static select's limit, the two choices kept
    assert pay_from["element"]["options"][-1]["value"] == "no-payments"


def test_summary_counts_fee_bills_payments_and_credits_and_warns_of_home_differences() -> None:
    run = replace(
        sample_run(failures=[]), fee_bills_created=4, payments_created=14, credits_created=1, home_differences=2
    )
    message = run_messages.run_summary_message(run)
    assert_valid_message(message)
    head = message.blocks[0]["text"]["text"]
    assert "Booked 10 bills, 4 Ontop fee bills and 1 supplier credit · 14 payments recorded" in head
    assert "2 documents booked a home amount that differs" in str(message.blocks)
    assert "(s)" not in json.dumps(message.blocks)
    plain_run = run_messages.run_summary_message(sample_run(failures=[]))
    assert "differs" not in str(plain_run.blocks) and "payment" not in str(plain_run.blocks)


def test_reconcile_lists_open_bills_and_bills_paid_twice() -> None:
    moment = datetime(2026, 11, 1, tzinfo=UTC)
    report = ReconcileReport(
        moment, moment, paid_invoices=5, matching=3, open_bills=["ONT-7"], paid_twice=["ONT-9 <b>"]
    )
    message = blocks.reconcile_message(report)
    assert_valid_message(message)
    assert "1 open, 1 paid twice" in message.text
    assert "still open in QuickBooks:* ONT-7" in str(message.blocks)
    assert "Paid more than once" in str(message.blocks)
    assert "ONT-9 &lt;b&gt;" in str(message.blocks) and "<b>" not in str(message.blocks)
    clean = blocks.reconcile_message(ReconcileReport(moment, moment, paid_invoices=5, matching=5))
    assert "paid once" in clean.text


def test_vendor_pages_stay_within_the_modal_limit() -> None:
    rows = [VendorPreviewRow(f"a{n}", f"W{n}", None, None, None, VendorMatch.WILL_CREATE, None) for n in range(500)]
    view = vendors_view(VendorPreview(rows), page=12)
    assert len(view["blocks"]) <= 100
    assert "Page 13 of 13" in str(view["blocks"])
    View(**view).validate_json()


def test_account_options_answer_at_most_one_hundred_short_options() -> None:
    options = account_options([AccountOption(str(n), "A" * 200) for n in range(300)])
    assert len(options) == 100
    assert all(len(o["text"]["text"]) <= 75 for o in options)


def test_settings_form_reads_every_field() -> None:
    form, errors = read_settings(
        {
            "settings-channel": "C1",
            "settings-hour": "23",
            "settings-timezone": "Asia/Kolkata",
            "settings-admins": ["U1"],
            "settings-auto-create": [],
        }
    )
    assert errors == {} and form is not None
    assert (form.finance_channel_id, form.sync_hour, form.timezone, form.auto_create_vendors) == (
        "C1",
        23,
        "Asia/Kolkata",
        False,
    )


def test_home_view_without_a_connection_offers_connect() -> None:
    view = home_view([], None)
    assert view["type"] == "home"
    assert "home-connect" in str(view["blocks"])


def test_mapping_hint_counts_only_the_invoices_waiting_for_the_mapping() -> None:
    rows = [
        MappingRow("bonus", "Bonus", 3, None, None),
        MappingRow("base", "Base compensation", 0, "60100", "Contractors"),
        MappingRow("travel", "Travel", 1, None, None),
    ]
    inputs = {b["block_id"]: b for b in mapping_view(rows)["blocks"] if b["type"] == "input"}
    assert inputs["concept:bonus"]["hint"]["text"] == "3 invoices waiting for this mapping"
    assert inputs["concept:travel"]["hint"]["text"] == "1 invoice waiting for this mapping"
    assert "hint" not in inputs["concept:base"]  # it books fine: no made-up "no invoices yet"


def test_status_speaks_plain_words_without_realm_ids_or_internal_states() -> None:
    run = replace(sample_run(), status=RunStatus.PARTIAL)
    status = ConnectionStatusView(
        connection_id=1,
        status="needs_reauth",
        company_name="Acme & Sons",
        realm_id="9130350000000000",
        home_currency="USD",
        multicurrency_enabled=False,
        ontop_connected=True,
        mapped_concepts=2,
        unmapped_concepts=["HOLIDAY_PAY"],
        vendors_linked=4,
        bills_created_total=42,
        failed_invoices=3,
        last_run=run,
        active_run=replace(run, status=RunStatus.RUNNING),
        next_daily_run_at=None,
        settings=WorkspaceSettings(TeamRef("T1"), "C1", 6, "America/Bogota", [], False),
    )
    message = blocks.status_message(status)
    assert_valid_message(message)
    body = json.dumps(message.blocks)
    assert message.text == "QuickBooks: Acme &amp; Sons (needs reconnecting)"
    assert "9130350000000000" not in body and "realm" not in body
    assert "needs_reauth" not in body and "`" not in body.replace("`/qbo map`", "")
    assert "#7 finished with problems: 10 bills booked, 3 need a fix" in body
    assert "Sync #7 is running" in body
    assert "*Concepts not mapped yet* (`/qbo map`): Holiday pay" in body  # the label, not the code


def test_labels_name_statuses_triggers_and_connections_in_plain_words() -> None:
    assert labels.run_status_label(RunStatus.PARTIAL) == "finished with problems"
    assert labels.run_status_label(RunStatus.SUCCEEDED) == "finished"
    assert labels.run_status_label(RunStatus.FAILED) == "failed"
    assert labels.trigger_label(RunTrigger.SCHEDULE) == "daily sync"
    assert labels.trigger_label(RunTrigger.WEBHOOK) == "after an Ontop payment"
    assert labels.trigger_label(RunTrigger.FIRST) == "first sync"
    assert labels.connection_status_label("needs_reauth") == "needs reconnecting"
    assert labels.connection_status_label("some_new_state") == "some new state"  # never the raw code
    assert [labels.counted(n, "bill") for n in (0, 1, 2)] == ["0 bills", "1 bill", "2 bills"]
    assert labels.fix_label(Fix(FixKind.MAP_CONCEPT, "HOLIDAY_PAY")) == "Map Holiday pay"
    assert labels.fix_label(Fix(FixKind.CREATE_VENDOR, "agr-1", "Camila dell'Acqua")) == (
        "Create supplier Camila dell'Acqua"
    )


def test_sync_preview_says_what_holds_invoices_back_in_plain_words() -> None:
    preview = SyncPreview(
        eligible=1,
        already_synced=40,
        not_final=3,
        blocked_unmapped={"HOLIDAY_PAY": 2, "<!channel>": 1},
        blocked_no_vendor=1,
        blocked_other=2,
        review=1,
        vendors_to_create=1,
        vendors_to_link=0,
    )
    message = blocks.sync_preview_message(preview)
    assert_valid_message(message)
    body = json.dumps(message.blocks)
    assert message.text == "Sync preview: 1 bill would be booked."
    assert "3* waiting for payment in Ontop" in body and "Holiday pay (2)" in body
    assert "2 invoices* held back by a supplier or currency problem" in body and "to review" in body
    assert "<!channel>" not in body and "(s)" not in body
