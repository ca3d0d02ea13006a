"""From an Ontop invoice to what QuickBooks gets: pure rules, no I/O (docs/accounting.md explains the entries).

Which invoices become bills at all is decided in sync/plan.py; this module says what the documents look like:
- the contractor's Bill (or a VendorCredit when the invoice's total is negative), in the supplier's currency;
- Ontop's fee lines on a separate Bill to the "Ontop" supplier, in USD, from the lines' `amountUsd`;
- per invoice, the home-currency (USD) amounts add up to what Ontop charged (`totalUsd`) to the cent: a foreign-
  currency bill carries an exchange rate precise enough for that, a USD bill carries Ontop's USD amounts.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from storage.models import InvoiceDocument
from sync import messages
from sync.api import Fix, FixKind
from sync.money import CENT, cents
from sync.ontop.models import Invoice, InvoiceLine
from sync.qbo.models import BillDraft, BillLineDraft, VendorCreditDraft

DOC_NUMBER_MAX = 21  # QBO rejects longer DocNumbers with 2050
REQUEST_ID_NAMESPACE = uuid.UUID("6f1c6a52-8b1e-4c41-9a3e-5d2b7f0c9e11")
CONCEPT_ALIASES = {"REFUND": "REIMBURSEMENT"}
FEE_CONCEPT = "FEE"
FEE_DOC_SUFFIX = "-F"
TAX_INCLUSIVE = "TaxInclusive"  # non-US companies: the lines are what was paid; QBO adds no tax on top
MIN_RATE_PLACES = 6
MAX_RATE_PLACES = 24
_REF = re.compile(r"\bref ontop:(\d+)(?::([a-z-]+))?(?![\w:])")


@dataclass(frozen=True)
class Company:
    """What the bill rules need to know about the QBO company."""

    realm_id: str
    home_currency: str
    multicurrency_enabled: bool
    country: str = "USA"
    # Preferences.AccountingInfoPrefs: a line's ClassRef needs ClassTrackingPerLine, a DepartmentRef (location)
    # TrackDepartments; without them no ref is sent, so companies that track nothing get the bills they always got.
    class_tracking: bool = False
    track_departments: bool = False

    @property
    def needs_tax_codes(self) -> bool:
        """Non-US companies need a tax code on every expense line (reference §18.3)."""
        return self.country.upper() not in ("USA", "US")


@dataclass(frozen=True)
class Books:
    """How the company books Ontop invoices, chosen once by an admin."""

    fees_on_contractor_bill: bool = False
    ap_accounts: Mapping[str, str] = field(default_factory=dict)  # currency -> the A/P account to send
    tax_codes: Mapping[str, str] = field(default_factory=dict)  # concept -> tax code id (non-US companies)
    default_tax_code: str | None = None
    concept_classes: Mapping[str, str] = field(default_factory=dict)  # concept -> QBO Class id
    worker_classes: Mapping[str, str] = field(default_factory=dict)  # agreement id -> QBO Class id
    worker_locations: Mapping[str, str] = field(default_factory=dict)  # agreement id -> QBO Department id


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


@dataclass(frozen=True)
class Booking:
    """Everything one invoice puts in QuickBooks, before any of it is sent."""

    document: InvoiceDocument
    main: BillDraft | VendorCreditDraft | None  # the contractor's bill or credit (None: a fee bill left to make)
    expected_home: Decimal | None  # the main document's home amount (USD home companies), to the cent
    usd_total: Decimal | None  # what Ontop charged for the invoice
    fee_bill: BillDraft | None = None  # Ontop's fees, to the Ontop supplier (vendor id filled in by the run)
    fee_usd: Decimal = Decimal("0")


def concept_key(concept: str) -> str:
    """The mapping key of a line's concept: the raw code, upper-case, with Ontop's aliases folded."""
    key = str(concept).strip().upper()
    return CONCEPT_ALIASES.get(key, key)


def doc_number_for(invoice_number: str, suffix: str = "") -> str:
    """The invoice number (plus a suffix), shortened deterministically when it exceeds QBO's 21 characters."""
    number = invoice_number.strip() + suffix
    if len(number) <= DOC_NUMBER_MAX:
        return number
    digest = hashlib.sha256(number.encode()).hexdigest()[:6]
    return f"{number[: DOC_NUMBER_MAX - 7]}~{digest}"


def fee_doc_number_for(invoice_number: str) -> str:
    return doc_number_for(invoice_number, FEE_DOC_SUFFIX)


def request_id_for(realm_id: str, invoice_id: str, operation: str, generation: int) -> str:
    """A requestid that is the same on every retry of one logical write (32 chars: fits batch's 36 limit)."""
    return uuid.uuid5(REQUEST_ID_NAMESPACE, f"{realm_id}:{invoice_id}:{operation}:{generation}").hex


