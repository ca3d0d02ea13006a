"""The ledger's transitions for one run: pending → created | failed for bills, fee bills and payments.

Each method is one transaction. Exactly once rests on `begin` being committed before anything is sent: the row is
`pending` with a deterministic requestid, so a retry is a replay, and a row found pending with a requestid by a
later attempt has an unknown outcome and is looked up before it is created again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.models import InvoiceDocument, InvoiceState, PostingKind, PostingState
from storage.records import LedgerEntry, PostingRecord
from storage.repos.ledger import CreatedDocument, FixRef, InvoiceFacts, LedgerRepo, PendingDocument
from storage.repos.postings import Key, PendingPosting, PostingRepo
from sync.api import Fix
from sync.bills import BillProblem, request_id_for
from sync.ontop.models import Invoice
from sync.qbo.models import Bill, BillPayment


def facts_of(invoice: Invoice) -> InvoiceFacts:
    return InvoiceFacts(
        invoice_id=str(invoice.id),
        number=invoice.number,
        agreement_id=str(invoice.agreement_id) if invoice.agreement_id is not None else None,
        status=str(invoice.status),
        updated_at=invoice.updated_at,
        amount=invoice.total,
        currency=invoice.currency,
    )


def fix_ref(fix: Fix | None) -> FixRef | None:
    return FixRef(str(fix.kind), fix.target) if fix is not None else None


@dataclass(frozen=True)
class PostRequest:
    """An invoice's own bill (or vendor credit) about to be sent: what the ledger writes down first."""

    invoice: Invoice
    doc_number: str | None
    vendor_id: str
    worker_name: str
    amount: Decimal
    currency: str
    document: InvoiceDocument = InvoiceDocument.BILL
    usd_total: Decimal | None = None
    expected_home: Decimal | None = None


@dataclass(frozen=True)
class FeeRequest:
    """An invoice's fee bill about to be sent."""

    invoice_id: str
    doc_number: str | None
    vendor_id: str
    amount: Decimal


@dataclass(frozen=True)
class Ticket:
    """The ledger's answer to `begin`: the requestid to send, and whether an earlier attempt may have created it."""

    invoice_id: str
    request_id: str
    unknown_outcome: bool


@dataclass(frozen=True)
class PaymentRequest:
    """A bill to pay: the invoice's own bill (kind "payment") or its fee bill ("fee_payment")."""

    invoice_id: str
    kind: str
    bill: Bill
    paid_on: date | None
    read_back: bool = False  # the bill was just read from QuickBooks (its balance is current)


@dataclass(frozen=True)
class UnpaidBill:
    invoice_id: str
    kind: str  # the payment's kind
    bill_id: str
    paid_on: date | None


@dataclass(frozen=True)
class Leftovers:
    """What is still to send for bills that exist: their payments (a fee bill still to make counts its payment
    too), fee bills, and invoice PDFs."""

    payments: int
    fee_bills: int
    pdfs: int

    @property
    def total(self) -> int:
        return self.payments + self.fee_bills + self.pdfs


