"""Reconcile: Ontop's paid invoices of a period against what QuickBooks holds, independently of the ledger.

The ledger says what the bot believes it did; reconciling reads both systems again and lists what is missing,
duplicated, different in (home) amount, still open, or paid more than once, so a finance team can trust (or correct)
the books.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal

from sync.api import Difference, ReconcileReport
from sync.bills import doc_number_for, fee_doc_number_for
from sync.money import cents
from sync.ontop.client import OntopSource
from sync.ontop.models import Invoice, InvoiceStatus
from sync.qbo.client import QboClient
from sync.qbo.models import Bill, BillPayment, VendorCredit

Document = Bill | VendorCredit
PAYMENT_MARK = "Created by qbo-bot"  # in the PrivateNote of every payment the bot makes (sync/payments.py)


def home_amount(document: Document, home_currency: str) -> Decimal | None:
    """What a document booked in home currency: HomeTotalAmt (multicurrency), else its total in home currency."""
    if document.home_total is not None:
        return cents(document.home_total)
    if document.currency in (None, home_currency):
        return cents(document.total_amt)
    return None


def expected_amounts(invoice: Invoice, home_currency: str) -> dict[str, Decimal]:
    """What the invoice's documents may add up to, by currency: the invoice's own, or what Ontop charged in USD."""
    amounts = {invoice.currency: cents(abs(invoice.total))}
    if home_currency == "USD" and invoice.usd_equivalent is not None:
        amounts["USD"] = cents(abs(invoice.usd_equivalent))
    return amounts


def compare(
    invoice: Invoice,
    own: list[Document],
    fees: list[Document],
    home: str,
    report: ReconcileReport,
    *,
    our_payments: dict[str, int] | None = None,
    payments_expected: bool = True,
) -> None:
    """Check one paid invoice's documents. `our_payments` counts, per bill id, the payments the bot made; with
    payments off (the team matches Ontop's debits in its bank feed) open bills are expected, not reported."""
    our_payments = our_payments or {}
    if not own:
        report.missing.append(invoice.number)
        return
    if len(own) > 1 or len(fees) > 1:
        report.duplicated.append(invoice.number)
        return
    documents = own + fees
    for document in documents:
        if isinstance(document, Bill):
            if payments_expected and document.balance is not None and document.balance > 0:
                report.open_bills.append(document.doc_number or document.id)
            # A bill paid in parts (by people) is fine; two payments made by the bot for one bill are not.
            if our_payments.get(document.id, 0) > 1:
                report.paid_twice.append(document.doc_number or document.id)
    allowed = expected_amounts(invoice, home)
    homes = [home_amount(document, home) for document in documents]
    if home == "USD" and "USD" in allowed and all(amount is not None for amount in homes):
        found = sum((amount for amount in homes if amount is not None), Decimal("0"))
        if found == allowed["USD"]:
            report.matching += 1
            return
        where = ", ".join(f"{document.doc_number} {document.id}" for document in documents)
        report.different.append(Difference(invoice.number, f"{allowed['USD']} USD", f"{found} USD ({where})"))
        return
    document = own[0]
    currency = document.currency or home
    total = cents(document.total_amt) + sum((cents(fee.total_amt) for fee in fees), Decimal("0"))
    if allowed.get(currency) == total:
        report.matching += 1
        return
    expected = " or ".join(f"{amount} {code}" for code, amount in allowed.items())
    report.different.append(Difference(invoice.number, expected, f"{total} {currency} (bill {document.id})"))


async def reconcile(
    ontop: OntopSource,
    qbo: QboClient,
    home_currency: str,
    since: datetime,
    until: datetime,
    *,
    payments_expected: bool = True,
) -> ReconcileReport:
    """Every PAID Ontop invoice changed in [since, until) against the bills (and credits) with its DocNumbers."""
    by_doc: dict[str, list[Document]] = defaultdict(list)
    async for row in qbo.iter_query("SELECT * FROM Bill"):
        bill = Bill.from_wire(row)
        if bill.doc_number:
            by_doc[bill.doc_number].append(bill)
    credits: dict[str, list[Document]] = defaultdict(list)
    async for row in qbo.iter_query("SELECT * FROM VendorCredit"):
        credit = VendorCredit.from_wire(row)
        if credit.doc_number:
            credits[credit.doc_number].append(credit)
    our_payments: Counter[str] = Counter()
    async for row in qbo.iter_query("SELECT * FROM BillPayment"):
        payment = BillPayment.from_wire(row)
        if PAYMENT_MARK in (payment.private_note or ""):
            our_payments.update(payment.bill_ids)
    report = ReconcileReport(since, until)
    seen: set[int] = set()  # an invoice that changes while pages are read can come twice
    async for page in ontop.invoices_changed_since(since):
        for invoice in page:
            if invoice.id in seen or invoice.updated_at >= until or invoice.status != InvoiceStatus.PAID:
                continue
            seen.add(invoice.id)
            report.paid_invoices += 1
            number = doc_number_for(invoice.number)
            own = credits.get(number, []) if invoice.total < 0 else by_doc.get(number, [])
            fees = by_doc.get(fee_doc_number_for(invoice.number), [])
            compare(
                invoice,
                own,
                fees,
                home_currency,
                report,
                our_payments=our_payments,
                payments_expected=payments_expected,
            )
    return report
