"""The demo's end check: what QuickBooks holds against what Ontop paid, read from both emulators, not the bot.

For every PAID Ontop invoice: its own bill (or vendor credit, when the total is negative) exists exactly once; the
home-currency amounts of its documents (its own bill plus the `-F` fee bill to the Ontop supplier) add up to what
Ontop charged in USD, to the cent; every bill is paid exactly once; Ontop's fees are not on the contractor's bill.
Across the walkthrough, no record that existed before the bot was changed, and no invoice is left failing without a
button that fixes it (read from the run summaries the finance channel received and the bot's ledger). An invoice an
admin left out of a review is expected to have no bill: it is checked for that, not counted as missing.

With several companies every check runs for each (its realm, its Ontop account, its ledger rows and its own finance
channel), and no company's channel names a worker of another's (failures, reviews and mappings stay in their own).
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from emulators.qbo.state import DEFAULT_REALM, QboEmulatorState
from handlers.ids import FixIds
from handlers.run_messages import FIX_ACTIONS
from storage.models import InvoiceState, LedgerPosting, PostingState, SyncedInvoice
from sync.api import FixKind
from sync.bills import FEE_CONCEPT, concept_key, doc_number_for, fee_doc_number_for

CENT = Decimal("0.01")
ONTOP_SUPPLIER = "Ontop"
# "QuickBooks sync #12 finished with problems in 5s: …", not "… #12 started" nor the progress "… #12: 3/10 …"
_SUMMARY_TITLE = re.compile(r"QuickBooks sync #(\d+) (?!started\b)\S")


@dataclass
class Verdict:
    """What the demo found; every list names what broke a promise (invoice numbers, or DocNumbers for bills)."""

    paid_invoices: int = 0
    contractor_bills: int = 0
    fee_bills: int = 0
    credits: int = 0
    payments: int = 0
    missing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    wrong_amounts: list[str] = field(default_factory=list)  # the same invoices as home_differences
    home_differences: list[str] = field(default_factory=list)
    open_bills: list[str] = field(default_factory=list)
    paid_twice: list[str] = field(default_factory=list)
    fees_on_contractor_bills: list[str] = field(default_factory=list)
    failing_without_fix: list[str] = field(default_factory=list)
    wrong_tracking: list[str] = field(default_factory=list)  # bills without the class or location chosen
    excluded: list[str] = field(default_factory=list)  # left out of a review by an admin: no bill expected
    excluded_but_booked: list[str] = field(default_factory=list)
    # Workers of another company of the workspace that this company's finance channel names (none is the promise).
    others_in_channel: list[str] = field(default_factory=list)
    preexisting_touched: int = 0
    seconds: float = 0.0
    company: str = ""  # the company's name in QuickBooks
    name: str = ""  # its short name in commands
    channel: str = ""  # its finance channel's id
    channel_name: str = ""
    own_workers_named: int = 0  # its channel's messages that name one of its own workers (the check can see names)

    @property
    def ok(self) -> bool:
        return not (
            self.missing
            or self.duplicated
            or self.home_differences
            or self.open_bills
            or self.paid_twice
            or self.fees_on_contractor_bills
            or self.failing_without_fix
            or self.wrong_tracking
            or self.excluded_but_booked
            or self.others_in_channel
            or self.preexisting_touched
        )

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}

    def problems(self) -> list[tuple[str, list[str]]]:
        """(what, which) for every check, in the order the transcript prints them."""
        return [
            ("missing", self.missing),
            ("duplicated", self.duplicated),
            ("home amount ≠ Ontop's USD", self.home_differences),
            ("bills still open", self.open_bills),
            ("bills paid twice", self.paid_twice),
            ("fees not on the Ontop supplier", self.fees_on_contractor_bills),
            ("failing without a fix button", self.failing_without_fix),
            ("class or location not as chosen", self.wrong_tracking),
            ("left out of a review but booked", self.excluded_but_booked),
            ("another company's workers in its channel", self.others_in_channel),
        ]


@dataclass
class DemoVerdict:
    """Every company's verdict, the first company's first (its keys stay at the top of the JSON summary)."""

    companies: list[Verdict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(verdict.ok for verdict in self.companies)

    @property
    def paid_invoices(self) -> int:
        return sum(verdict.paid_invoices for verdict in self.companies)

    def as_json(self) -> dict[str, Any]:
        first = self.companies[0].as_json() if self.companies else Verdict().as_json()
        return {**first, "ok": self.ok, "seconds": self.seconds, "companies": [v.as_json() for v in self.companies]}


@dataclass(frozen=True)
class QboBooks:
    """The demo company's documents (copied under the emulator's lock), pre-existing ones left out, and its
    suppliers, pre-existing ones included."""

    bills: list[dict[str, Any]]
    credits: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    vendors: dict[str, dict[str, Any]]
    attached: set[str]  # ids of the transactions with an attachment
    vendors_created: int
    home_currency: str
    preexisting_touched: int


def read_qbo(qbo: QboEmulatorState, realm_id: str = DEFAULT_REALM) -> QboBooks:
    with qbo.lock:
        company = qbo.companies[realm_id]

        def live(kind: str) -> list[dict[str, Any]]:
            return [
                dict(record)
                for key, record in company.of(kind).items()
                if (kind, key) not in company.preexisting and record.get("status") != "Deleted"
            ]

        attached = {
            str(ref["EntityRef"]["value"])
            for item in company.of("Attachable").values()
            for ref in item.get("AttachableRef", [])
            if ref.get("EntityRef")
        }
        vendors = {key: dict(vendor) for key, vendor in company.of("Vendor").items()}
        return QboBooks(
            bills=live("Bill"),
            credits=live("VendorCredit"),
            payments=live("BillPayment"),
            vendors=vendors,
            attached=attached,
            vendors_created=sum(1 for key in vendors if ("Vendor", key) not in company.preexisting),
            home_currency=company.home_currency,
            preexisting_touched=sum(
                1 for entry in qbo.audit_log() if entry["touched_preexisting"] and entry["realm_id"] == realm_id
            ),
        )


def home_amount(document: dict[str, Any]) -> Decimal:
    """What a document booked in home currency: QBO's HomeTotalAmt (multicurrency), else its TotalAmt."""
    home = document.get("HomeTotalAmt")
    return Decimal(str(home if home is not None else document.get("TotalAmt", 0))).quantize(CENT)


