"""From an Ontop invoice to a QBO bill draft: amounts to the cent, currencies never silently converted."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sync.api import FixKind
from sync.bills import BillProblem, Company, VendorForBill, build_bill, doc_number_for, request_id_for
from sync.ontop.models import Invoice, InvoiceLine, InvoiceStatus
from sync.qbo.models import BillDraft

USD_COMPANY = Company("123", "USD", multicurrency_enabled=False)
MULTI_COMPANY = Company("123", "USD", multicurrency_enabled=True)
MAPPING = {"COMPENSATION": "60", "BONUS": "61"}


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
        "exchange_rate": Decimal("5.125000"),
        "usd_equivalent": Decimal("2682.93"),
    } | extra
    return Invoice(**fields)  # type: ignore[arg-type]


def test_a_foreign_invoice_is_booked_at_ontops_locked_usd_total_to_the_cent() -> None:
    draft = build_bill(invoice(), VendorForBill("58", "Maria", None), MAPPING, USD_COMPANY)
    assert isinstance(draft, BillDraft)
    # Lines round separately (2439.02 + 243.90 = 2682.92); the paid total wins and the last line takes the cent.
    assert [line.amount for line in draft.lines] == [Decimal("2439.02"), Decimal("243.91")]
    assert draft.total == Decimal("2682.93") and draft.currency is None
    assert draft.doc_number == "INV-2024-05-000512" and "ontop:5012" in (draft.private_note or "")


def test_with_multicurrency_a_vendor_in_the_invoice_currency_gets_a_bill_in_it_with_qbos_rate() -> None:
    draft = build_bill(invoice(), VendorForBill("58", "Maria", "BRL"), MAPPING, MULTI_COMPANY)
    assert isinstance(draft, BillDraft)
    assert draft.currency == "BRL" and draft.total == Decimal("13750.00")
    assert draft.exchange_rate == Decimal("0.195122")  # USD per BRL: the inverse of Ontop's BRL per USD


def test_a_vendor_in_another_foreign_currency_is_a_clear_problem_not_a_conversion() -> None:
    problem = build_bill(invoice(), VendorForBill("58", "Maria", "EUR"), MAPPING, MULTI_COMPANY)
    assert isinstance(problem, BillProblem) and problem.code == "currency" and "EUR" in problem.message


def test_an_unmapped_concept_asks_for_a_mapping() -> None:
    problem = build_bill(invoice(), VendorForBill("58", "Maria", None), {"COMPENSATION": "60"}, USD_COMPANY)
    assert isinstance(problem, BillProblem) and problem.fix is not None
    assert (problem.fix.kind, problem.fix.value) == (FixKind.MAP_CONCEPT, "BONUS")


def test_refund_is_an_alias_of_reimbursement() -> None:
    lines = [InvoiceLine("refund", "Laptop", Decimal("10.00"), None, Decimal("10.00"))]
    draft = build_bill(
        invoice("USD", lines=lines, total=Decimal("10.00")),
        VendorForBill("1", "M", None),
        {"REIMBURSEMENT": "62"},
        USD_COMPANY,
    )
    assert isinstance(draft, BillDraft) and draft.lines[0].account_id == "62"


def test_long_invoice_numbers_shorten_deterministically_within_qbos_limit() -> None:
    long_number = "ONTOP-INVOICE-2024-05-000512-CORRECTED"
    assert len(doc_number_for(long_number)) == 21
    assert doc_number_for(long_number) == doc_number_for(long_number) != doc_number_for(long_number + "2")


def test_request_ids_are_stable_per_logical_write_and_fit_the_batch_limit() -> None:
    first = request_id_for("123", "5012", "bill", 0)
    assert first == request_id_for("123", "5012", "bill", 0) and len(first) <= 36
    assert first != request_id_for("123", "5012", "bill", 1) != request_id_for("999", "5012", "bill", 0)
