"""`make demo` is the product's front door: it must walk the whole journey and prove its own end state."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from devtools.demo import books_answers
from devtools.demo_checks import (
    Failing,
    PostedSummary,
    QboBooks,
    TrackingChosen,
    check_books,
    check_tracking,
    failing_without_fix,
    ledger_failures,
    names_in,
    posted_summaries,
    worker_names,
)
from devtools.signing import view_state
from emulators.ontop.generator import CompanyGenerator
from handlers.ids import BooksIds
from storage.models import LedgerPosting, SyncedInvoice
from sync.api import CREATE_WALLET, NO_PAYMENTS

NEW_CHECKS = (
    "home_differences",
    "open_bills",
    "paid_twice",
    "fees_on_contractor_bills",
    "failing_without_fix",
    "excluded_but_booked",
    "wrong_tracking",
    "others_in_channel",
)
SECOND = "acme-europe"


def run_demo(tmp_path: Path, *options: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    summary = tmp_path / "demo.json"
    result = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "demo", "--json", str(summary), *options],
        capture_output=True,
        text=True,
        timeout=300,  # two companies: about 110 s on 2 cores
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result, json.loads(summary.read_text())


def assert_every_promise_held(verdict: dict[str, Any]) -> None:
    assert verdict["ok"] is True
    assert verdict["paid_invoices"] > 0
    # Ann leaves one invoice out of the first sync's review: it is the one paid invoice without a bill.
    assert len(verdict["excluded"]) == 1
    assert verdict["contractor_bills"] + verdict["credits"] + len(verdict["excluded"]) == verdict["paid_invoices"]
    assert verdict["fee_bills"] > 0
    assert verdict["payments"] >= verdict["contractor_bills"]
    assert verdict["missing"] == verdict["duplicated"] == verdict["wrong_amounts"] == []
    for check in NEW_CHECKS:
        assert verdict[check] == [], check
    assert verdict["preexisting_touched"] == 0


def assert_each_company_kept_its_promises(summary: dict[str, Any]) -> None:
    """Both companies were checked on their own books, ledger and channel; the top-level keys are the first's."""
    first, second = summary["companies"]
    assert (first["name"], second["name"]) == ("northwind-design-studio", SECOND)
    assert first["channel"] != second["channel"]
    assert {key: first[key] for key in ("paid_invoices", "excluded", "contractor_bills")} == {
        key: summary[key] for key in ("paid_invoices", "excluded", "contractor_bills")
    }
    assert second["excluded"] == []  # Ann approved Acme Europe's first review whole
    assert second["contractor_bills"] + second["credits"] == second["paid_invoices"] > 0
    for company in (first, second):
        assert company["ok"] is True, company["name"]
        assert company["fee_bills"] > 0 and company["payments"] >= company["contractor_bills"]
        for check in ("missing", "duplicated", *NEW_CHECKS):
            assert company[check] == [], (company["name"], check)
        assert company["preexisting_touched"] == 0
        assert company["own_workers_named"] > 0, "the channel check could not see any worker's name"


def assert_the_second_company_was_walked(transcript: str) -> None:
    for step in (
        "/qbo connect new",
        "Ann picks Acme Europe among her companies",
        "QuickBooks company Acme Europe connected",
        "as finance@acme-europe.test",  # its own Ontop account
        f"/qbo settings {SECOND}",
        "summaries to #C0EUR",
        f"/qbo map {SECOND}",
        "── chat.postMessage → C0EUR",
        "several QuickBooks companies connected. Which one?",  # an unnamed /qbo sync asks ...
        f"[chooses {SECOND}]",  # ... and carries on
        "What is now in QuickBooks: Acme Europe",
        f"✅ {SECOND}: every promise held",
        "✅ northwind-design-studio: every promise held",
        "every promise held, in each of the 2 companies",
    ):
        assert step in transcript, step
    after_disconnect = transcript.split("/qbo disconnect northwind-design-studio", 1)[1]
    assert "QuickBooks company *Northwind Design Studio* disconnected" in after_disconnect
    assert "*QuickBooks:* Acme Europe · connected" in after_disconnect  # /qbo status: the other company stays


