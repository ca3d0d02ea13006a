"""From an Ontop invoice to what QuickBooks gets: home amounts to the cent, fees on Ontop, currencies never silently
converted (docs/accounting.md)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.models import InvoiceDocument
from sync.api import FixKind
from sync.bills import (
    BillProblem,
    Booking,
    Books,
    Company,
    VendorForBill,
    build_booking,
    carries_marker,
    doc_number_for,
    exact_rate,
    fit_to_total,
    request_id_for,
)
from sync.money import cents
from sync.ontop.models import Invoice, InvoiceLine, InvoiceStatus
from sync.qbo.models import BillDraft, VendorCreditDraft

USD_COMPANY = Company("123", "USD", multicurrency_enabled=False)
MULTI_COMPANY = Company("123", "USD", multicurrency_enabled=True)
UK_COMPANY = Company("123", "GBP", multicurrency_enabled=False, country="GBR")
MAPPING = {"COMPENSATION": "60", "BONUS": "61", "FEE": "70", "DEDUCTION": "80"}
FEE = InvoiceLine("FEE", "Ontop membership fee", Decimal("256.25"), "Client fees", Decimal("50.00"))
PAY = InvoiceLine("COMPENSATION", "May 2024", Decimal("13493.75"), "Base compensation", Decimal("2632.93"))


def invoice(currency: str = "BRL", **extra: object) -> Invoice:
    fields: dict[str, object] = {
        "id": 5012,
        "number": "INV-2024-05-000512",
        "agreement_id": 17,
        "worker_email": "maria@example.com",
        "status": InvoiceStatus.PAID,
        "currency": currency,
        "total": Decimal("13750.00"),
        "lines": [
            InvoiceLine("COMPENSATION", "May 2024", Decimal("12500.00"), "Base compensation", Decimal("2439.02")),
            InvoiceLine("BONUS", "Q2 bonus", Decimal("1250.00"), "Bonus", Decimal("243.90")),
        ],
        "updated_at": datetime(2024, 6, 4, tzinfo=UTC),
        "issue_date": date(2024, 5, 31),
        "due_date": date(2024, 6, 5),
        "paid_date": date(2024, 6, 4),
        "exchange_rate": Decimal("5.125000"),
        "usd_equivalent": Decimal("2682.93"),
    } | extra
    return Invoice(**fields)  # type: ignore[arg-type]


def booked(problem_or_booking: Booking | BillProblem) -> Booking:
    assert isinstance(problem_or_booking, Booking), problem_or_booking
    return problem_or_booking


def test_a_foreign_invoice_is_booked_at_ontops_locked_usd_total_to_the_cent() -> None:
    booking = booked(build_booking(invoice(), VendorForBill("58", "Maria", None), MAPPING, USD_COMPANY))
    draft = booking.main
    assert isinstance(draft, BillDraft)
    # Lines round separately (2439.02 + 243.90 = 2682.92); the paid total wins: a cent moves onto a line.
    assert sorted(line.amount for line in draft.lines) == [Decimal("243.90"), Decimal("2439.03")]
    assert draft.total == booking.expected_home == Decimal("2682.93") and draft.currency is None
    assert draft.doc_number == "INV-2024-05-000512" and carries_marker(draft.private_note, "5012")


def test_with_multicurrency_the_bill_is_in_the_invoice_currency_and_its_home_amount_is_ontops_usd() -> None:
    booking = booked(build_booking(invoice(), VendorForBill("58", "Maria", "BRL"), MAPPING, MULTI_COMPANY))
    draft = booking.main
    assert draft is not None and draft.currency == "BRL" and draft.total == Decimal("13750.00")
    assert draft.exchange_rate is not None and cents(draft.total * draft.exchange_rate) == Decimal("2682.93")


def test_large_amounts_get_a_rate_precise_enough_for_the_exact_home_amount() -> None:
    # 10,665,000.00 COP charged as 2,727.27 USD: 1/Ontop's rate at six decimals would book 2,730.24.
    rate = exact_rate(Decimal("10665000.00"), Decimal("2727.27"))
    assert cents(Decimal("10665000.00") * rate) == Decimal("2727.27")
    assert cents(Decimal("10665000.00") * (Decimal(1) / Decimal("3910.500000")).quantize(Decimal("0.000001"))) != (
        Decimal("2727.27")
    )


@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999999.99"), places=2),
    st.decimals(min_value=Decimal("0.00"), max_value=Decimal("9999999.99"), places=2),
)
def test_an_exact_rate_exists_for_any_amount_and_home_amount(amount: Decimal, home: Decimal) -> None:
    rate = exact_rate(amount, home)
    assert cents(amount * rate) == home


def test_fees_go_on_a_usd_bill_to_the_ontop_supplier_and_the_contractor_bill_takes_the_rest() -> None:
    lines = [PAY, FEE]  # the reference's worked example: 13,750.00 BRL charged as 2,682.93 USD
    booking = booked(build_booking(invoice(lines=lines), VendorForBill("58", "Maria", "BRL"), MAPPING, MULTI_COMPANY))
    assert booking.fee_bill is not None and booking.main is not None
    assert booking.fee_bill.currency == "USD" and booking.fee_bill.total == booking.fee_usd == Decimal("50.00")
    assert [line.account_id for line in booking.fee_bill.lines] == ["70"]
    assert [line.account_id for line in booking.main.lines] == ["60"]  # no fee on the contractor's bill
    assert booking.expected_home == Decimal("2632.93")
    assert booking.expected_home + booking.fee_usd == Decimal("2682.93")  # the invoice adds up to what Ontop charged
    assert booking.fee_bill.doc_number == "INV-2024-05-000512-F" and carries_marker(
        booking.fee_bill.private_note, "5012", "fees"
    )


def test_a_setting_keeps_the_fees_on_the_contractors_bill() -> None:
    lines = [PAY, FEE]
    books = Books(fees_on_contractor_bill=True)
    booking = booked(
        build_booking(invoice(lines=lines), VendorForBill("58", "Maria", None), MAPPING, USD_COMPANY, books)
    )
    assert booking.fee_bill is None and booking.main is not None and len(booking.main.lines) == 2


def test_a_negative_invoice_becomes_a_vendor_credit_for_what_it_takes_back() -> None:
    lines = [InvoiceLine("DEDUCTION", "Laptop not returned", Decimal("-500.00"), "Deduction", Decimal("-500.00"))]
    booking = booked(
        build_booking(
            invoice("USD", lines=lines, total=Decimal("-500.00"), usd_equivalent=Decimal("-500.00")),
            VendorForBill("58", "Maria", None),
            MAPPING,
            USD_COMPANY,
        )
    )
    assert booking.document == InvoiceDocument.VENDOR_CREDIT and isinstance(booking.main, VendorCreditDraft)
    assert booking.main.total == Decimal("500.00") and booking.main.lines[0].account_id == "80"


def test_usd_lines_more_than_a_cent_each_away_from_the_total_are_an_error_naming_the_invoice() -> None:
    off = invoice(usd_equivalent=Decimal("2690.00"))
    problem = build_booking(off, VendorForBill("58", "Maria", None), MAPPING, USD_COMPANY)
    assert isinstance(problem, BillProblem) and "INV-2024-05-000512" in problem.message


def test_fitting_moves_at_most_a_cent_per_line() -> None:
    assert fit_to_total([Decimal("1.00"), Decimal("2.00")], Decimal("3.02")) == [Decimal("1.01"), Decimal("2.01")]
    assert fit_to_total([Decimal("1.00"), Decimal("2.00")], Decimal("3.03")) is None


def test_a_supplier_in_another_currency_gets_a_fix_that_creates_one_in_the_invoice_currency() -> None:
    problem = build_booking(invoice("EUR"), VendorForBill("58", "Maria", "ARS"), MAPPING, MULTI_COMPANY)
    assert isinstance(problem, BillProblem) and problem.fix is not None
    assert problem.fix.kind is FixKind.CREATE_VENDOR_IN_CURRENCY
    assert problem.fix.target == "17:EUR" and problem.fix.target_name == "Maria (EUR)"


def test_an_unmapped_concept_asks_for_a_mapping() -> None:
    problem = build_booking(invoice(), VendorForBill("58", "Maria", None), {"COMPENSATION": "60"}, USD_COMPANY)
    assert isinstance(problem, BillProblem) and problem.fix is not None
    assert (problem.fix.kind, problem.fix.target) == (FixKind.MAP_CONCEPT, "BONUS")


def test_the_ap_account_of_the_bills_currency_is_always_sent() -> None:
    books = Books(ap_accounts={"BRL": "33", "USD": "34"})
    lines = [PAY, FEE]
    booking = booked(
        build_booking(invoice(lines=lines), VendorForBill("58", "Maria", "BRL"), MAPPING, MULTI_COMPANY, books)
    )
    assert booking.main is not None and booking.main.ap_account_id == "33"
    assert booking.fee_bill is not None and booking.fee_bill.ap_account_id == "34"


def test_a_non_us_company_gets_a_tax_code_on_every_line_and_nothing_added_on_top() -> None:
    gbp = invoice("GBP", usd_equivalent=None, exchange_rate=None)
    books = Books(default_tax_code="ZR", tax_codes={"BONUS": "EX"})
    booking = booked(build_booking(gbp, VendorForBill("58", "Maria", None), MAPPING, UK_COMPANY, books))
    assert booking.main is not None and booking.main.global_tax_calculation == "TaxInclusive"
    assert [line.tax_code_id for line in booking.main.lines] == ["ZR", "EX"]
    untaxed = build_booking(gbp, VendorForBill("58", "Maria", None), MAPPING, UK_COMPANY, Books())
    assert isinstance(untaxed, BillProblem) and untaxed.code == "no_tax_code"


def test_refund_is_an_alias_of_reimbursement() -> None:
    lines = [InvoiceLine("refund", "Laptop", Decimal("10.00"), None, Decimal("10.00"))]
    booking = booked(
        build_booking(
            invoice("USD", lines=lines, total=Decimal("10.00"), usd_equivalent=Decimal("10.00")),
            VendorForBill("1", "M", None),
            {"REIMBURSEMENT": "62"},
            USD_COMPANY,
        )
    )
    assert booking.main is not None and booking.main.lines[0].account_id == "62"


@pytest.mark.parametrize(
    ("note", "invoice_id", "part", "ours"),
    [
        ("… ref ontop:5012", "5012", None, True),
        ("… ref ontop:50123", "5012", None, False),
        ("… ref ontop:5012:fees", "5012", None, False),
        ("… ref ontop:5012:fees", "5012", "fees", True),
        ("typed by hand", "5012", None, False),
    ],
)
def test_a_document_is_ours_only_with_exactly_our_reference(note: str, invoice_id: str, part: str, ours: bool) -> None:
    assert carries_marker(note, invoice_id, part) is ours


def test_long_invoice_numbers_shorten_deterministically_within_qbos_limit() -> None:
    long_number = "ONTOP-INVOICE-2024-05-000512-CORRECTED"
    assert len(doc_number_for(long_number)) == 21
    assert doc_number_for(long_number) == doc_number_for(long_number) != doc_number_for(long_number + "2")


def test_request_ids_are_stable_per_logical_write_and_fit_the_batch_limit() -> None:
    first = request_id_for("123", "5012", "bill", 0)
    assert first == request_id_for("123", "5012", "bill", 0) and len(first) <= 36
    assert first != request_id_for("123", "5012", "bill", 1) != request_id_for("999", "5012", "bill", 0)


def test_bookings_are_values() -> None:
    booking = booked(build_booking(invoice(), VendorForBill("58", "Maria", None), MAPPING, USD_COMPANY))
    assert replace(booking, fee_usd=Decimal("1")) != booking
