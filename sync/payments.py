"""Paying the bills: a BillPayment per bill, from the pay-from account, exactly once, never twice.

The company funds Ontop in USD and Ontop pays the contractor, so each bill of a PAID invoice is paid from the
pay-from account (the "Ontop wallet" clearing account, or a card) on Ontop's paid date, at the bill's own exchange
rate: the wallet then falls by exactly what the bill booked in home currency. Like a bill, a payment is written down
pending with its requestid before it is sent; when its outcome is unknown the bill is read back (Balance,
LinkedTxn) and a payment of ours is adopted. A bill someone else already paid is recorded as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import structlog

from sync import messages
from sync.bills import carries_marker, marker
from sync.ledger import PaymentRequest, RunLedger
from sync.money import cents
from sync.qbo.client import QboClient
from sync.qbo.errors import QboAuthError, QboError, QboForbidden
from sync.qbo.models import Bill, BillPayment, BillPaymentDraft, BillPaymentLine

log = structlog.get_logger(__name__)

BATCH_SIZE = 30
CATCH_UP_PER_RUN = 300  # unpaid bills of earlier runs read (from the ledger, then QuickBooks) at a time
Part = Literal["payment", "fee-payment"]


@dataclass(frozen=True)
class PayFrom:
    """The account bills are paid from: a Bank account pays by check, a Credit Card account by card."""

    account_id: str
    pay_type: Literal["Check", "CreditCard"]


def payment_for(
    bill: Bill, *, invoice_id: str, part: Part, paid_on: date | None, pay_from: PayFrom
) -> BillPaymentDraft:
    """The payment of a bill's open balance, in the bill's currency and at the bill's exchange rate (pure)."""
    amount = bill.balance if bill.balance is not None else bill.total_amt
    return BillPaymentDraft(
        vendor_id=bill.vendor_id,
        pay_type=pay_from.pay_type,
        account_id=pay_from.account_id,
        txn_date=paid_on,
        lines=[BillPaymentLine(bill.id, cents(amount))],
        currency=bill.currency,
        exchange_rate=bill.exchange_rate,
        ap_account_id=bill.ap_account_id,  # settle the payable the bill credited, not the company's default A/P
        private_note=(
            f"Paid through Ontop (bill {bill.doc_number or bill.id}). Created by qbo-bot; {marker(invoice_id, part)}"
        ),
    )


@dataclass
class _Payment:
    request: PaymentRequest
    draft: BillPaymentDraft
    request_id: str = ""
    unknown_outcome: bool = False
    done: BillPayment | None = None
    paid_elsewhere: bool = False
    problem: str | None = None  # a refusal or a partial payment by someone else (definite)
    unavailable: bool = False


