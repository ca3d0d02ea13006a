"""Classes and locations on the documents of an invoice (docs/accounting.md, "Classes and locations"): pure rules."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from sync.bills import Booking, Books, Company, VendorForBill, build_booking, build_fee_booking
from sync.qbo.models import BillDraft, VendorCreditDraft
from tests.sync.test_bills import FEE, MAPPING, booked, invoice

TRACKING = Company("123", "USD", multicurrency_enabled=False, class_tracking=True, track_departments=True)
NOTHING_TRACKED = replace(TRACKING, class_tracking=False, track_departments=False)
BOOKS = Books(
    concept_classes={"COMPENSATION": "C-PAY", "BONUS": "C-BONUS", "FEE": "C-FEES"},
    worker_classes={"18": "C-WORKER-18"},
    worker_locations={"17": "L-LATAM"},
)
MARIA = VendorForBill("58", "Maria", None)


def _book(company: Company, books: Books = BOOKS, **extra: object) -> Booking:
    return booked(build_booking(invoice(**extra), MARIA, MAPPING, company, books))


def _main(booking: Booking) -> BillDraft:
    assert isinstance(booking.main, BillDraft)
    return booking.main


def test_each_line_carries_its_concepts_class_and_the_bill_the_workers_location() -> None:
    bill = _main(_book(TRACKING))
    assert [line.class_id for line in bill.lines] == ["C-PAY", "C-BONUS"]
    assert bill.department_id == "L-LATAM"


def test_the_workers_class_wins_over_the_concepts() -> None:
    bill = _main(_book(TRACKING, agreement_id=18))
    assert [line.class_id for line in bill.lines] == ["C-WORKER-18", "C-WORKER-18"]
    assert bill.department_id is None  # worker 18 has no location


def test_a_concept_without_a_class_and_a_worker_without_one_leave_the_line_without() -> None:
    bill = _main(_book(TRACKING, Books(concept_classes={"BONUS": "C-BONUS"})))
    assert [line.class_id for line in bill.lines] == [None, "C-BONUS"]


def test_a_company_that_tracks_nothing_gets_no_refs_whatever_was_chosen() -> None:
    bill = _main(_book(NOTHING_TRACKED))
    assert all(line.class_id is None for line in bill.lines) and bill.department_id is None
    wire = bill.to_wire()
    assert "DepartmentRef" not in wire
    assert all("ClassRef" not in line["AccountBasedExpenseLineDetail"] for line in wire["Line"])
    assert bill == _main(_book(NOTHING_TRACKED, Books()))  # exactly the bill it always got


def test_each_preference_gates_its_own_ref() -> None:
    classes_only = _main(_book(replace(TRACKING, track_departments=False)))
    assert classes_only.department_id is None and classes_only.lines[0].class_id == "C-PAY"
    locations_only = _main(_book(replace(TRACKING, class_tracking=False)))
    assert locations_only.department_id == "L-LATAM" and locations_only.lines[0].class_id is None


def test_the_fee_bill_takes_the_fee_concepts_class_and_the_workers_location() -> None:
    lines = [*invoice().lines, FEE]
    booking = _book(
        TRACKING, agreement_id=17, lines=lines, total=Decimal("14006.25"), usd_equivalent=Decimal("2732.93")
    )
    assert booking.fee_bill is not None
    assert [line.class_id for line in booking.fee_bill.lines] == ["C-FEES"]
    assert booking.fee_bill.department_id == "L-LATAM"
    # Even when the worker has a class of their own: Ontop's fees are not the worker's pay.
    worker_18 = _book(
        TRACKING, agreement_id=18, lines=lines, total=Decimal("14006.25"), usd_equivalent=Decimal("2732.93")
    )
    assert worker_18.fee_bill is not None and worker_18.fee_bill.lines[0].class_id == "C-FEES"
    later = build_fee_booking(
        invoice(lines=lines, total=Decimal("14006.25"), usd_equivalent=Decimal("2732.93")), MAPPING, TRACKING, BOOKS
    )
    assert later is not None and later.fee_bill is not None
    assert (later.fee_bill.lines[0].class_id, later.fee_bill.department_id) == ("C-FEES", "L-LATAM")


def test_fees_kept_on_the_contractors_bill_follow_the_contractors_lines() -> None:
    lines = [*invoice().lines, FEE]
    books = replace(BOOKS, fees_on_contractor_bill=True)
    bill = _main(
        _book(
            TRACKING, books, agreement_id=18, lines=lines, total=Decimal("14006.25"), usd_equivalent=Decimal("2732.93")
        )
    )
    assert {line.class_id for line in bill.lines} == {"C-WORKER-18"}


def test_a_vendor_credit_carries_them_too() -> None:
    negative = [replace(line, amount=-line.amount, amount_usd=-(line.amount_usd or 0)) for line in invoice().lines]
    booking = _book(TRACKING, lines=negative, total=Decimal("-13750.00"), usd_equivalent=Decimal("-2682.93"))
    assert isinstance(booking.main, VendorCreditDraft)
    assert booking.main.department_id == "L-LATAM" and booking.main.lines[0].class_id == "C-PAY"