def test_the_demo_walks_every_step_and_verifies_quickbooks(tmp_path: Path) -> None:
    result, verdict = run_demo(tmp_path)

    transcript = result.stdout
    for step in (
        "installs the app",
        "/qbo settings",
        "only workspace admins",  # Bob is refused
        "QuickBooks company Northwind Design Studio connected",
        "Ontop did not accept this email and password",  # the typo is caught inline
        "/qbo vendors",
        'pay bills from → Create an "Ontop wallet" bank account',  # Ann picks the wallet in the map step ...
        'QuickBooks now has the Bank account "Ontop wallet"',  # ... and the bot creates it
        "fees → On a bill to the Ontop supplier",
        "is not a supplier in QuickBooks",  # the failure ...
        "is not mapped to a QuickBooks account",
        "[Create supplier ",  # ... and its fixes
        "Review #1 before posting",  # the first sync waits for approval ...
        "[Approve and post]",
        "Approved by @U0ANN at",  # ... Ann approves, the message says so
        "booked exactly the",  # ... and exactly the approved invoices are posted
        f"Excluded by an admin: 1* ({verdict['excluded'][0]})",  # the next preview shows the one she left out
        "webhook",
        "/qbo tracking",  # classes and locations turned on in QuickBooks, then chosen in the modal ...
        "location → Latin America",
        "/qbo status",
        "What is now in QuickBooks",
        "bills carry the class or location Ann chose",  # ... and read back from QuickBooks
        "fee bills to Ontop",
        "bill payments",
        "QuickBooks company *Northwind Design Studio* disconnected",  # the confirmation names the company
        "every promise held",
    ):
        assert step in transcript, step
    assert_every_promise_held(verdict)
    assert_the_second_company_was_walked(transcript)
    assert_each_company_kept_its_promises(verdict)
    assert "Traceback" not in result.stderr


def test_the_multicurrency_demo_books_every_currency_and_a_contractor_paid_in_a_new_one(tmp_path: Path) -> None:
    result, verdict = run_demo(tmp_path, "--multicurrency", "--invoices", "40")

    transcript = result.stdout
    assert "is in ARS; Ontop now pays their contract" in transcript
    assert re.search(r"\[Create supplier [^\]]*\(EUR\)\]", transcript), "the summary offers the currency fix"
    assert re.search(r"Created: [^\n]*\(EUR\)", transcript), "pressing it creates the supplier in EUR"
    assert "Currency of new suppliers" in transcript
    assert_every_promise_held(verdict)
    assert_the_second_company_was_walked(transcript)
    assert_each_company_kept_its_promises(verdict)
    assert "Traceback" not in result.stderr


# --- the end check itself, on made-up books: it must see each broken promise ---------------------------------------


def _invoice(number: str, total: str, usd: str, *, fee: str | None = None, currency: str = "BRL") -> dict[str, Any]:
    lines = [{"concept": "COMPENSATION", "amount": total, "amountUsd": usd}]
    if fee is not None:
        lines.append({"concept": "FEE", "amount": fee, "amountUsd": fee})
    return {
        "invoiceNumber": number,
        "status": "PAID",
        "currency": currency,
        "total": total,
        "totalUsd": usd,
        "lines": lines,
    }


def _bill(bill_id: str, doc: str, vendor: str, home: str, *, balance: str = "0", account: str = "7") -> dict[str, Any]:
    line = {"Amount": home, "DetailType": "AccountBasedExpenseLineDetail"}
    line["AccountBasedExpenseLineDetail"] = {"AccountRef": {"value": account}}
    return {
        "Id": bill_id,
        "DocNumber": doc,
        "VendorRef": {"value": vendor},
        "TotalAmt": Decimal(home),
        "Balance": Decimal(balance),
        "Line": [line],
    }