class Payer:
    """Pays the bills of one run and writes every outcome to the ledger."""

    def __init__(self, qbo: QboClient, ledger: RunLedger, pay_from: PayFrom) -> None:
        self._qbo = qbo
        self._ledger = ledger
        self._pay_from = pay_from
        self.created = 0
        self.failed = 0
        self.settled = 0  # payments written down as done (made, adopted, or the bill found paid by someone else)
        # Payments waiting to fill a batch (a batch call is one of QuickBooks' 40 a minute). A crash leaves their
        # bills unpaid in the ledger, and the next run pays them (catch_up).
        self._queue: list[PaymentRequest] = []

    async def pay(self, requests: Sequence[PaymentRequest]) -> None:
        """Pay these bills (their balance): full batches now, the rest with the next ones or flush(); bills
        whose payment is already done are left alone."""
        self._queue.extend(requests)
        while len(self._queue) >= BATCH_SIZE:
            batch, self._queue = self._queue[:BATCH_SIZE], self._queue[BATCH_SIZE:]
            await self._pay_batch(batch)

    async def flush(self) -> None:
        """Pay what is still waiting for a full batch (at the end of a run)."""
        while self._queue:
            batch, self._queue = self._queue[:BATCH_SIZE], self._queue[BATCH_SIZE:]
            await self._pay_batch(batch)

    async def catch_up(self) -> None:
        """Pay bills of earlier runs still open: read them first, so a bill someone else paid is not paid again.

        A page of the ledger at a time (its bills read back in one query, paid in full batches) until a page
        settles nothing more: what keeps failing is left for the next run.
        """
        while True:
            settled_before = self.settled
            open_bills = await self._ledger.unpaid_bills(CATCH_UP_PER_RUN)
            if not open_bills:
                return
            bills = {bill.id: bill for bill in await self._qbo.get_bills([item.bill_id for item in open_bills])}
            requests = []
            for item in open_bills:
                bill = bills.get(item.bill_id)
                if bill is not None:
                    requests.append(PaymentRequest(item.invoice_id, item.kind, bill, item.paid_on, read_back=True))
            for start in range(0, len(requests), BATCH_SIZE):
                await self._pay_batch(requests[start : start + BATCH_SIZE])
            if self.settled == settled_before or len(open_bills) < CATCH_UP_PER_RUN:
                return

    async def _pay_batch(self, requests: Sequence[PaymentRequest]) -> None:
        tickets = await self._ledger.begin_payments(requests)
        payments = []
        for request, ticket in zip(requests, tickets, strict=True):
            if ticket is None:
                continue  # paid already
            part: Part = "payment" if request.kind == "payment" else "fee-payment"
            draft = payment_for(
                request.bill, invoice_id=request.invoice_id, part=part, paid_on=request.paid_on, pay_from=self._pay_from
            )
            payments.append(_Payment(request, draft, ticket.request_id, ticket.unknown_outcome))
        to_send = []
        for payment in payments:
            if payment.unknown_outcome or payment.request.read_back:
                await self._look_first(payment)
            if payment.done is None and not payment.paid_elsewhere and payment.problem is None:
                to_send.append(payment)
        if to_send:
            await self._send(to_send)
        await self._ledger.finish_payments(
            done=[(p.request, p.done) for p in payments if p.done is not None or p.paid_elsewhere],
            refused=[(p.request, p.problem) for p in payments if p.problem is not None],
            unknown=[p.request for p in payments if p.unavailable],
        )
        self.created += sum(1 for p in payments if p.done is not None)
        self.settled += sum(1 for p in payments if p.done is not None or p.paid_elsewhere)
        self.failed += sum(1 for p in payments if p.problem is not None or p.unavailable)

    async def _look_first(self, payment: _Payment) -> None:
        """The bill as QuickBooks has it now: a payment of ours to adopt, or paid (in part) by someone else."""
        bill = payment.request.bill
        if not payment.request.read_back:
            bill = await self._qbo.get_bill(bill.id) or bill
        part: Part = "payment" if payment.request.kind == "payment" else "fee-payment"
        for payment_id in bill.linked_payments:
            found = await self._qbo.get_bill_payment(payment_id)
            if found is not None and carries_marker(found.private_note, payment.request.invoice_id, part):
                payment.done = found
                return
        balance = bill.balance if bill.balance is not None else bill.total_amt
        if balance <= 0:
            payment.paid_elsewhere = True
        elif balance < bill.total_amt:
            payment.problem = messages.partly_paid_elsewhere(bill.doc_number or bill.id)
        else:
            payment.draft = payment_for(
                bill,
                invoice_id=payment.request.invoice_id,
                part=part,
                paid_on=payment.request.paid_on,
                pay_from=self._pay_from,
            )

    async def _send(self, payments: list[_Payment]) -> None:
        try:
            results = await self._qbo.create_bill_payments_batch(
                [(f"p{index}", payment.draft, payment.request_id) for index, payment in enumerate(payments)]
            )
        except (QboAuthError, QboForbidden):
            raise
        except QboError as exc:
            log.warning("sync.payments_unavailable", code=exc.code)
            for payment in payments:
                payment.unavailable = True
            return
        for index, payment in enumerate(payments):
            outcome = results.get(f"p{index}")
            if isinstance(outcome, BillPayment):
                payment.done = outcome
            elif isinstance(outcome, QboError) and not outcome.is_transient:
                payment.problem = messages.qbo_refused_payment(outcome.message, outcome.detail, outcome.code)
            else:
                payment.unavailable = True