def marker(invoice: Invoice | str, part: str | None = None) -> str:
    """The reference every document the bot writes carries in its PrivateNote: how a lookup knows it is ours."""
    invoice_id = invoice if isinstance(invoice, str) else str(invoice.id)
    return f"ref ontop:{invoice_id}" + (f":{part}" if part else "")


def carries_marker(note: str | None, invoice_id: str, part: str | None = None) -> bool:
    """Whether a PrivateNote carries exactly this document's reference (not a longer id's, not another part's)."""
    return any(match.groups() == (invoice_id, part) for match in _REF.finditer(note or ""))


def private_note_for(invoice: Invoice) -> str:
    return f"Ontop invoice {invoice.number} (id {invoice.id}). Created by qbo-bot from Ontop; {marker(invoice)}"


def fee_note_for(invoice: Invoice) -> str:
    return (
        f"Ontop's fees on invoice {invoice.number} (id {invoice.id}). Created by qbo-bot from Ontop;"
        f" {marker(invoice, 'fees')}"
    )


def exact_rate(amount: Decimal, home_amount: Decimal) -> Decimal:
    """The shortest exchange rate (home units per unit) with round_half_up(amount × rate, 2) == home_amount.

    Six decimals are not enough for currencies with large amounts (10,665,000.00 COP needs ten), so the rate grows
    decimals until the product lands on the cent.
    """
    if amount <= 0 or home_amount < 0:
        raise ValueError("an exchange rate needs a positive amount")
    for places in range(MIN_RATE_PLACES, MAX_RATE_PLACES + 1):
        rate = (home_amount / amount).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if cents(amount * rate) == home_amount:
            return rate
    raise ValueError(f"no rate with {MAX_RATE_PLACES} decimals turns {amount} into {home_amount}")


def fit_to_total(amounts: Sequence[Decimal], total: Decimal) -> list[Decimal] | None:
    """Ontop rounds each line's USD and the invoice's USD separately: move the cents of difference onto the lines,
    at most one cent per line; None when the lines are further off than that (an error that names the invoice)."""
    fitted = [cents(amount) for amount in amounts]
    difference = cents(total) - sum(fitted, Decimal("0"))
    steps = int(abs(difference) / CENT)
    if steps > len(fitted):
        return None
    step = CENT if difference > 0 else -CENT
    order = sorted(range(len(fitted)), key=lambda index: abs(fitted[index]), reverse=True)
    for index in order[:steps]:
        fitted[index] += step
    return fitted


def build_booking(
    invoice: Invoice,
    vendor: VendorForBill,
    mapping: Mapping[str, str],
    company: Company,
    books: Books | None = None,
    default_account_id: str | None = None,
) -> Booking | BillProblem:
    """The documents of a PAID invoice, or the problem that stops it (unmapped concept, currency, tax code)."""
    books = books or Books()
    concepts = sorted({concept_key(line.concept) for line in invoice.lines})
    unmapped = [concept for concept in concepts if concept not in mapping]
    if unmapped and default_account_id is None:
        return BillProblem(
            "unmapped_concept", messages.not_mapped(unmapped[0], unmapped[1:]), Fix(FixKind.MAP_CONCEPT, unmapped[0])
        )
    if not invoice.lines:
        return BillProblem("no_lines", messages.NO_LINES, None)
    if company.needs_tax_codes:
        untaxed = [concept for concept in concepts if not (books.tax_codes.get(concept) or books.default_tax_code)]
        if untaxed:
            return BillProblem("no_tax_code", messages.no_tax_code(untaxed[0]), Fix(FixKind.MAP_CONCEPT, untaxed[0]))
    negative = invoice.total < 0
    split_fees = not negative and not books.fees_on_contractor_bill and company.home_currency == "USD"
    fee_lines = [line for line in invoice.lines if split_fees and concept_key(line.concept) == FEE_CONCEPT]
    own_lines = [line for line in invoice.lines if line not in fee_lines]
    usd_total = _usd_total(invoice)
    fee_usd = Decimal("0")
    if fee_lines:
        fee_amounts = [_line_usd(line, invoice) for line in fee_lines]
        if usd_total is None or any(amount is None for amount in fee_amounts):
            return _currency_problem(invoice, messages.NO_USD_EQUIVALENT_YET)
        fee_usd = sum((cents(amount) for amount in fee_amounts if amount is not None), Decimal("0"))
    sign = Decimal(-1) if negative else Decimal(1)
    own_usd = sign * (usd_total - fee_usd) if usd_total is not None else None
    money = _document_money(invoice, own_lines, own_usd, vendor, company, sign)
    if isinstance(money, BillProblem):
        return money
    currency, rate, amounts, expected_home = money
    worker = str(invoice.agreement_id) if invoice.agreement_id is not None else ""
    worker_class = books.worker_classes.get(worker)
    lines = _lines(invoice, own_lines, amounts, currency, mapping, books, company, default_account_id, worker_class)
    location = location_of(invoice, company, books)
    doc_number = doc_number_for(invoice.number)
    txn_date = invoice.issue_date or invoice.paid_date
    bill_currency = currency if company.multicurrency_enabled else None
    tax_mode = TAX_INCLUSIVE if company.needs_tax_codes else None
    ap_account = books.ap_accounts.get(currency)
    main: BillDraft | VendorCreditDraft
    if negative:
        main = VendorCreditDraft(
            vendor_id=vendor.vendor_id,
            doc_number=doc_number,
            txn_date=txn_date,
            currency=bill_currency,
            exchange_rate=rate,
            private_note=private_note_for(invoice),
            lines=lines,
            ap_account_id=ap_account,
            global_tax_calculation=tax_mode,
            department_id=location,
        )
    else:
        main = BillDraft(
            vendor_id=vendor.vendor_id,
            doc_number=doc_number,
            txn_date=txn_date,
            due_date=invoice.due_date,
            currency=bill_currency,
            exchange_rate=rate,
            private_note=private_note_for(invoice),
            lines=lines,
            ap_account_id=ap_account,
            global_tax_calculation=tax_mode,
            department_id=location,
        )
    fee_bill = _fee_bill(invoice, fee_lines, mapping, company, books, default_account_id) if fee_lines else None
    document = InvoiceDocument.VENDOR_CREDIT if negative else InvoiceDocument.BILL
    return Booking(document, main, expected_home, usd_total, fee_bill, fee_usd)