def _payment(*bill_ids: str) -> dict[str, Any]:
    return {"Line": [{"LinkedTxn": [{"TxnId": bill_id, "TxnType": "Bill"}]} for bill_id in bill_ids]}


def _books(bills: list[dict[str, Any]], payments: list[dict[str, Any]]) -> QboBooks:
    vendors = {"1": {"DisplayName": "Ana Souza"}, "2": {"DisplayName": "Ontop", "CompanyName": "Ontop"}}
    return QboBooks(bills, [], payments, vendors, set(), 2, "USD", 0)


def test_the_end_check_passes_books_that_keep_every_promise() -> None:
    invoices = [_invoice("INV-1", "500.00", "100.00", fee="10.00"), _invoice("INV-2", "250.00", "50.00")]
    bills = [
        _bill("10", "INV-1", "1", "90.00"),
        _bill("11", "INV-1-F", "2", "10.00", account="9"),
        _bill("12", "INV-2", "1", "50.00"),
    ]
    verdict = check_books(_books(bills, [_payment("10"), _payment("11"), _payment("12")]), invoices, fee_account_id="9")

    assert verdict.ok, verdict
    assert (verdict.contractor_bills, verdict.fee_bills, verdict.payments) == (2, 1, 3)


def test_the_end_check_sees_each_broken_promise() -> None:
    invoices = [
        _invoice("INV-1", "500.00", "100.00", fee="10.00"),  # its fee is on the contractor's bill
        _invoice("INV-2", "250.00", "50.00"),  # booked a cent off, and still open
        _invoice("INV-3", "250.00", "50.00"),  # paid twice
        _invoice("INV-4", "250.00", "50.00"),  # never booked
        _invoice("INV-5", "500.00", "100.00", fee="10.00"),  # its fee bill went to the contractor
    ]
    bills = [
        _bill("10", "INV-1", "1", "100.00", account="9"),
        _bill("12", "INV-2", "1", "50.01", balance="50.01"),
        _bill("13", "INV-3", "1", "50.00"),
        _bill("14", "INV-5", "1", "90.00"),
        _bill("15", "INV-5-F", "1", "10.00"),
    ]
    payments = [_payment("10"), _payment("13"), _payment("13"), _payment("14"), _payment("15")]
    verdict = check_books(_books(bills, payments), invoices, fee_account_id="9")

    assert verdict.missing == ["INV-4"]
    assert verdict.home_differences == verdict.wrong_amounts == ["INV-2"]
    assert verdict.open_bills == ["INV-2"]
    assert verdict.paid_twice == ["INV-3"]
    assert verdict.fees_on_contractor_bills == ["INV-1", "INV-5"]
    assert not verdict.ok


def _tracked(bill: dict[str, Any], class_id: str | None, location: str | None = None) -> dict[str, Any]:
    for line in bill["Line"]:
        if class_id is not None:
            line["AccountBasedExpenseLineDetail"]["ClassRef"] = {"value": class_id}
    if location is not None:
        bill["DepartmentRef"] = {"value": location}
    return bill


def test_the_end_check_reads_back_the_classes_and_location_chosen() -> None:
    chosen = TrackingChosen("COMPENSATION", "C-PAY", "17", "C-ANA", "L-LATAM")
    invoices = [
        {**_invoice("INV-1", "500.00", "100.00", fee="10.00"), "agreementId": 17},  # the chosen worker
        {**_invoice("INV-2", "250.00", "50.00"), "agreementId": 18},
    ]
    right = [
        _tracked(_bill("10", "INV-1", "1", "90.00"), "C-ANA", "L-LATAM"),
        _tracked(_bill("11", "INV-1-F", "2", "10.00"), None, "L-LATAM"),
        _tracked(_bill("12", "INV-2", "1", "50.00"), "C-PAY"),
    ]
    assert check_tracking(_books(right, []), invoices, chosen) == []
    wrong = [
        _tracked(_bill("10", "INV-1", "1", "90.00"), "C-PAY", "L-LATAM"),  # the concept's class, not the worker's
        _tracked(_bill("11", "INV-1-F", "2", "10.00"), None),  # the fee bill without the worker's location
        _tracked(_bill("12", "INV-2", "1", "50.00"), "C-PAY", "L-LATAM"),  # someone else's location
    ]
    assert check_tracking(_books(wrong, []), invoices, chosen) == ["INV-1", "INV-1-F", "INV-2"]


