"""Reconcile: Ontop's paid invoices of a period against the bills in QuickBooks, independently of the ledger.

The ledger says what the bot believes it did; reconciling reads both systems again and lists what is missing,
duplicated, or different in amount or currency, so a finance team can trust (or correct) the books.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from sync.api import Difference, ReconcileReport
from sync.bills import doc_number_for
from sync.money import cents
from sync.ontop.client import OntopSource
from sync.ontop.models import Invoice, InvoiceStatus
from sync.qbo.client import QboClient
from sync.qbo.models import Bill


def expected_amounts(invoice: Invoice, home_currency: str) -> dict[str, Decimal]:
    """The totals a correct bill may have, by currency: the invoice's own, or Ontop's locked USD equivalent."""
    amounts = {invoice.currency: cents(invoice.total)}
    if home_currency == "USD" and invoice.usd_equivalent is not None:
        amounts.setdefault("USD", cents(invoice.usd_equivalent))
    return amounts


def compare(invoice: Invoice, bills: list[Bill], home_currency: str, report: ReconcileReport) -> None:
    if not bills:
        report.missing.append(invoice.number)
        return
    if len(bills) > 1:
        report.duplicated.append(invoice.number)
        return
    bill = bills[0]
    currency = bill.currency or home_currency
    allowed = expected_amounts(invoice, home_currency)
    if allowed.get(currency) == cents(bill.total_amt):
        report.matching += 1
        return
    expected = " or ".join(f"{amount} {code}" for code, amount in allowed.items())
    report.different.append(
        Difference(invoice.number, expected, f"{cents(bill.total_amt)} {currency} (bill {bill.id})")
    )


async def reconcile(
    ontop: OntopSource, qbo: QboClient, home_currency: str, since: datetime, until: datetime
) -> ReconcileReport:
    """Every PAID Ontop invoice changed in [since, until) against QuickBooks' bills with its DocNumber."""
    bills_by_doc: dict[str, list[Bill]] = defaultdict(list)
    async for row in qbo.iter_query("SELECT * FROM Bill"):
        bill = Bill.from_wire(row)
        if bill.doc_number:
            bills_by_doc[bill.doc_number].append(bill)
    report = ReconcileReport(since, until)
    seen: set[int] = set()  # an invoice that changes while pages are read can come twice
    async for page in ontop.invoices_changed_since(since):
        for invoice in page:
            if invoice.id in seen or invoice.updated_at >= until or invoice.status != InvoiceStatus.PAID:
                continue
            seen.add(invoice.id)
            report.paid_invoices += 1
            compare(invoice, bills_by_doc.get(doc_number_for(invoice.number), []), home_currency, report)
    return report
