"""Matching Ontop contracts to QBO suppliers: link by email, then name; never modify; disambiguate predictably."""

from __future__ import annotations

from sync.api import VendorMatch
from sync.ontop.models import Worker, WorkerStatus
from sync.qbo.models import Vendor
from sync.vendors import VendorDirectory, decide


def vendor(vendor_id: str, name: str, email: str | None = None, *, active: bool = True) -> Vendor:
    return Vendor(vendor_id, name, None, email, active, None, "0")


def worker(agreement_id: int = 17, first: str | None = "Zoë", last: str | None = "O'Brien", **extra: object) -> Worker:
    fields: dict[str, object] = {"email": "zoe@example.com", "status": WorkerStatus.ACTIVE} | extra
    return Worker(agreement_id=agreement_id, first_name=first, last_name=last, **fields)  # type: ignore[arg-type]


def test_an_existing_supplier_with_the_workers_email_is_linked() -> None:
    directory = VendorDirectory([vendor("5", "Z. O'Brien Design", "ZOE@example.com")])
    decision = decide(worker(), None, directory)
    assert decision.match is VendorMatch.MATCH_EMAIL and decision.vendor is not None and decision.vendor.id == "5"


def test_a_supplier_with_the_same_name_and_no_other_email_is_linked() -> None:
    decision = decide(worker(), None, VendorDirectory([vendor("6", "zoë  o'brien")]))
    assert decision.match is VendorMatch.MATCH_NAME


def test_a_namesake_with_another_email_is_another_person_and_gets_a_distinct_name() -> None:
    decision = decide(worker(), None, VendorDirectory([vendor("6", "Zoë O'Brien", "other@example.com")]))
    assert decision.match is VendorMatch.WILL_CREATE
    assert decision.display_name == "Zoë O'Brien (contractor)"


def test_an_inactive_match_is_reported_never_reactivated() -> None:
    decision = decide(worker(), None, VendorDirectory([vendor("7", "Zoë O'Brien", active=False)]))
    assert decision.match is VendorMatch.CONFLICT and "reactivate it in QuickBooks" in (decision.note or "")


def test_a_name_held_by_a_customer_gets_a_predictable_suffix() -> None:
    directory = VendorDirectory([], {"zoë o'brien": "Customer", "zoë o'brien (contractor)": "Employee"})
    decision = decide(worker(), None, directory)
    assert decision.match is VendorMatch.WILL_CREATE
    assert decision.display_name == "Zoë O'Brien (contractor 17)"


def test_a_business_is_created_under_its_legal_name() -> None:
    decision = decide(worker(legal_name="O'Neill & Sons: Consulting LLC"), None, VendorDirectory())
    assert decision.display_name == "O'Neill & Sons Consulting LLC"  # QBO forbids ':' in names


def test_an_invited_worker_without_a_name_is_not_ready() -> None:
    decision = decide(worker(first=None, last=None, status=WorkerStatus.INVITATION_SENT), None, VendorDirectory())
    assert decision.match is VendorMatch.NOT_READY


def test_a_stored_link_wins_over_everything() -> None:
    directory = VendorDirectory([vendor("5", "Someone Else", "zoe@example.com"), vendor("9", "Zoë O'Brien")])
    decision = decide(worker(), "9", directory)
    assert decision.match is VendorMatch.LINKED and decision.vendor is not None and decision.vendor.id == "9"