def test_an_invoice_left_out_of_a_review_must_have_no_bill_and_is_not_missing() -> None:
    invoices = [_invoice("INV-1", "250.00", "50.00"), _invoice("INV-2", "250.00", "50.00")]
    kept_out = check_books(_books([_bill("12", "INV-2", "1", "50.00")], [_payment("12")]), invoices, excluded={"INV-1"})
    booked = _books([_bill("11", "INV-1", "1", "50.00"), _bill("12", "INV-2", "1", "50.00")], [_payment("11", "12")])

    booked_anyway = check_books(booked, invoices, excluded={"INV-1"})

    assert kept_out.ok and kept_out.missing == [] and kept_out.excluded == ["INV-1"]
    assert booked_anyway.excluded_but_booked == ["INV-1"] and not booked_anyway.ok


def test_failures_count_unless_their_run_summary_shows_a_button_for_their_fix() -> None:
    summary = {
        "ts": "1.0",
        "text": "QuickBooks sync #3 finished with problems in 1s: 0 bills booked, 3 need a fix",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*INV-1* · Ana · 1 USD\n*INV-2* · Ana · 2 USD"}},
            {"type": "actions", "elements": [{"type": "button", "action_id": "fix-retry", "value": "5001"}]},
        ],
    }
    accessory = {"type": "button", "action_id": "fix-create-vendor", "value": "17"}
    line = {"type": "section", "text": {"type": "mrkdwn", "text": "*INV-3* · Bo · 3 USD"}, "accessory": accessory}
    thread = {"1.0": [{"blocks": [line]}]}
    progress = {"ts": "2.0", "text": "QuickBooks sync #4: 3/10 invoices (30%)"}
    started = {"ts": "3.0", "text": "QuickBooks sync #5 started"}
    summaries = posted_summaries([summary, progress, started], thread)

    assert summaries == {3: PostedSummary(3, {("fix-retry", "5001"), ("fix-create-vendor", "17")})}
    failing = [
        Failing("INV-1", 3, "fix-retry", "5001"),  # its button is there
        Failing("INV-3", 3, "fix-create-vendor", "17"),  # in the thread
        Failing("INV-2", 3, "fix-retry", "5002"),  # a button, but for another invoice
        Failing("INV-4", 3, None, None),  # no fix at all
        Failing("INV-5", 4, "fix-retry", "5005"),  # its run never posted a summary
        Failing("INV-6 (payment)", 3, None, None),  # a payment that failed: nothing to press
    ]
    assert failing_without_fix(summaries, failing) == ["INV-2", "INV-4", "INV-5", "INV-6 (payment)"]
    more = {"ts": "4.0", "text": "QuickBooks sync #6 finished with problems", "blocks": [
        {"type": "actions", "elements": [{"type": "button", "action_id": "fix-more", "value": "6"}]}
    ]}  # fmt: skip
    assert failing_without_fix(posted_summaries([more], {}), [Failing("INV-7", 6, "fix-retry", "5007")]) == []