def build_fee_booking(
    invoice: Invoice,
    mapping: Mapping[str, str],
    company: Company,
    books: Books | None = None,
    default_account_id: str | None = None,
) -> Booking | None:
    """Only the fee bill of an invoice whose own bill exists (an earlier run could not make the fee bill)."""
    books = books or Books()
    fee_lines = [line for line in invoice.lines if concept_key(line.concept) == FEE_CONCEPT]
    if not fee_lines or books.fees_on_contractor_bill or company.home_currency != "USD" or invoice.total < 0:
        return None
    if any(concept_key(line.concept) not in mapping for line in fee_lines) and default_account_id is None:
        return None
    usd = [_line_usd(line, invoice) for line in fee_lines]
    if any(amount is None for amount in usd):
        return None  # a fee without Ontop's USD amount is never guessed (build_booking refuses the invoice too)
    fee_usd = sum((cents(amount) for amount in usd if amount is not None), Decimal("0"))
    fee_bill = _fee_bill(invoice, fee_lines, mapping, company, books, default_account_id)
    return Booking(InvoiceDocument.BILL, None, None, _usd_total(invoice), fee_bill, fee_usd)


def _fee_bill(
    invoice: Invoice,
    fee_lines: list[InvoiceLine],
    mapping: Mapping[str, str],
    company: Company,
    books: Books,
    default_account_id: str | None,
) -> BillDraft:
    usd = [_line_usd(line, invoice) or Decimal("0") for line in fee_lines]
    # The fee bill's lines take the FEE concept's class, not the worker's: they are Ontop's charges, not the
    # worker's pay. The bill takes the worker's location: what a worker costs a location includes Ontop's fees
    # (docs/accounting.md, "Classes and locations").
    lines = _lines(
        invoice, fee_lines, [cents(amount) for amount in usd], "USD", mapping, books, company, default_account_id, None
    )
    return BillDraft(
        vendor_id="",
        doc_number=fee_doc_number_for(invoice.number),
        txn_date=invoice.issue_date or invoice.paid_date,
        due_date=invoice.due_date,
        currency="USD" if company.multicurrency_enabled else None,
        exchange_rate=None,
        private_note=fee_note_for(invoice),
        lines=lines,
        ap_account_id=books.ap_accounts.get("USD"),
        global_tax_calculation=TAX_INCLUSIVE if company.needs_tax_codes else None,
        department_id=location_of(invoice, company, books),
    )


def location_of(invoice: Invoice, company: Company, books: Books) -> str | None:
    """The worker's location (a QBO Department id) when the company tracks locations."""
    if not company.track_departments or invoice.agreement_id is None:
        return None
    return books.worker_locations.get(str(invoice.agreement_id))


