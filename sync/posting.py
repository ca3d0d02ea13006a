"""Sending a batch of invoices' documents to QuickBooks exactly once: bills, vendor credits and fee bills.

1. The ledger writes every document down as pending with its requestid, before anything is sent.
2. A document an earlier attempt may have created (pending with a requestid) is looked up first; it is adopted only
   when it is ours: same supplier, same total, and our reference in its PrivateNote. A document with the number
   that is not ours is a failure with two fixes (link it, or skip the invoice), never a silent adoption.
3. One batch call per 30 documents; each succeeds or fails on its own.
4. Every outcome is written down, with the home-currency amount QuickBooks booked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from sync import messages
from sync.api import Fix, FixKind
from sync.bills import BillProblem, Booking, carries_marker
from sync.ledger import FeeRequest, PostRequest, RunLedger
from sync.money import cents
from sync.ontop.models import Invoice
from sync.plan import InvoicePlan
from sync.qbo.client import QboClient
from sync.qbo.errors import QboAuthError, QboDuplicateDocNumber, QboError, QboForbidden
from sync.qbo.models import Bill, BillDraft, VendorCredit, VendorCreditDraft

log = structlog.get_logger(__name__)

BATCH_SIZE = 30  # QBO's batch maximum
Created = Bill | VendorCredit


@dataclass
class Document:
    """One document of a batch: an invoice's own bill or credit (part None) or its fee bill (part "fees")."""

    plan: InvoicePlan
    draft: BillDraft | VendorCreditDraft
    part: str | None = None
    request_id: str = ""
    unknown_outcome: bool = False
    created: Created | None = None
    error: QboError | None = None
    problem: BillProblem | None = None  # a definite failure found before sending (a document that is not ours)

    @property
    def invoice(self) -> Invoice:
        return self.plan.invoice

    @property
    def is_credit(self) -> bool:
        return isinstance(self.draft, VendorCreditDraft)


@dataclass
class BatchResult:
    """What a batch did, for the run's counts, the payments and the attachments."""

    created: list[Document] = field(default_factory=list)
    failed: list[Document] = field(default_factory=list)
    home_differences: int = 0