def test_what_the_ledger_still_holds_is_failing_except_reviews_and_skips() -> None:
    def invoice(number: str, state: str, fix: str | None = None) -> SyncedInvoice:
        return SyncedInvoice(
            ontop_invoice_id=number[-1],
            invoice_number=number,
            state=state,
            fix_action=fix,
            fix_value="v",
            last_run_id=2,
        )

    ledger = [
        invoice("INV-1", "created"),
        invoice("INV-2", "failed", "create_vendor_currency"),
        invoice("INV-3", "pending"),  # nobody knows whether its bill exists
        invoice("INV-4", "skipped"),  # a person chose to skip it
        invoice("INV-5", "failed", "contact_support"),
    ]
    postings = [
        LedgerPosting(invoice_id="1", kind="payment", state="done", last_run_id=2),
        LedgerPosting(invoice_id="1", kind="fee_payment", state="failed", last_run_id=2),
    ]
    assert ledger_failures(ledger, postings) == [
        Failing("INV-2", 2, "fix-create-vendor-currency", "v"),
        Failing("INV-3", 2, None, "v"),
        Failing("INV-5", 2, None, "v"),
        Failing("INV-1 (fee_payment)", 2, None, None),
    ]


def test_the_books_part_is_answered_explicitly_and_unanswered_selects_keep_their_initial_option() -> None:
    def option(value: str, text: str) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": text}, "value": value}

    wallet = option(CREATE_WALLET, 'Create an "Ontop wallet" bank account (recommended)')
    ontop = option(BooksIds.FEES_ON_ONTOP, "On a bill to the Ontop supplier (recommended)")
    ap_eur = option("91", "A/P EUR (Accounts Payable)")
    view = {
        "blocks": [
            {
                "type": "input",
                "block_id": BooksIds.PAY_FROM_BLOCK,
                "element": {
                    "type": "static_select",
                    "action_id": BooksIds.PAY_FROM,
                    "options": [option("35", "Checking (Bank)"), wallet, option(NO_PAYMENTS, "Don't record payments")],
                    "initial_option": option("35", "Checking (Bank)"),
                },
            },
            {
                "type": "input",
                "block_id": BooksIds.FEES_BLOCK,
                "element": {
                    "type": "radio_buttons",
                    "action_id": BooksIds.FEES,
                    "options": [ontop, option(BooksIds.FEES_ON_CONTRACTOR, "On the contractor's bill")],
                    "initial_option": ontop,
                },
            },
            {
                "type": "input",
                "block_id": f"{BooksIds.AP_BLOCK_PREFIX}EUR",
                "element": {
                    "type": "static_select",
                    "action_id": BooksIds.AP,
                    "options": [ap_eur],
                    "initial_option": ap_eur,
                },
            },
        ]
    }
    # Submitted untouched, every select and radio sends its initial option, as Slack does.
    untouched = view_state(view)
    assert untouched[BooksIds.FEES_BLOCK][BooksIds.FEES]["selected_option"] == ontop
    assert untouched[f"{BooksIds.AP_BLOCK_PREFIX}EUR"][BooksIds.AP]["selected_option"] == ap_eur

    answers, said = books_answers(view)
    assert answers[BooksIds.PAY_FROM_BLOCK] == wallet  # Ann picks the wallet over the preselected account
    assert view_state(view, answers)[BooksIds.PAY_FROM_BLOCK][BooksIds.PAY_FROM]["selected_option"] == wallet
    assert 'chooses: pay bills from → Create an "Ontop wallet"' in said
    assert "keeps: fees → On a bill to the Ontop supplier (recommended); ap:EUR → A/P EUR" in said


def test_a_channel_that_names_another_company_s_worker_is_caught() -> None:
    ours = worker_names(CompanyGenerator(workers=8, invoices=8, months=1, seed=1).workers)
    theirs = worker_names(CompanyGenerator(workers=8, invoices=8, months=1, seed=2).workers) - ours
    stranger = sorted(theirs)[0]
    mine = sorted(ours)[0]
    channel = [
        {"text": "QuickBooks sync #3 finished", "blocks": [{"type": "section", "text": {"text": f"*INV-1* · {mine}"}}]},
        {"text": "Review #2", "blocks": [{"type": "section", "text": {"text": f"*INV-9* · {stranger} · 1 USD"}}]},
    ]

    assert names_in(channel, theirs) == ([stranger], 1)
    assert names_in(channel[:1], theirs) == ([], 0)
    assert names_in(channel, ours)[1] == 1
