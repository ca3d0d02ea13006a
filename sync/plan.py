"""What happens to one Ontop invoice, decided once, with no I/O: the run posts what this plans, the preview counts it.

Policy (documented in the README's guarantees):
- Only PAID invoices become bills: amounts and the exchange rate are locked at payment. DRAFT and PENDING
  invoices wait; they are read again when they change.
- A CANCELLED invoice never gets a bill. If it already has one, the bill is left alone and the run reports it for a
  person to void in QuickBooks: the bot never edits or deletes a bill.
- A correction (an invoice that replaces another) is billed like any invoice when the original has no bill; when
  the original already has one, the correction is held for review instead of booking the expense twice.
- A case held for review is reported once, and again only when the invoice changes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from storage.models import InvoiceState
from storage.records import LedgerEntry
from sync import messages
from sync.bills import BillProblem, Booking, Books, Company, VendorForBill, build_booking
from sync.ontop.models import Invoice, InvoiceStatus, Worker

CANCELLED_AFTER_BILL = "cancelled_after_bill"
CORRECTION_OF_BILLED = "correction_of_billed"
SKIPPED_BY_PERSON = "skipped_by_person"  # an admin chose "Skip this invoice": never posted
EXCLUDED_IN_REVIEW = "excluded_in_review"  # an admin left it out of a review: never posted unless included again
HELD_BY_PERSON = frozenset({SKIPPED_BY_PERSON, EXCLUDED_IN_REVIEW})
# Cases for a person: reported once, never retried, and they do not hold the watermark.
REVIEW_CODES = frozenset({CANCELLED_AFTER_BILL, CORRECTION_OF_BILLED})


class Outcome(enum.StrEnum):
    POST = "post"  # becomes a bill in this run
    ALREADY_SYNCED = "already_synced"  # its bill exists
    WAITING = "waiting"  # not paid yet (read again when it changes), or cancelled before billing
    HELD = "held"  # a review case already reported, unchanged since
    REVIEW = "review"  # a case for a person, reported now
    BLOCKED = "blocked"  # a problem a person can fix (unmapped concept, no supplier, currency, ...)


class VendorAction(enum.StrEnum):
    USE = "use"  # already linked
    LINK = "link"  # an existing QBO vendor matches by email or name: link it
    CREATE = "create"  # create the vendor (auto-create is on)


@dataclass(frozen=True)
class VendorResolution:
    """How the invoice's worker becomes a QBO vendor right now."""

    action: VendorAction
    agreement_id: str
    display_name: str
    vendor_id: str | None = None  # USE and LINK
    currency: str | None = None  # the vendor's currency (None: the home currency)
    linked_by: str | None = None  # "email" or "name" for LINK
    worker: Worker | None = field(default=None, compare=False)  # LINK and CREATE

    def for_bill(self) -> VendorForBill:
        return VendorForBill(self.vendor_id or "", self.display_name, self.currency)


@dataclass(frozen=True)
class PlanContext:
    """What the rules need to know about the connection."""

    company: Company
    mapping: dict[str, str]  # concept -> QBO account id
    default_account_id: str | None = None
    books: Books = field(default_factory=Books)


@dataclass(frozen=True)
class InvoicePlan:
    invoice: Invoice
    outcome: Outcome
    worker_name: str = ""
    reason: str | None = None  # why it waits, or what the review case is
    review_code: str | None = None
    keep_state: bool = False  # a review case of an invoice whose bill exists keeps its created state
    problem: BillProblem | None = None
    vendor: VendorResolution | None = None
    booking: Booking | None = None  # POST: its documents (vendor ids empty while the vendors are still to be made)
    held_code: str | None = None  # HELD: the person's decision that holds it (SKIPPED_BY_PERSON, EXCLUDED_IN_REVIEW)


def triage(invoice: Invoice, entry: LedgerEntry | None, corrected: LedgerEntry | None) -> InvoicePlan | None:
    """The plan of an invoice that will not become a bill in this run, or None when it should.

    Args:
        entry: the invoice's ledger row, if any.
        corrected: the ledger row of the invoice this one corrects, if it names one.
    """
    if entry is not None and entry.state == InvoiceState.CREATED:
        if invoice.status == InvoiceStatus.CANCELLED and entry.error_code != CANCELLED_AFTER_BILL:
            return InvoicePlan(
                invoice,
                Outcome.REVIEW,
                reason=messages.cancelled_after_bill(entry.qbo_bill_id),
                review_code=CANCELLED_AFTER_BILL,
                keep_state=True,
            )
        return InvoicePlan(invoice, Outcome.ALREADY_SYNCED)
    if entry is not None and entry.error_code in HELD_BY_PERSON:
        return InvoicePlan(invoice, Outcome.HELD, reason=entry.error_message, held_code=entry.error_code)
    if _already_reported(entry, invoice):
        return InvoicePlan(invoice, Outcome.HELD, reason=entry.error_message if entry else None)
    if invoice.status == InvoiceStatus.CANCELLED:
        return InvoicePlan(invoice, Outcome.WAITING, reason=messages.CANCELLED_IN_ONTOP)
    if invoice.status != InvoiceStatus.PAID:
        return InvoicePlan(invoice, Outcome.WAITING, reason=messages.waiting_for_payment(str(invoice.status)))
    if corrected is not None and corrected.state == InvoiceState.CREATED:
        return InvoicePlan(
            invoice,
            Outcome.REVIEW,
            reason=messages.correction_of_billed(corrected.invoice_number, corrected.qbo_bill_id),
            review_code=CORRECTION_OF_BILLED,
        )
    return None


def plan_bill(
    invoice: Invoice, vendor: VendorResolution | BillProblem, worker_name: str, ctx: PlanContext
) -> InvoicePlan:
    """The plan of a PAID invoice that should become a bill: POST with its bill, or BLOCKED with the problem."""
    if isinstance(vendor, BillProblem):
        return InvoicePlan(invoice, Outcome.BLOCKED, worker_name=worker_name, problem=vendor)
    booking = build_booking(invoice, vendor.for_bill(), ctx.mapping, ctx.company, ctx.books, ctx.default_account_id)
    if isinstance(booking, BillProblem):
        return InvoicePlan(invoice, Outcome.BLOCKED, worker_name=vendor.display_name, problem=booking, vendor=vendor)
    return InvoicePlan(invoice, Outcome.POST, worker_name=vendor.display_name, vendor=vendor, booking=booking)


def _already_reported(entry: LedgerEntry | None, invoice: Invoice) -> bool:
    return (
        entry is not None
        and entry.state == InvoiceState.SKIPPED
        and entry.error_code in REVIEW_CODES
        and entry.ontop_updated_at == invoice.updated_at
    )