class Poster:
    """Creates the documents of planned invoices in batches, with the ledger written first."""

    def __init__(self, qbo: QboClient, ledger: RunLedger, home_currency: str) -> None:
        self._qbo = qbo
        self._ledger = ledger
        self._home = home_currency
        # A big run posts its bills first: its fee bills are written down to make and left for the run that
        # follows it (sync/run.py, "bills first").
        self.defer_fees = False
        # Fee bills written down as pending and waiting to fill a batch: a batch call is one of QuickBooks' 40 a
        # minute, so half-empty ones (a few fee bills per 30 invoices) would halve the run's pace. A crash leaves
        # them pending in the ledger, and the next run makes them (RunLedger.unfinished_fee_bills).
        self._fees: list[tuple[Document, Booking]] = []

    async def post(self, items: Sequence[tuple[InvoicePlan, Booking]]) -> BatchResult:
        """Post the bookings of up to 30 invoices: their own documents first, then the fee bills of those that
        succeeded (an invoice is never half booked because its own bill failed)."""
        result = BatchResult()
        bookings = {str(plan.invoice.id): booking for plan, booking in items}
        mains = [Document(plan, booking.main) for plan, booking in items if booking.main is not None]
        if mains:
            tickets, _ = await self._ledger.begin(
                [_post_request(document, bookings[str(document.invoice.id)]) for document in mains], []
            )
            for document, ticket in zip(mains, tickets, strict=True):
                document.request_id, document.unknown_outcome = ticket.request_id, ticket.unknown_outcome
            await self._send([document for document in mains if not await self._found(document)])
            await self._record_own(mains, bookings, result)
        booked = {str(document.invoice.id) for document in result.created}
        fees = [
            Document(plan, booking.fee_bill, "fees")
            for plan, booking in items
            if booking.fee_bill is not None and (booking.main is None or str(plan.invoice.id) in booked)
        ]
        if fees and self.defer_fees:
            await self._ledger.defer_fee_bills([str(document.invoice.id) for document in fees])
        elif fees:
            _, fee_tickets = await self._ledger.begin(
                [],
                [
                    FeeRequest(str(doc.invoice.id), doc.draft.doc_number, doc.draft.vendor_id, doc.draft.total)
                    for doc in fees
                ],
            )
            for document, fee_ticket in zip(fees, fee_tickets, strict=True):
                if fee_ticket is not None:  # None: this fee bill exists already
                    document.request_id, document.unknown_outcome = fee_ticket.request_id, fee_ticket.unknown_outcome
                    self._fees.append((document, bookings[str(document.invoice.id)]))
        while len(self._fees) >= BATCH_SIZE:
            await self._post_fees(self._fees[:BATCH_SIZE], result)
            self._fees = self._fees[BATCH_SIZE:]
        return result

    async def flush(self) -> BatchResult:
        """Send the fee bills still waiting for a full batch (at the end of a run)."""
        result = BatchResult()
        while self._fees:
            await self._post_fees(self._fees[:BATCH_SIZE], result)
            self._fees = self._fees[BATCH_SIZE:]
        return result

    async def _post_fees(self, queued: list[tuple[Document, Booking]], result: BatchResult) -> None:
        live = [document for document, _ in queued]
        await self._send([document for document in live if not await self._found(document)])
        await self._record_fees(live, {str(document.invoice.id): booking for document, booking in queued}, result)

    async def _found(self, document: Document) -> bool:
        """An earlier attempt's document, adopted when it is ours; True when nothing is left to send for it."""
        if not (document.unknown_outcome and document.draft.doc_number):
            return False
        existing = await self._existing(document)
        if not existing:
            return False
        ours = [found for found in existing if _is_ours(found, document)]
        if ours:
            document.created = ours[0]
        else:
            document.problem = _not_ours(document)
        return True

    async def _existing(self, document: Document) -> list[Created]:
        doc_number = document.draft.doc_number or ""
        if document.is_credit:
            return list(await self._qbo.find_vendor_credits(doc_number))
        return list(await self._qbo.find_bills(doc_number))

    async def _send(self, documents: list[Document]) -> None:
        bills = [document for document in documents if not document.is_credit]
        credits = [document for document in documents if document.is_credit]
        for start in range(0, len(bills), BATCH_SIZE):
            await self._send_batch(bills[start : start + BATCH_SIZE])
        for start in range(0, len(credits), BATCH_SIZE):
            await self._send_batch(credits[start : start + BATCH_SIZE])

    async def _send_batch(self, documents: list[Document]) -> None:
        if not documents:
            return
        keys = [f"d{index}" for index in range(len(documents))]
        results: dict[str, Bill | VendorCredit | QboError]
        try:
            if documents[0].is_credit:
                credits = [(key, _credit(doc), doc.request_id) for key, doc in zip(keys, documents, strict=True)]
                results = dict(await self._qbo.create_vendor_credits_batch(credits))
            else:
                bills = [(key, _bill(doc), doc.request_id) for key, doc in zip(keys, documents, strict=True)]
                results = dict(await self._qbo.create_bills_batch(bills))
        except (QboAuthError, QboForbidden):
            raise
        except QboError as exc:
            # Outcome unknown (retries exhausted): rows stay pending; the next run looks them up first.
            for document in documents:
                document.error = exc
            return
        for key, document in zip(keys, documents, strict=True):
            outcome = results.get(key)
            if isinstance(outcome, Bill | VendorCredit):
                document.created = outcome
            elif isinstance(outcome, QboDuplicateDocNumber):
                ours = [found for found in await self._existing(document) if _is_ours(found, document)]
                if ours:
                    document.created = ours[0]
                else:
                    document.problem = _not_ours(document)
            elif outcome is not None:
                document.error = outcome

    async def _record_own(self, mains: list[Document], bookings: dict[str, Booking], result: BatchResult) -> None:
        created: list[tuple[str, str, bool, Decimal | None]] = []
        refused: list[tuple[str, BillProblem]] = []
        unknown: list[tuple[str, str]] = []
        for document in mains:
            invoice_id = str(document.invoice.id)
            outcome = _outcome(document)
            if isinstance(outcome, Bill | VendorCredit):
                home = self._home_amount(outcome)
                pdf = document.invoice.pdf_available and not document.is_credit
                created.append((invoice_id, outcome.id, pdf, home))
                result.created.append(document)
                wanted = bookings[invoice_id].expected_home
                if wanted is not None and home is not None and home != wanted:
                    result.home_differences += 1
                    log.warning(
                        "sync.home_amount_differs", invoice_id=invoice_id, expected=str(wanted), booked=str(home)
                    )
            elif isinstance(outcome, BillProblem):
                refused.append((invoice_id, outcome))
                result.failed.append(document)
            else:
                unknown.append((invoice_id, outcome))
                result.failed.append(document)
        await self._ledger.finish(created, refused, unknown)

    async def _record_fees(self, fees: list[Document], bookings: dict[str, Booking], result: BatchResult) -> None:
        created: list[tuple[str, str, Decimal | None]] = []
        refused: list[tuple[str, BillProblem]] = []
        unknown: list[tuple[str, str]] = []
        for document in fees:
            invoice_id = str(document.invoice.id)
            outcome = _outcome(document)
            if isinstance(outcome, Bill | VendorCredit):
                home = self._home_amount(outcome)
                created.append((invoice_id, outcome.id, home))
                result.created.append(document)
                if home is not None and home != bookings[invoice_id].fee_usd:
                    result.home_differences += 1
            elif isinstance(outcome, BillProblem):
                refused.append((invoice_id, outcome))
                result.failed.append(document)
            else:
                unknown.append((invoice_id, outcome))
                result.failed.append(document)
        await self._ledger.finish_fees(created, refused, unknown)

    def _home_amount(self, document: Created) -> Decimal | None:
        if document.home_total is not None:
            return cents(document.home_total)
        if document.currency in (None, self._home):
            return cents(document.total_amt)
        return None