class RunLedger:
    """The ledger of one connection as one run writes it."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], connection_id: int, run_id: int, realm_id: str
    ) -> None:
        self._sessions = sessions
        self._connection_id = connection_id
        self._run_id = run_id
        self._realm_id = realm_id

    def _repo(self, session: AsyncSession) -> LedgerRepo:
        return LedgerRepo(session, self._connection_id)

    def _postings(self, session: AsyncSession) -> PostingRepo:
        return PostingRepo(session, self._connection_id)

    # --- reading --------------------------------------------------------------------------------------------

    async def entries(self, invoice_ids: Sequence[str]) -> dict[str, LedgerEntry]:
        async with self._sessions() as session:
            return await self._repo(session).get_many(invoice_ids)

    async def postings(self, invoice_ids: Sequence[str]) -> dict[tuple[str, str], PostingRecord]:
        async with self._sessions() as session:
            return await self._postings(session).of_invoices(invoice_ids)

    async def unfinished(self) -> list[LedgerEntry]:
        """Invoices whose bill failed or whose outcome is unknown: what a retry run reprocesses."""
        async with self._sessions() as session:
            return await self._repo(session).list_in_states([InvoiceState.FAILED, InvoiceState.PENDING])

    async def unfinished_fee_bills(self, limit: int) -> list[PostingRecord]:
        async with self._sessions() as session:
            return await self._postings(session).list_failed_fee_bills(limit)

    async def unpaid_bills(self, limit: int) -> list[UnpaidBill]:
        """Bills (the invoices' own and the fee bills) that exist and have no finished payment yet."""
        async with self._sessions() as session:
            postings = self._postings(session)
            own = await postings.list_unpaid_bills(limit)
            fees = await postings.list_unpaid_fee_bills(limit)
        unpaid = [UnpaidBill(e.invoice_id, PostingKind.PAYMENT, e.qbo_bill_id or "", e.paid_on) for e in own]
        paid_on = {entry.invoice_id: entry.paid_on for entry in own}
        unpaid += [
            UnpaidBill(fee.invoice_id, PostingKind.FEE_PAYMENT, fee.qbo_id or "", paid_on.get(fee.invoice_id))
            for fee in fees
            if fee.qbo_id
        ]
        return unpaid[:limit]

    async def leftovers(self) -> Leftovers:
        """What is still on its way for the connection's bills: payments, fee bills, PDFs."""
        async with self._sessions() as session:
            own, fees_to_pay, fees_to_make = await self._postings(session).count_leftovers()
            pdfs = await self._repo(session).count_pending_attachments()
        return Leftovers(payments=own + fees_to_pay + fees_to_make, fee_bills=fees_to_make, pdfs=pdfs)

    async def pending_attachments(self, limit: int) -> list[LedgerEntry]:
        async with self._sessions() as session:
            return await self._repo(session).list_pending_attachments(limit)

    # --- invoices that do not become bills now --------------------------------------------------------------

    async def fail(self, invoice: Invoice, worker_name: str, problem: BillProblem) -> None:
        async with transaction(self._sessions) as session:
            await self._repo(session).record_failure(
                facts_of(invoice),
                self._run_id,
                worker_name=worker_name,
                code=problem.code,
                message=problem.message,
                fix=fix_ref(problem.fix),
            )

    async def review(self, invoice: Invoice, *, code: str, message: str, worker_name: str, keep_state: bool) -> None:
        async with transaction(self._sessions) as session:
            await self._repo(session).record_review(
                facts_of(invoice),
                self._run_id,
                worker_name=worker_name,
                code=code,
                message=message,
                keep_state=keep_state,
            )

    async def skip_many(self, skips: Sequence[tuple[Invoice, str]]) -> None:
        """Invoices that never become bills (cancelled before billing), with the reason each, in one transaction."""
        async with transaction(self._sessions) as session:
            await self._repo(session).record_skips(
                [(facts_of(invoice), reason) for invoice, reason in skips], self._run_id
            )

    # --- bills, credits and fee bills -----------------------------------------------------------------------

    async def begin(
        self, requests: Sequence[PostRequest], fees: Sequence[FeeRequest]
    ) -> tuple[list[Ticket], list[Ticket | None]]:
        """Write a batch's documents down as pending with their requestids, in one transaction.

        Returns a ticket per request, and per fee bill a ticket or None when that fee bill exists already.
        """
        tickets = []
        async with transaction(self._sessions) as session:
            repo = self._repo(session)
            facts = [facts_of(request.invoice) for request in requests]
            held = await repo.get_many([fact.invoice_id for fact in facts])
            new: list[tuple[InvoiceFacts, PendingDocument]] = []
            known: list[tuple[InvoiceFacts, PendingDocument]] = []
            for request, fact in zip(requests, facts, strict=True):
                entry = held.get(fact.invoice_id)
                operation = "credit" if request.document == InvoiceDocument.VENDOR_CREDIT else "bill"
                request_id = request_id_for(
                    self._realm_id, fact.invoice_id, operation, entry.generation if entry else 0
                )
                unknown = entry is not None and entry.state == InvoiceState.PENDING and entry.request_id is not None
                pending = PendingDocument(
                    request_id=request_id,
                    doc_number=request.doc_number,
                    vendor_id=request.vendor_id,
                    worker_name=request.worker_name,
                    amount=request.amount,
                    currency=request.currency,
                    document=request.document,
                    usd_total=request.usd_total,
                    paid_on=request.invoice.paid_date,
                    home_amount_expected=request.expected_home,
                )
                (known if entry is not None else new).append((fact, pending))
                tickets.append(Ticket(fact.invoice_id, request_id, unknown))
            await repo.touch([fact for fact, _ in known], self._run_id)
            for fact, pending in known:
                repo.mark_pending(fact.invoice_id, pending)
            await repo.insert_pending(new, self._run_id)
            fee_tickets = await self._begin_postings(
                session,
                [
                    (
                        (fee.invoice_id, PostingKind.FEE_BILL),
                        "fee-bill",
                        PendingPosting("", fee.vendor_id, fee.amount, "USD", doc_number=fee.doc_number),
                    )
                    for fee in fees
                ],
            )
        return tickets, fee_tickets

    async def finish(
        self,
        created: Sequence[tuple[str, str, bool, Decimal | None]],
        refused: Sequence[tuple[str, BillProblem]],
        unknown: Sequence[tuple[str, str]],
    ) -> None:
        """Every outcome of a batch's own documents in one transaction.

        Args:
            created: (invoice id, bill or credit id, whether its PDF is still to attach, home amount booked)
            refused: (invoice id, why): a definite failure, retried with a new requestid
            unknown: (invoice id, message): nobody knows whether it exists; the next run looks it up
        """
        async with transaction(self._sessions) as session:
            repo = self._repo(session)
            await repo.record_created_many([CreatedDocument(*item) for item in created])
            await repo.get_many([item[0] for item in refused] + [item[0] for item in unknown])  # one query for all
            for invoice_id, problem in refused:
                await repo.record_post_failure(
                    invoice_id, code=problem.code, message=problem.message, fix=fix_ref(problem.fix)
                )
            for invoice_id, message in unknown:
                await repo.record_unknown_outcome(invoice_id, code="qbo_unavailable", message=message)

    async def finish_fees(
        self,
        created: Sequence[tuple[str, str, Decimal | None]],
        refused: Sequence[tuple[str, BillProblem]],
        unknown: Sequence[tuple[str, str]],
    ) -> None:
        """The fee bills' outcomes: (invoice id, fee bill id, home amount), refusals, unknown outcomes."""
        async with transaction(self._sessions) as session:
            postings = self._postings(session)
            await postings.record_done_many(
                [((invoice_id, PostingKind.FEE_BILL), bill_id, home) for invoice_id, bill_id, home in created]
            )
            ids = [item[0] for item in refused] + [item[0] for item in unknown]
            await postings.get_many([(invoice_id, PostingKind.FEE_BILL) for invoice_id in ids])  # one query for all
            for invoice_id, problem in refused:
                await postings.record_failed(
                    (invoice_id, PostingKind.FEE_BILL), code=problem.code, message=problem.message
                )
            for invoice_id, message in unknown:
                await postings.record_unknown((invoice_id, PostingKind.FEE_BILL), message=message)

    async def defer_fee_bills(self, invoice_ids: Sequence[str]) -> None:
        """Fee bills a run that posts its bills first leaves for the run that follows: written down to make (no
        requestid yet: nothing was sent), so any later run makes them (`unfinished_fee_bills`)."""
        if not invoice_ids:
            return
        async with transaction(self._sessions) as session:
            keys = [(invoice_id, PostingKind.FEE_BILL) for invoice_id in invoice_ids]
            await self._postings(session).touch(keys, self._run_id)

    async def attached(self, attachments: Sequence[tuple[str, str]]) -> None:
        """(invoice id, attachment id) of PDFs attached to their bills."""
        async with transaction(self._sessions) as session:
            await self._repo(session).record_attachments(attachments)

    # --- payments -------------------------------------------------------------------------------------------

    async def begin_payments(self, requests: Sequence[PaymentRequest]) -> list[Ticket | None]:
        """Write the payments down as pending with their requestids; None for a bill whose payment is done."""
        async with transaction(self._sessions) as session:
            return await self._begin_postings(
                session,
                [
                    (
                        (request.invoice_id, request.kind),
                        request.kind,
                        PendingPosting(
                            "",
                            request.bill.vendor_id,
                            request.bill.balance if request.bill.balance is not None else request.bill.total_amt,
                            request.bill.currency or "",
                            paid_bill_id=request.bill.id,
                        ),
                    )
                    for request in requests
                ],
            )

    async def _begin_postings(
        self, session: AsyncSession, wanted: Sequence[tuple[Key, str, PendingPosting]]
    ) -> list[Ticket | None]:
        """Fee bills or payments written down as pending: (key, requestid operation, what to write, its requestid
        still to fill). None for one that is done already. New postings are inserted straight as pending."""
        postings = self._postings(session)
        held = await postings.get_many([key for key, _, _ in wanted])
        tickets: list[Ticket | None] = []
        new: list[tuple[Key, PendingPosting]] = []
        known: list[tuple[Key, PendingPosting]] = []
        for key, operation, pending in wanted:
            record = held.get(key)
            if record is not None and record.state == PostingState.DONE:
                tickets.append(None)
                continue
            invoice_id = key[0]
            request_id = request_id_for(self._realm_id, invoice_id, operation, record.generation if record else 0)
            unknown = record is not None and record.state == PostingState.PENDING and record.request_id is not None
            (known if record is not None else new).append((key, dataclasses.replace(pending, request_id=request_id)))
            tickets.append(Ticket(invoice_id, request_id, unknown))
        await postings.touch([key for key, _, _ in wanted if key in held], self._run_id)
        for key, pending in known:
            postings.mark_pending(key, pending)
        await postings.insert_pending(new, self._run_id)
        return tickets

    async def finish_payments(
        self,
        *,
        done: Sequence[tuple[PaymentRequest, BillPayment | None]],
        refused: Sequence[tuple[PaymentRequest, str | None]],
        unknown: Sequence[PaymentRequest],
    ) -> None:
        """Payments made (or found: None when someone else paid the bill), refused, or of unknown outcome."""
        async with transaction(self._sessions) as session:
            postings = self._postings(session)
            await postings.record_done_many(
                [
                    ((r.invoice_id, r.kind), payment.id if payment else None, payment.home_total if payment else None)
                    for r, payment in done
                ]
            )
            requests = [request for request, _ in refused] + list(unknown)
            await postings.get_many([(r.invoice_id, r.kind) for r in requests])  # one query, not one per payment
            for request, message in refused:
                await postings.record_failed(
                    (request.invoice_id, request.kind), code="payment_refused", message=message or "refused"
                )
            for request in unknown:
                await postings.record_unknown(
                    (request.invoice_id, request.kind), message="QuickBooks did not answer; the next run checks it"
                )
