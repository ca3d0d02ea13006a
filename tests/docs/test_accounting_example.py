"""The worked example of docs/accounting.md, built with the engine's own functions.

The invoice is Ontop's JSON as the API returns it; the bills and payments are what sync/bills.py and sync/payments.py
make of it; QuickBooks' side is the QBO emulator's rules (reference §18.4), called in process. Every figure the
document states is asserted here, so a change in the code that moves a cent fails this test until the document says
the same.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from emulators.qbo.accounts import create_account
from emulators.qbo.entities import create_bill, create_name_entity
from emulators.qbo.payments import create_bill_payment
from emulators.qbo.state import Company as QboCompany
from emulators.qbo.state import QboEmulatorState
from sync.api import ReconcileReport
from sync.bills import Booking, Books, Company, VendorForBill, build_booking, exact_rate
from sync.money import cents
from sync.ontop.assumed import parse_invoice
from sync.ontop.models import Invoice
from sync.payments import Part, PayFrom, payment_for
from sync.qbo.models import Bill, BillDraft, VendorCredit
from sync.reconcile import compare

# Ontop's invoice (reference B.4): `total` is the sum of all lines, the FEE line included; `totalUsd` and each
# `amountUsd` are amount / exchangeRate rounded half-up to the cent, separately (the lines add up to 2,682.92).
ONTOP_INVOICE: dict[str, Any] = {
    "invoiceId": 5012,
    "invoiceNumber": "INV-2024-05-000512",
    "agreementId": 17,
    "workerEmail": "maria.souza@example.com",
    "externalId": "SFK006",
    "status": "PAID",
    "periodStart": "2024-05-01",
    "periodEnd": "2024-05-31",
    "issueDate": "2024-05-31",
    "dueDate": "2024-06-05",
    "paidDate": "2024-06-04",
    "currency": "BRL",
    "total": "13750.00",
    "exchangeRate": "5.125000",
    "totalUsd": "2682.93",
    "pdfAvailable": True,
    "notes": None,
    "lines": [
        {"lineNumber": 1, "concept": "COMPENSATION", "conceptLabel": "Base compensation", "title": "May 2024",
         "quantity": None, "unitAmount": None, "amount": "12750.00", "amountUsd": "2487.80"},
        {"lineNumber": 2, "concept": "BONUS", "conceptLabel": "Bonus", "title": "Q2 delivery bonus",
         "quantity": None, "unitAmount": None, "amount": "500.00", "amountUsd": "97.56"},
        {"lineNumber": 3, "concept": "REIMBURSEMENT", "conceptLabel": "Reimbursement", "title": "Internet",
         "quantity": None, "unitAmount": None, "amount": "243.75", "amountUsd": "47.56"},
        {"lineNumber": 4, "concept": "FEE", "conceptLabel": "Client fees", "title": "Ontop membership fee",
         "quantity": None, "unitAmount": None, "amount": "256.25", "amountUsd": "50.00"},
    ],
    "creationDate": "2024-05-31T23:00:01.204+00:00",
    "updateDate": "2024-06-04T15:20:41.532+00:00",
}  # fmt: skip

# The example company's chart: concept -> the account its lines go to.
ACCOUNT_OF_CONCEPT = {
    "COMPENSATION": "Contractors",
    "BONUS": "Contractor bonuses",
    "REIMBURSEMENT": "Reimbursed expenses",
    "FEE": "Ontop fees",
}
USD_HOME_MULTICURRENCY = Company("9130350000000000", "USD", multicurrency_enabled=True)
USD_HOME_SINGLE_CURRENCY = Company("9130350000000000", "USD", multicurrency_enabled=False)

Entry = dict[str, tuple[Decimal, Decimal]]  # account -> (debit, credit), in USD


def usd(text: str) -> Decimal:
    return Decimal(text)


def invoice() -> Invoice:
    return parse_invoice(ONTOP_INVOICE)


def book(company: Company, supplier_currency: str | None, books: Books | None = None) -> Booking:
    # The account "ids" are the accounts' names here; the emulator's ids replace them when the bills are posted.
    vendor = VendorForBill("58", "Maria Souza", supplier_currency)
    booking = build_booking(invoice(), vendor, ACCOUNT_OF_CONCEPT, company, books)
    assert isinstance(booking, Booking), booking
    return booking


# --- what the bot sends -------------------------------------------------------------------------------------------


def test_ontops_figures_are_consistent_total_usd_includes_the_fee() -> None:
    source = invoice()
    assert sum(line.amount for line in source.lines) == source.total == usd("13750.00")
    assert cents(source.total / Decimal("5.125")) == source.usd_equivalent == usd("2682.93")
    assert sum(line.amount_usd or 0 for line in source.lines) == usd("2682.92")  # a cent short: rounded per line


def test_the_fee_bill_is_the_fee_lines_usd_to_the_ontop_supplier() -> None:
    booking = book(USD_HOME_MULTICURRENCY, "BRL")
    fee_bill = booking.fee_bill

    assert fee_bill is not None
    assert booking.fee_usd == fee_bill.total == usd("50.00")
    assert fee_bill.currency == "USD" and fee_bill.exchange_rate is None
    assert fee_bill.doc_number == "INV-2024-05-000512-F"
    assert fee_bill.private_note == (
        "Ontop's fees on invoice INV-2024-05-000512 (id 5012). Created by qbo-bot from Ontop; ref ontop:5012:fees"
    )
    assert [(line.account_id, line.amount, line.description) for line in fee_bill.lines] == [
        ("Ontop fees", usd("50.00"), "Client fees: Ontop membership fee (paid as BRL at 5.125000 per USD)")
    ]


def test_the_contractor_bill_is_in_brl_at_the_rate_that_books_its_share_of_total_usd() -> None:
    booking = book(USD_HOME_MULTICURRENCY, "BRL")
    bill = booking.main

    assert isinstance(bill, BillDraft)
    assert bill.currency == "BRL" and bill.doc_number == "INV-2024-05-000512"
    assert (bill.txn_date, bill.due_date) == (date(2024, 5, 31), date(2024, 6, 5))
    assert [(line.account_id, line.amount) for line in bill.lines] == [
        ("Contractors", Decimal("12750.00")),
        ("Contractor bonuses", Decimal("500.00")),
        ("Reimbursed expenses", Decimal("243.75")),
    ]
    assert bill.lines[0].description == "Base compensation: May 2024"  # in the invoice's currency: no rate added
    assert (
        bill.private_note == "Ontop invoice INV-2024-05-000512 (id 5012). Created by qbo-bot from Ontop; ref ontop:5012"
    )
    assert bill.total == Decimal("13493.75")
    # The contractor's share: what Ontop charged less the fee bill.
    assert booking.usd_total == usd("2682.93") and booking.expected_home == usd("2632.93")
    # Six decimals are enough here; round(13,493.75 × 0.195122) = round(2,632.9274875) = 2,632.93.
    assert bill.exchange_rate == Decimal("0.195122")
    assert bill.total * bill.exchange_rate == Decimal("2632.9274875000")
    assert cents(bill.total * bill.exchange_rate) == booking.expected_home
    assert booking.expected_home + booking.fee_usd == booking.usd_total


def test_a_large_amount_gets_as_many_decimals_as_the_cent_needs() -> None:
    # 10,665,000.00 COP charged as 2,727.27 USD: 1/3,910.50 at six decimals (0.000256) would book 2,730.24.
    assert cents(Decimal("10665000.00") * Decimal("0.000256")) == usd("2730.24")
    rate = exact_rate(Decimal("10665000.00"), usd("2727.27"))
    assert rate == Decimal("0.0002557215")
    assert cents(Decimal("10665000.00") * rate) == usd("2727.27")


# --- what QuickBooks then holds, and the entries -----------------------------------------------------------------


class ExampleCompany:
    """The example company in the QBO emulator: home USD, multicurrency on, a BRL supplier, Ontop, the wallet."""

    def __init__(self) -> None:
        self.state = QboEmulatorState()
        self.company: QboCompany = self.state.seed_company(multicurrency_enabled=True)
        with self.state.lock:
            self.accounts = {name: self._expense_account(name) for name in ACCOUNT_OF_CONCEPT.values()}
            wallet = {"Name": "Ontop wallet", "AccountType": "Bank", "AccountSubType": "Checking"}
            self.wallet = create_account(self.state, self.company, {**wallet, "CurrencyRef": {"value": "USD"}})["Id"]
            self.maria = self._vendor("Maria Souza", "BRL")
            self.ontop = self._vendor("Ontop", "USD")

    def _expense_account(self, name: str) -> str:
        existing = self.state.find_by(self.company, "Account", "Name", name)  # "Contractors" comes with the chart
        body = {"Name": name, "AccountType": "Expense"}
        return str((existing or create_account(self.state, self.company, body))["Id"])

    def _vendor(self, name: str, currency: str) -> str:
        body = {"DisplayName": name, "CurrencyRef": {"value": currency}}
        return str(create_name_entity(self.state, self.company, "Vendor", body)["Id"])

    def name(self, account_id: str) -> str:
        return str(self.company.of("Account")[account_id]["Name"])

    def post(self, draft: BillDraft, vendor_id: str) -> dict[str, Any]:
        lines = [replace(line, account_id=self.accounts[line.account_id]) for line in draft.lines]
        body = replace(draft, vendor_id=vendor_id, lines=lines).to_wire()
        with self.state.lock:
            return create_bill(self.state, self.company, body, allow_duplicate_docnumber=False)

    def pay(self, bill: dict[str, Any], part: Part) -> dict[str, Any]:
        draft = payment_for(
            Bill.from_wire(bill),
            invoice_id="5012",
            part=part,
            paid_on=invoice().paid_date,
            pay_from=PayFrom(self.wallet, "Check"),
        )
        with self.state.lock:
            payment, _ = create_bill_payment(self.state, self.company, draft.to_wire())
        return payment

    def bill(self, bill_id: str) -> Bill:
        return Bill.from_wire(self.company.of("Bill")[bill_id])


def bill_entry(books: ExampleCompany, bill: dict[str, Any]) -> Entry:
    """Each line converted at the bill's rate (debit its account), the home total to the bill's A/P (credit)."""
    rate = Decimal(str(bill["ExchangeRate"]))
    entry: Entry = {}
    for line in bill["Line"]:
        account = books.name(line["AccountBasedExpenseLineDetail"]["AccountRef"]["value"])
        entry[account] = (cents(Decimal(str(line["Amount"])) * rate), Decimal("0"))
    entry[bill["APAccountRef"]["name"]] = (Decimal("0"), Decimal(str(bill["HomeTotalAmt"])))
    return entry


def payment_entry(payment: dict[str, Any]) -> Entry:
    """The A/P the payment settles (debit), the account it is paid from (credit)."""
    home = Decimal(str(payment["HomeTotalAmt"]))
    return {
        payment["APAccountRef"]["name"]: (home, Decimal("0")),
        payment["CheckPayment"]["BankAccountRef"]["name"]: (Decimal("0"), home),
    }


def balanced(entry: Entry) -> bool:
    return sum(debit for debit, _ in entry.values()) == sum(credit for _, credit in entry.values())


def test_the_books_of_the_example_invoice() -> None:
    booking = book(USD_HOME_MULTICURRENCY, "BRL")
    assert isinstance(booking.main, BillDraft) and booking.fee_bill is not None
    books = ExampleCompany()

    contractor_bill = books.post(booking.main, books.maria)
    fee_bill = books.post(booking.fee_bill, books.ontop)
    contractor_payment = books.pay(contractor_bill, "payment")
    fee_payment = books.pay(fee_bill, "fee-payment")

    # The two bills as QuickBooks holds them.
    assert (contractor_bill["CurrencyRef"]["value"], contractor_bill["TotalAmt"]) == ("BRL", Decimal("13493.75"))
    assert contractor_bill["ExchangeRate"] == Decimal("0.195122")
    assert contractor_bill["HomeTotalAmt"] == usd("2632.93")
    assert contractor_bill["APAccountRef"]["name"] == "Accounts Payable (BRL)"
    assert (fee_bill["CurrencyRef"]["value"], fee_bill["TotalAmt"], fee_bill["HomeTotalAmt"]) == (
        "USD",
        usd("50.00"),
        usd("50.00"),
    )
    assert fee_bill["APAccountRef"]["name"] == "Accounts Payable (A/P)"

    # The two payments: each bill's open balance, in its currency, at its own rate, from the wallet, on the paid date.
    assert (contractor_payment["PayType"], contractor_payment["TxnDate"]) == ("Check", "2024-06-04")
    assert contractor_payment["TotalAmt"] == Decimal("13493.75")
    assert contractor_payment["ExchangeRate"] == Decimal("0.195122")
    assert contractor_payment["HomeTotalAmt"] == usd("2632.93")
    assert (fee_payment["TotalAmt"], fee_payment["HomeTotalAmt"]) == (usd("50.00"), usd("50.00"))
    assert contractor_payment["PrivateNote"] == (
        "Paid through Ontop (bill INV-2024-05-000512). Created by qbo-bot; ref ontop:5012:payment"
    )

    # The journal entries the document tabulates (USD), each balanced.
    entries = {
        "bill": bill_entry(books, contractor_bill),
        "fee bill": bill_entry(books, fee_bill),
        "payment": payment_entry(contractor_payment),
        "fee payment": payment_entry(fee_payment),
    }
    zero = Decimal("0")
    assert entries == {
        "bill": {
            "Contractors": (usd("2487.81"), zero),
            "Contractor bonuses": (usd("97.56"), zero),
            "Reimbursed expenses": (usd("47.56"), zero),
            "Accounts Payable (BRL)": (zero, usd("2632.93")),
        },
        "fee bill": {"Ontop fees": (usd("50.00"), zero), "Accounts Payable (A/P)": (zero, usd("50.00"))},
        "payment": {"Accounts Payable (BRL)": (usd("2632.93"), zero), "Ontop wallet": (zero, usd("2632.93"))},
        "fee payment": {"Accounts Payable (A/P)": (usd("50.00"), zero), "Ontop wallet": (zero, usd("50.00"))},
    }
    assert all(balanced(entry) for entry in entries.values())
    # Paid at the bill's own rate: the payment settles exactly the bill's home amount, no exchange gain or loss.
    assert contractor_payment["HomeTotalAmt"] == contractor_bill["HomeTotalAmt"]
    # The expenses, and what left the wallet, are what Ontop charged.
    expenses = sum(entries["bill"][name][0] for name in ("Contractors", "Contractor bonuses", "Reimbursed expenses"))
    assert expenses + entries["fee bill"]["Ontop fees"][0] == usd("2682.93")
    assert entries["payment"]["Ontop wallet"][1] + entries["fee payment"]["Ontop wallet"][1] == usd("2682.93")

    # Both bills are closed, each by one payment, and reconcile finds the invoice matching.
    own: list[Bill | VendorCredit] = [books.bill(contractor_bill["Id"])]
    fees: list[Bill | VendorCredit] = [books.bill(fee_bill["Id"])]
    assert [(bill.balance, len(bill.linked_payments)) for bill in own + fees] == [(Decimal("0.00"), 1)] * 2
    report = ReconcileReport(datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC))
    compare(invoice(), own, fees, "USD", report)
    assert report.matching == 1 and report.clean


def test_a_home_amount_quickbooks_books_differently_shows_in_reconcile() -> None:
    booking = book(USD_HOME_MULTICURRENCY, "BRL")
    assert isinstance(booking.main, BillDraft) and booking.fee_bill is not None
    books = ExampleCompany()
    books.state.switches.exchange_rate_decimals = 4  # as if QuickBooks kept four decimals of 0.195122

    contractor_bill = books.post(booking.main, books.maria)
    fee_bill = books.post(booking.fee_bill, books.ontop)
    payment = books.pay(contractor_bill, "payment")

    assert contractor_bill["ExchangeRate"] == Decimal("0.1951")
    assert contractor_bill["HomeTotalAmt"] == usd("2632.63")  # 0.30 less than the share the bot aimed at
    assert payment["HomeTotalAmt"] == usd("2632.63")  # the payment, at the bill's rate, takes the same from the wallet
    report = ReconcileReport(datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC))
    compare(invoice(), [books.bill(contractor_bill["Id"])], [books.bill(fee_bill["Id"])], "USD", report)
    [difference] = report.different
    assert (difference.expected, difference.found) == (
        "2682.93 USD",
        f"2682.63 USD (INV-2024-05-000512 {contractor_bill['Id']}, INV-2024-05-000512-F {fee_bill['Id']})",
    )


# --- the same invoice under the other settings ---------------------------------------------------------------------


def test_without_multicurrency_the_bill_is_in_usd_and_ontops_missing_cent_goes_on_the_largest_line() -> None:
    booking = book(USD_HOME_SINGLE_CURRENCY, None)
    assert isinstance(booking.main, BillDraft) and booking.fee_bill is not None

    assert booking.main.currency is None and booking.main.exchange_rate is None  # the home currency, USD
    assert [(line.account_id, line.amount) for line in booking.main.lines] == [
        ("Contractors", usd("2487.81")),  # Ontop's 2,487.80 plus the cent its per-line rounding lost
        ("Contractor bonuses", usd("97.56")),
        ("Reimbursed expenses", usd("47.56")),
    ]
    assert booking.main.total == booking.expected_home == usd("2632.93")
    assert booking.fee_bill.total == usd("50.00")


def test_a_supplier_in_usd_gets_the_same_usd_bill_in_a_multicurrency_company() -> None:
    booking = book(USD_HOME_MULTICURRENCY, "USD")
    assert isinstance(booking.main, BillDraft)
    assert booking.main.currency == "USD" and booking.main.exchange_rate is None
    assert [line.amount for line in booking.main.lines] == [usd("2487.81"), usd("97.56"), usd("47.56")]


def test_with_the_fees_kept_on_the_contractor_bill_one_brl_bill_books_all_of_total_usd() -> None:
    booking = book(USD_HOME_MULTICURRENCY, "BRL", Books(fees_on_contractor_bill=True))
    bill = booking.main
    assert isinstance(bill, BillDraft) and bill.exchange_rate is not None

    assert booking.fee_bill is None and booking.fee_usd == 0
    assert bill.total == Decimal("13750.00") and bill.exchange_rate == Decimal("0.195122")
    assert cents(bill.total * bill.exchange_rate) == booking.expected_home == usd("2682.93")
    assert [cents(line.amount * bill.exchange_rate) for line in bill.lines] == [
        usd("2487.81"),
        usd("97.56"),
        usd("47.56"),
        usd("50.00"),
    ]
