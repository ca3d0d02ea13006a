"""From an Ontop invoice to a QBO Bill draft: pure rules, no I/O.

Policy (documented in the README's guarantees):
- Only PAID invoices become bills: amounts and the exchange rate are locked at payment. DRAFT and PENDING
  invoices wait; they are read again when they change.
- A CANCELLED invoice never gets a bill. If it already has one, the bill is left alone and the run reports it for a
  person to void in QuickBooks: the bot never edits or deletes a bill.
- A correction (an invoice that replaces another) is billed like any invoice when the original has no bill; when
  the original already has one, the correction is held for review instead of booking the expense twice.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sync.api import Fix, FixKind
from sync.money import cents
from sync.ontop.models import Invoice, InvoiceStatus
from sync.qbo.models import BillDraft, BillLineDraft

DOC_NUMBER_MAX = 21  # QBO rejects longer DocNumbers with 2050
REQUEST_ID_NAMESPACE = uuid.UUID("6f1c6a52-8b1e-4c41-9a3e-5d2b7f0c9e11")
CONCEPT_ALIASES = {"REFUND": "REIMBURSEMENT"}
EXCHANGE_RATE_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class Company:
    """What the bill rules need to know about the QBO company."""

    realm_id: str
    home_currency: str
    multicurrency_enabled: bool


@dataclass(frozen=True)
class VendorForBill:
    vendor_id: str
    display_name: str
    currency: str | None  # the vendor's fixed currency (None: the home currency)


@dataclass(frozen=True)
class BillProblem:
    """Why an invoice cannot become a bill now, and what fixes it."""

    code: str
    message: str
    fix: Fix | None = None


def concept_key(concept: str) -> str:
    """The mapping key of a line's concept: the raw code, upper-case, with Ontop's aliases folded."""
    key = str(concept).strip().upper()
    return CONCEPT_ALIASES.get(key, key)


def doc_number_for(invoice_number: str) -> str:
    """The invoice number, or a deterministic shortening of it when it exceeds QBO's 21 characters."""
    number = invoice_number.strip()
    if len(number) <= DOC_NUMBER_MAX:
        return number
    digest = hashlib.sha256(number.encode()).hexdigest()[:6]
    return f"{number[: DOC_NUMBER_MAX - 7]}~{digest}"


def request_id_for(realm_id: str, invoice_id: str, operation: str, generation: int) -> str:
    """A requestid that is the same on every retry of one logical write (32 chars: fits batch's 36 limit)."""
    return uuid.uuid5(REQUEST_ID_NAMESPACE, f"{realm_id}:{invoice_id}:{operation}:{generation}").hex


def private_note_for(invoice: Invoice) -> str:
    return f"Ontop invoice {invoice.number} (id {invoice.id}). Created by qbo-bot from Ontop; ref ontop:{invoice.id}"


def waiting_reason(invoice: Invoice) -> str | None:
    """Why a not-yet-final invoice is not billed yet (None when it is PAID)."""
    if invoice.status == InvoiceStatus.PAID:
        return None
    if invoice.status == InvoiceStatus.CANCELLED:
        return "cancelled in Ontop"
    return f"{str(invoice.status).lower()} in Ontop; billed once paid"


def build_bill(
    invoice: Invoice,
    vendor: VendorForBill,
    mapping: dict[str, str],
    company: Company,
    default_account_id: str | None = None,
) -> BillDraft | BillProblem:
    """The Bill for a PAID invoice, or the problem that stops it (unmapped concept, currency)."""
    unmapped = sorted({concept_key(line.concept) for line in invoice.lines} - set(mapping))
    if unmapped and default_account_id is None:
        concept = unmapped[0]
        others = f" (and {', '.join(unmapped[1:])})" if len(unmapped) > 1 else ""
        return BillProblem(
            code="unmapped_concept",
            message=f"concept {concept}{others} is not mapped to a QuickBooks account",
            fix=Fix(FixKind.MAP_CONCEPT, concept, f"Map {concept.replace('_', ' ').capitalize()}"),
        )
    if not invoice.lines:
        return BillProblem(code="no_lines", message="the invoice has no lines", fix=None)

    money = _bill_money(invoice, vendor, company)
    if isinstance(money, BillProblem):
        return money
    currency, exchange_rate, amounts = money

    lines = [
        BillLineDraft(
            amount=amount,
            account_id=mapping.get(concept_key(line.concept), default_account_id or ""),
            description=_line_description(line.concept_label or str(line.concept), line.description, invoice, currency),
        )
        for line, amount in zip(invoice.lines, amounts, strict=True)
    ]
    return BillDraft(
        vendor_id=vendor.vendor_id,
        doc_number=doc_number_for(invoice.number),
        txn_date=invoice.issue_date or invoice.paid_date,
        due_date=invoice.due_date,
        currency=currency if company.multicurrency_enabled else None,
        exchange_rate=exchange_rate,
        private_note=private_note_for(invoice),
        lines=lines,
    )


def _line_description(label: str, title: str, invoice: Invoice, bill_currency: str) -> str:
    text = f"{label}: {title}" if title and title != label else label
    if invoice.currency != bill_currency:
        amount_note = f" (paid as {invoice.currency}"
        return text + amount_note + f" at {invoice.exchange_rate} per USD)"
    return text


def _bill_money(
    invoice: Invoice, vendor: VendorForBill, company: Company
) -> tuple[str, Decimal | None, list[Decimal]] | BillProblem:
    """Choose the bill's currency, exchange rate and line amounts. Never a silent conversion.

    - In the invoice's currency when that is the home currency, or when multicurrency is on and the vendor is in
      that currency (with QBO's rate: home units per invoice unit, the inverse of Ontop's per-USD rate).
    - Else in USD, from Ontop's locked USD amounts, when USD is the home currency and the vendor is in USD.
    """
    home = company.home_currency
    vendor_currency = vendor.currency or home
    original = [cents(line.amount) for line in invoice.lines]
    if invoice.currency == home and vendor_currency == home:
        return home, None, original
    if company.multicurrency_enabled and vendor_currency == invoice.currency:
        if home != "USD":
            return _currency_problem(
                invoice, f"no {invoice.currency}→{home} rate is known (Ontop gives rates against USD only)"
            )
        if not invoice.exchange_rate or invoice.exchange_rate <= 0:
            return _currency_problem(invoice, "Ontop has no exchange rate for it yet")
        rate = (Decimal(1) / invoice.exchange_rate).quantize(EXCHANGE_RATE_PLACES, rounding=ROUND_HALF_UP)
        return invoice.currency, rate, original
    if home == "USD" and vendor_currency == "USD":
        usd_lines = [line.amount_usd for line in invoice.lines]
        if invoice.usd_equivalent is None or any(amount is None for amount in usd_lines):
            return _currency_problem(invoice, "Ontop has no USD equivalent for it yet")
        amounts = [cents(amount) for amount in usd_lines if amount is not None]
        # Ontop rounds each line and the total separately; the total is what was paid, so the last line absorbs
        # the cent of difference.
        amounts[-1] += cents(invoice.usd_equivalent) - sum(amounts, Decimal("0"))
        return "USD", None, amounts
    return _currency_problem(
        invoice,
        f"the supplier {vendor.display_name} is in {vendor_currency} and the company's home currency is {home}",
    )


def _currency_problem(invoice: Invoice, reason: str) -> BillProblem:
    return BillProblem(
        code="currency",
        message=f"cannot book a {invoice.currency} invoice: {reason}",
        fix=Fix(FixKind.CONTACT_SUPPORT, str(invoice.id), "How to fix"),
    )