def _bill(document: Document) -> BillDraft:
    assert isinstance(document.draft, BillDraft)
    return document.draft


def _credit(document: Document) -> VendorCreditDraft:
    assert isinstance(document.draft, VendorCreditDraft)
    return document.draft


def _post_request(document: Document, booking: Booking) -> PostRequest:
    draft = document.draft
    return PostRequest(
        invoice=document.invoice,
        doc_number=draft.doc_number,
        vendor_id=draft.vendor_id,
        worker_name=document.plan.worker_name,
        amount=draft.total,
        currency=draft.currency or document.invoice.currency,
        document=booking.document,
        usd_total=booking.usd_total,
        expected_home=booking.expected_home,
    )


def _is_ours(found: Created, document: Document) -> bool:
    """A document is ours when its supplier, its total and the reference in its note all match this invoice's."""
    return (
        found.vendor_id == document.draft.vendor_id
        and cents(found.total_amt) == cents(document.draft.total)
        and carries_marker(found.private_note, str(document.invoice.id), document.part)
    )


def _not_ours(document: Document) -> BillProblem:
    kind = "vendor credit" if document.is_credit else "bill"
    invoice_id = str(document.invoice.id)
    return BillProblem(
        "not_our_bill",
        messages.not_our_bill(kind, document.draft.doc_number or ""),
        Fix(FixKind.LINK_BILL, invoice_id),
    )


def _outcome(document: Document) -> Created | BillProblem | str:
    """The document, a definite failure, or (str) why its outcome is unknown."""
    if document.created is not None:
        return document.created
    if document.problem is not None:
        return document.problem
    error = document.error
    refused = _refused_tracking(document, error) if error is not None else None
    if refused is not None:
        return refused
    if error is not None and not error.is_transient and error.code != "missing":
        return BillProblem(
            f"qbo_{error.code}",
            messages.qbo_refused_bill(error.message, error.detail, error.element, error.code),
            Fix(FixKind.RETRY, str(document.invoice.id)),
        )
    return messages.QBO_DID_NOT_ANSWER


TRACKING_REFUSED = "tracking_refused"


def _refused_tracking(document: Document, error: QboError) -> BillProblem | None:
    """A 2500 or 610 naming the bill's ClassRef or DepartmentRef: the class or location was made inactive or deleted
    in QuickBooks since it was chosen. A person fixes it in the tracking modal (a retry alone would fail again)."""
    if error.code not in ("2500", "610"):
        return None
    named = f"{error.element} {error.detail}"
    draft = document.draft
    if "DepartmentRef" in named and draft.department_id:
        kind, ref_id = "location", draft.department_id
    elif "ClassRef" in named:
        kind, ref_id = "class", next((line.class_id for line in draft.lines if line.class_id), "")
    else:
        return None
    return BillProblem(TRACKING_REFUSED, messages.tracking_refused(kind, ref_id), Fix(FixKind.TRACKING, kind))