def _lines(
    invoice: Invoice,
    source: list[InvoiceLine],
    amounts: list[Decimal],
    currency: str,
    mapping: Mapping[str, str],
    books: Books,
    company: Company,
    default_account_id: str | None,
    worker_class: str | None,
) -> list[BillLineDraft]:
    drafts = []
    for line, amount in zip(source, amounts, strict=True):
        concept = concept_key(line.concept)
        tax_code = (books.tax_codes.get(concept) or books.default_tax_code) if company.needs_tax_codes else None
        # The worker's class wins over the concept's: a department's budget follows the person, whatever the line.
        class_id = (worker_class or books.concept_classes.get(concept)) if company.class_tracking else None
        drafts.append(
            BillLineDraft(
                amount=amount,
                account_id=mapping.get(concept, default_account_id or ""),
                description=_line_description(
                    line.concept_label or str(line.concept), line.description, invoice, currency
                ),
                tax_code_id=tax_code,
                class_id=class_id,
            )
        )
    return drafts


def _line_description(label: str, title: str, invoice: Invoice, bill_currency: str) -> str:
    text = f"{label}: {title}" if title and title != label else label
    if invoice.currency != bill_currency:
        return text + f" (paid as {invoice.currency} at {invoice.exchange_rate} per USD)"
    return text


def _usd_total(invoice: Invoice) -> Decimal | None:
    if invoice.usd_equivalent is not None:
        return cents(invoice.usd_equivalent)
    return cents(invoice.total) if invoice.currency == "USD" else None


def _line_usd(line: InvoiceLine, invoice: Invoice) -> Decimal | None:
    if line.amount_usd is not None:
        return line.amount_usd
    return line.amount if invoice.currency == "USD" else None


def _document_money(
    invoice: Invoice,
    lines: list[InvoiceLine],
    own_usd: Decimal | None,
    vendor: VendorForBill,
    company: Company,
    sign: Decimal,
) -> tuple[str, Decimal | None, list[Decimal], Decimal | None] | BillProblem:
    """The document's currency, exchange rate, line amounts and expected home amount. Never a silent conversion.

    - In the invoice's currency when that is the home currency (exact by construction).
    - In the invoice's currency when multicurrency is on and the supplier is in it, with the exchange rate that
      makes the home amount Ontop's USD (USD home companies only: Ontop's rates are against USD).
    - Else in USD, from Ontop's locked USD amounts, when USD is the home currency and the supplier is in USD.
    """
    home = company.home_currency
    vendor_currency = vendor.currency or home
    original = [sign * cents(line.amount) for line in lines]
    if invoice.currency == home and vendor_currency == home:
        expected = sum(original, Decimal("0")) if home == "USD" else None
        return home, None, original, expected
    if company.multicurrency_enabled and vendor_currency == invoice.currency:
        if home != "USD":
            return _currency_problem(invoice, messages.no_rate_between(invoice.currency, home))
        if own_usd is None:
            return _currency_problem(invoice, messages.NO_USD_EQUIVALENT_YET)
        local = sum(original, Decimal("0"))
        rate = exact_rate(local, own_usd) if local > 0 else None
        return invoice.currency, rate, original, own_usd
    if home == "USD" and vendor_currency == "USD":
        usd = [_line_usd(line, invoice) for line in lines]
        if own_usd is None or any(amount is None for amount in usd):
            return _currency_problem(invoice, messages.NO_USD_EQUIVALENT_YET)
        fitted = fit_to_total([sign * amount for amount in usd if amount is not None], own_usd)
        if fitted is None:
            return BillProblem("usd_lines_off", messages.usd_lines_off(invoice.number), None)
        return "USD", None, fitted, own_usd
    return _supplier_currency_problem(invoice, vendor, vendor_currency, home)


def _supplier_currency_problem(invoice: Invoice, vendor: VendorForBill, vendor_currency: str, home: str) -> BillProblem:
    if home == "USD" and invoice.agreement_id is not None:
        # The worker is paid in a new currency: a supplier of theirs in that currency fixes it.
        name = f"{vendor.display_name} ({invoice.currency})"
        return BillProblem(
            "supplier_currency",
            messages.supplier_in_other_currency(vendor.display_name, vendor_currency, invoice.currency),
            Fix(FixKind.CREATE_VENDOR_IN_CURRENCY, f"{invoice.agreement_id}:{invoice.currency}", name),
        )
    return _currency_problem(invoice, messages.supplier_not_in_home(vendor.display_name, vendor_currency, home))


def _currency_problem(invoice: Invoice, reason: str) -> BillProblem:
    return BillProblem(
        code="currency",
        message=messages.cannot_book_currency(invoice.currency, reason),
        fix=Fix(FixKind.CONTACT_SUPPORT, str(invoice.id)),
    )