def ontop_usd(row: dict[str, Any]) -> Decimal:
    """What Ontop charged for an invoice in USD: its total for a USD invoice, else totalUsd."""
    value = row["total"] if row["currency"] == "USD" else row["totalUsd"]
    return Decimal(str(value)).quantize(CENT)


def fee_lines(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [line for line in row.get("lines") or [] if concept_key(str(line.get("concept", ""))) == FEE_CONCEPT]


def line_accounts(document: dict[str, Any]) -> set[str]:
    accounts = set()
    for line in document.get("Line") or []:
        detail = line.get("AccountBasedExpenseLineDetail") or {}
        ref = (detail.get("AccountRef") or {}).get("value")
        if ref:
            accounts.add(str(ref))
    return accounts


def payment_lines_per_bill(payments: Iterable[dict[str, Any]]) -> Counter[str]:
    """How many BillPayment lines pay each bill (a bill paid once has exactly one)."""
    paid: Counter[str] = Counter()
    for payment in payments:
        for line in payment.get("Line") or []:
            for link in line.get("LinkedTxn") or []:
                if link.get("TxnType") == "Bill":
                    paid[str(link.get("TxnId"))] += 1
    return paid


def ontop_supplier_ids(vendors: dict[str, dict[str, Any]]) -> set[str]:
    return {
        key
        for key, vendor in vendors.items()
        if vendor.get("DisplayName") == ONTOP_SUPPLIER or vendor.get("CompanyName") == ONTOP_SUPPLIER
    }


def check_books(
    books: QboBooks,
    invoices: Sequence[dict[str, Any]],
    *,
    fees_on_ontop: bool = True,
    fee_account_id: str | None = None,
    excluded: Collection[str] = (),
) -> Verdict:
    """Every paid invoice against its documents in QuickBooks (the invoice rows as Ontop serves them).

    fee_account_id: the account the FEE concept was mapped to, when no other concept uses it: a contractor bill
    with a line on it carries Ontop's fees.
    excluded: the numbers of invoices an admin left out of a review: they must have no bill.
    """
    verdict = Verdict(preexisting_touched=books.preexisting_touched, excluded=sorted(excluded))
    fee_docs = {fee_doc_number_for(str(row["invoiceNumber"])) for row in invoices}
    bills_by_doc: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for bill in books.bills:
        bills_by_doc[str(bill.get("DocNumber") or "")].append(bill)
    credits_by_doc: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for credit in books.credits:
        credits_by_doc[str(credit.get("DocNumber") or "")].append(credit)
    verdict.fee_bills = sum(1 for bill in books.bills if bill.get("DocNumber") in fee_docs)
    verdict.contractor_bills = len(books.bills) - verdict.fee_bills
    verdict.credits = len(books.credits)
    verdict.payments = len(books.payments)
    paid_lines = payment_lines_per_bill(books.payments)
    ontop_ids = ontop_supplier_ids(books.vendors)
    contractor_vendors = {
        str(bill["VendorRef"]["value"]) for bill in books.bills if bill.get("DocNumber") not in fee_docs
    }
    paid = [row for row in invoices if row.get("status") == "PAID"]
    verdict.paid_invoices = len(paid)
    for row in paid:
        number = str(row["invoiceNumber"])
        negative = Decimal(str(row["total"])) < 0
        doc = doc_number_for(number)
        own = credits_by_doc.get(doc, []) if negative else bills_by_doc.get(doc, [])
        fees = bills_by_doc.get(fee_doc_number_for(number), [])
        if number in excluded:
            if own or fees:
                verdict.excluded_but_booked.append(number)
            continue
        if not own:
            verdict.missing.append(number)
            continue
        if len(own) > 1 or len(fees) > 1:
            verdict.duplicated.append(number)
            continue
        main = own[0]
        sign = Decimal(-1) if negative else Decimal(1)
        booked = sign * home_amount(main) + sum((home_amount(fee) for fee in fees), Decimal(0))
        if booked != ontop_usd(row):
            verdict.home_differences.append(number)
        misplaced = fees_on_ontop and fee_account_id is not None and fee_account_id in line_accounts(main)
        if fees_on_ontop and not negative and fee_lines(row) and not fees:
            misplaced = True  # the invoice's fees have no bill of their own: they went on the contractor's
        for fee in fees:
            vendor_id = str(fee["VendorRef"]["value"])
            if vendor_id not in ontop_ids or vendor_id in contractor_vendors:
                misplaced = True
        if misplaced:
            verdict.fees_on_contractor_bills.append(number)
        for bill in ([] if negative else [main]) + fees:
            balance = Decimal(str(bill.get("Balance", bill.get("TotalAmt", 0))))
            label = str(bill.get("DocNumber") or bill["Id"])
            if balance > 0:
                verdict.open_bills.append(label)
            if balance < 0 or paid_lines[str(bill["Id"])] > 1:
                verdict.paid_twice.append(label)
    verdict.wrong_amounts = list(verdict.home_differences)
    return verdict


@dataclass(frozen=True)
class TrackingChosen:
    """What an admin chose in `/qbo tracking`: a class for one concept, a class and a location for one worker."""

    concept: str
    concept_class_id: str
    agreement_id: str
    worker_class_id: str
    location_id: str


def check_tracking(
    books: QboBooks, invoices: Sequence[dict[str, Any]], chosen: TrackingChosen, *, fees_on_ontop: bool = True
) -> list[str]:
    """The DocNumbers of bills whose ClassRefs or DepartmentRef are not what was chosen (read back from QuickBooks).

    The worker's bills: every line carries the worker's class (it wins over the concept's), the bill and its fee
    bill the worker's location. Everyone else's: a line of the concept carries its class, other lines none (only
    one concept has a class), and no location. Fee bills to Ontop: no class (FEE has none), the worker's location.
    """
    bills = {str(bill.get("DocNumber") or ""): bill for bill in books.bills}
    wrong: list[str] = []
    for row in invoices:
        if row.get("status") != "PAID" or Decimal(str(row["total"])) < 0:
            continue
        number = str(row["invoiceNumber"])
        theirs = str(row.get("agreementId")) == chosen.agreement_id
        location = chosen.location_id if theirs else None
        main, fees = bills.get(doc_number_for(number)), bills.get(fee_doc_number_for(number))
        if main is not None:
            own = [line for line in row["lines"] if not (fees_on_ontop and concept_key(line["concept"]) == FEE_CONCEPT)]
            expected = [
                chosen.worker_class_id
                if theirs
                else (chosen.concept_class_id if concept_key(line["concept"]) == chosen.concept else None)
                for line in own
            ]
            if line_classes(main) != expected or _location(main) != location:
                wrong.append(str(main["DocNumber"]))
        if fees is not None and (set(line_classes(fees)) != {None} or _location(fees) != location):
            wrong.append(str(fees["DocNumber"]))
    return wrong


def tracked_bills(books: QboBooks, chosen: TrackingChosen) -> int:
    """How many bills carry one of the chosen classes or the chosen location."""
    classes = {chosen.concept_class_id, chosen.worker_class_id}
    return sum(1 for bill in books.bills if _location(bill) == chosen.location_id or classes & set(line_classes(bill)))


def line_classes(document: dict[str, Any]) -> list[str | None]:
    """Each line's ClassRef id, in line order (None: no class)."""
    return [
        (line.get("AccountBasedExpenseLineDetail", {}).get("ClassRef") or {}).get("value")
        for line in document.get("Line", [])
        if line.get("DetailType") == "AccountBasedExpenseLineDetail"
    ]


def _location(document: dict[str, Any]) -> str | None:
    return (document.get("DepartmentRef") or {}).get("value")


# --- failures and their fix buttons, as the finance channel shows them ---------------------------------------------


@dataclass(frozen=True)
class Failing:
    """Something the bot's ledger still holds a problem for at the end, and the fix it recorded."""

    what: str  # the invoice number (and, for a fee bill or a payment, which)
    run_id: int | None  # the run that last reported it: its summary is where the fix button must be
    fix_action_id: str | None  # the button that applies its fix (None: no fix, or "contact support")
    fix_value: str | None


@dataclass
class PostedSummary:
    """A finished run's summary in the finance channel, with its thread: the fix buttons it offers."""

    run_id: int
    buttons: set[tuple[str, str]] = field(default_factory=set)  # (action id, value)

    @property
    def lists_more(self) -> bool:
        """It has a "Fix the rest…" button: the fixes it had no room for are in the modal that opens."""
        return any(action_id == FixIds.MORE for action_id, _ in self.buttons)


def posted_summaries(
    top_level: Sequence[dict[str, Any]], replies: dict[str, list[dict[str, Any]]]
) -> dict[int, PostedSummary]:
    """The finished runs' summaries among the channel's messages by run (`replies`: thread ts → replies)."""
    found: dict[int, PostedSummary] = {}
    fixes = {str(fix) for fix in FixIds}
    for message in top_level:
        run_id = summary_run(message)
        if run_id is None:
            continue
        summary = found.setdefault(run_id, PostedSummary(run_id))
        for part in [message, *replies.get(str(message.get("ts")), [])]:
            for block in part.get("blocks") or []:
                elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
                if isinstance(block.get("accessory"), dict):
                    elements.append(block["accessory"])
                for element in elements:
                    if str(element.get("action_id", "")) in fixes:
                        summary.buttons.add((str(element["action_id"]), str(element.get("value", ""))))
    return found


def failing_without_fix(summaries: dict[int, PostedSummary], failing: Sequence[Failing]) -> list[str]:
    """What is still failing at the end with no button for its fix under the summary of the run that reported it:
    no fix (or "contact support"), no summary of that run in the channel, or a summary without that button."""
    without = []
    for item in failing:
        summary = summaries.get(item.run_id) if item.run_id is not None else None
        shown = summary is not None and (
            (str(item.fix_action_id), item.fix_value or "") in summary.buttons or summary.lists_more
        )
        if item.fix_action_id is None or not shown:
            without.append(item.what)
    return without


def is_run_summary(message: dict[str, Any]) -> bool:
    """A finance-channel message that is a finished run's summary (not its progress)."""
    return summary_run(message) is not None


def summary_run(message: dict[str, Any]) -> int | None:
    """The run a finished run's summary is about (None for any other message), from the metadata the bot puts on
    every summary it posts (its "top" part); older messages without metadata by their title."""
    payload = (message.get("metadata") or {}).get("event_payload") or {}
    if payload.get("run_id") is not None:
        return int(payload["run_id"]) if payload.get("part") == "top" else None
    title = _SUMMARY_TITLE.search(str(message.get("text", "")))
    return int(title.group(1)) if title else None


def ledger_failures(ledger: Sequence[SyncedInvoice], postings: Sequence[LedgerPosting]) -> list[Failing]:
    """What the bot's ledger still holds a problem for: invoices failed or of unknown outcome (not the cases for
    review, which are not failures, nor those a person chose to skip), and fee bills or payments not done. A posting
    has no fix of its own: no button can show for it."""
    numbers = {row.ontop_invoice_id: row.invoice_number for row in ledger}
    known = {str(kind) for kind in FixKind}
    failing = []
    for row in ledger:
        if row.state not in (InvoiceState.FAILED, InvoiceState.PENDING):
            continue
        action = FIX_ACTIONS.get(FixKind(row.fix_action)) if row.fix_action in known else None
        failing.append(Failing(row.invoice_number, row.last_run_id, str(action) if action else None, row.fix_value))
    for posting in postings:
        if posting.state != PostingState.DONE:
            number = numbers.get(posting.invoice_id, posting.invoice_id)
            failing.append(Failing(f"{number} ({posting.kind})", posting.last_run_id, None, None))
    return failing


# --- what the transcript prints ------------------------------------------------------------------------------------

TABLE_ROWS = 40


def books_table(books: QboBooks, invoices: Sequence[dict[str, Any]]) -> list[str]:
    """The bills and vendor credits the bot made, with their home amounts and whether they are paid."""
    fee_docs = {fee_doc_number_for(str(row["invoiceNumber"])) for row in invoices}
    names = {key: str(vendor.get("DisplayName", key)) for key, vendor in books.vendors.items()}
    documents = [("Bill", bill) for bill in books.bills] + [("Credit", credit) for credit in books.credits]
    documents.sort(key=lambda item: str(item[1].get("DocNumber")))
    home = books.home_currency
    lines = [f"  {'DocNumber':<22} {'Supplier':<28} {'Amount':>12} {'Cur':<4} {home:>10} {'Paid':<5} PDF"]
    for kind, document in documents[:TABLE_ROWS]:
        supplier = names.get(str(document["VendorRef"]["value"]), str(document["VendorRef"]["value"]))
        currency = _currency(document, home)
        balance = Decimal(str(document.get("Balance", document.get("TotalAmt", 0))))
        paid = "credit" if kind == "Credit" else ("yes" if balance == 0 else f"{balance}")
        pdf = "yes" if str(document["Id"]) in books.attached else "-"
        lines.append(
            f"  {document.get('DocNumber', ''):<22} {supplier[:28]:<28} {document['TotalAmt']:>12} {currency:<4} "
            f"{home_amount(document):>10} {paid:<5} {pdf}"
        )
    if len(documents) > TABLE_ROWS:
        lines.append(f"  … and {len(documents) - TABLE_ROWS} more")
    fees = sum(1 for bill in books.bills if bill.get("DocNumber") in fee_docs)
    accounts = Counter(_paid_from(payment) for payment in books.payments)
    paid_from = ", ".join(f"{count} from {name}" for name, count in accounts.most_common()) or "none"
    with_pdf = sum(1 for bill in books.bills if str(bill["Id"]) in books.attached)
    lines.append(
        f"\n  {len(books.bills) - fees} contractor bills, {fees} fee bills to Ontop, {len(books.credits)} vendor "
        f"credits; {len(books.payments)} bill payments ({paid_from}); {with_pdf} bills with the invoice PDF; "
        f"{books.vendors_created} suppliers created"
    )
    return lines


def booked_to(books: QboBooks, invoices: Sequence[dict[str, Any]], agreement_id: int, currency: str) -> str:
    """Where one contract's paid invoices in one currency were booked: "4 bills to Ana (EUR) in EUR"."""
    docs = {
        doc_number_for(str(row["invoiceNumber"]))
        for row in invoices
        if row.get("status") == "PAID" and row.get("agreementId") == agreement_id and row.get("currency") == currency
    }
    names = {key: str(vendor.get("DisplayName", key)) for key, vendor in books.vendors.items()}
    found = Counter(
        (
            names.get(str(bill["VendorRef"]["value"]), "?"),
            (bill.get("CurrencyRef") or {}).get("value", books.home_currency),
        )
        for bill in books.bills
        if bill.get("DocNumber") in docs
    )
    booked = ", ".join(f"{count} bill(s) to {name} in {code}" for (name, code), count in found.most_common())
    return f"{len(docs)} paid {currency} invoice(s): {booked or 'no bill'}"


def _currency(document: dict[str, Any], home: str) -> str:
    return str((document.get("CurrencyRef") or {}).get("value", home))


def _paid_from(payment: dict[str, Any]) -> str:
    """The account a BillPayment pays from (a bank account by check, or a credit card)."""
    check = (payment.get("CheckPayment") or {}).get("BankAccountRef") or {}
    card = (payment.get("CreditCardPayment") or {}).get("CCAccountRef") or {}
    return str(check.get("name") or card.get("name") or "?")


def worker_names(workers: Iterable[Any]) -> set[str]:
    """The names a company's Ontop workers go by in messages: "First Last", and a business's legal name."""
    names: set[str] = set()
    for worker in workers:
        full = f"{worker.first_name or ''} {worker.last_name or ''}".strip()
        names.update(name for name in (full, worker.legal_name) if name)
    return names


def names_in(messages: Iterable[dict[str, Any]], names: Collection[str]) -> tuple[list[str], int]:
    """(which of `names` the messages mention, how many messages mention one), text and blocks both read."""
    found: set[str] = set()
    naming = 0
    for message in messages:
        text = json.dumps({"text": message.get("text"), "blocks": message.get("blocks")}, ensure_ascii=False)
        here = {name for name in names if name in text}
        found |= here
        naming += bool(here)
    return sorted(found), naming


def verdict_lines(verdict: Verdict) -> list[str]:
    lines = [
        f"  {verdict.paid_invoices} paid Ontop invoices → {verdict.contractor_bills} contractor bills, "
        f"{verdict.fee_bills} fee bills to Ontop, {verdict.credits} vendor credits, {verdict.payments} bill payments",
    ]
    if verdict.excluded:
        lines.append(f"  left out of a review by an admin, not booked: {', '.join(verdict.excluded)}")
    counts = [f"{what}: {len(which)}" for what, which in verdict.problems()]
    counts.append(f"pre-existing records touched: {verdict.preexisting_touched}")
    lines += ["  " + " · ".join(counts[:4]), "  " + " · ".join(counts[4:8]), "  " + " · ".join(counts[8:])]
    for what, which in verdict.problems():
        if which:
            more = f" … and {len(which) - 10} more" if len(which) > 10 else ""
            lines.append(f"  ✗ {what}: {', '.join(which[:10])}{more}")
    if verdict.channel:
        channel = f"#{verdict.channel_name or verdict.channel}"
        others = ", ".join(verdict.others_in_channel) or "none"
        lines.append(
            f"  {channel}: {verdict.own_workers_named} messages name this company's workers; "
            f"workers of another company named: {others}"
        )
    who = verdict.name or verdict.company or "the company"
    lines.append(f"  ✅ {who}: every promise held" if verdict.ok else f"  ❌ {who}: a promise was broken (see above)")
    return lines


def demo_verdict_lines(verdict: DemoVerdict) -> list[str]:
    """Each company's verdict under its name, then the walkthrough's time and the overall answer."""
    lines: list[str] = []
    for company in verdict.companies:
        if len(verdict.companies) > 1 or company.name:
            channel = f"#{company.channel_name or company.channel}"
            lines.append(f"\n  {company.name or company.company} ({company.company}, finance channel {channel})")
        lines += verdict_lines(company)
    lines.append(f"\n  walkthrough took {verdict.seconds:.1f} s")
    several = f", in each of the {len(verdict.companies)} companies" if len(verdict.companies) > 1 else ""
    lines.append(f"  ✅ every promise held{several}" if verdict.ok else "  ❌ a promise was broken (see above)")
    return lines
