"""The books the sync leaves in QuickBooks (docs/accounting.md): every bill paid from the Ontop wallet exactly once,
home amounts equal to what Ontop charged to the cent, Ontop's fees on the Ontop supplier, and every currency case
either booked or failing with a fix."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from emulators.qbo.state import DEFAULT_REALM
from storage.models import InvoiceState, PostingKind, PostingState
from storage.repos.ledger import LedgerRepo
from storage.repos.postings import PostingRepo
from sync.api import CREATE_WALLET, NO_PAYMENTS, BooksChoice, FixKind, ServiceError
from sync.bills import doc_number_for
from sync.connections import ClientFactory
from sync.money import cents
from sync.qbo.client import QboClient
from sync.qbo.errors import QboError
from sync.qbo.models import Bill, BillDraft, BillPayment, BillPaymentDraft
from sync.run import SyncEngine
from tests.sync.conftest import ADMIN, TEAM, World
from tests.sync.test_engine import UNKNOWN_CONCEPT, fees_usd, ontop_invoices, paid_and_fully_mapped, qbo_entities

MULTICURRENCY = pytest.mark.parametrize("emulators", [{"multicurrency_enabled": True}], indirect=True)


def home(document: dict[str, Any]) -> Decimal:
    return Decimal(str(document.get("HomeTotalAmt", document["TotalAmt"])))


def documents_by_number(world: World) -> dict[str, dict[str, Any]]:
    return {str(bill["DocNumber"]): bill for bill in qbo_entities(world, "Bill")}


def charged_usd(row: dict[str, Any]) -> Decimal:
    return cents(Decimal(str(row["total"] if row["currency"] == "USD" else row["totalUsd"])))


def assert_books_are_right(world: World) -> None:
    """Per paid invoice: its bills' home amounts add up to Ontop's USD, fees sit on Ontop, everything is paid once."""
    bills = documents_by_number(world)
    vendors = {vendor["Id"]: vendor for vendor in qbo_entities(world, "Vendor")}
    payments = qbo_entities(world, "BillPayment")
    paid = Counter(link["TxnId"] for payment in payments for line in payment["Line"] for link in line["LinkedTxn"])
    for row in paid_and_fully_mapped(world):
        own = bills[doc_number_for(row["invoiceNumber"])]
        fee = bills.get(doc_number_for(row["invoiceNumber"], "-F"))
        assert home(own) + (home(fee) if fee else 0) == charged_usd(row), row["invoiceNumber"]
        assert (fee is not None) == (fees_usd(row) > 0), row["invoiceNumber"]
        assert fee is None or vendors[fee["VendorRef"]["value"]]["DisplayName"] == "Ontop"
        assert all(line["AccountBasedExpenseLineDetail"]["AccountRef"]["value"] != "FEE" for line in own["Line"])
        for bill in (own, fee):
            if bill is not None:
                assert Decimal(str(bill["Balance"])) == 0 and paid[bill["Id"]] == 1, bill["DocNumber"]
    accounts = {account["Id"]: account for account in qbo_entities(world, "Account")}
    wallet = {payment["CheckPayment"]["BankAccountRef"]["value"] for payment in payments}
    assert {accounts[account]["Name"] for account in wallet} == {"Ontop wallet"}


async def test_every_bill_is_paid_from_the_ontop_wallet_and_fees_sit_on_ontop(world: World) -> None:
    connection_id = await world.connect()

    outcome = await world.sync(connection_id)

    assert outcome.counts.payments_created == outcome.counts.bills_created + outcome.counts.fee_bills_created
    assert outcome.counts.fee_bills_created > 0 and outcome.counts.home_differences == 0
    assert_books_are_right(world)


@MULTICURRENCY
async def test_with_multicurrency_foreign_bills_book_exactly_what_ontop_charged_in_usd(world: World) -> None:
    connection_id = await world.connect()
    first = await world.sync(connection_id)
    # The generated company's Joaquín Silva has an ARS supplier in QuickBooks but is paid in EUR: the fix offered
    # creates "Joaquín Silva (EUR)".
    async with world.sessions() as session:
        failed = await LedgerRepo(session, connection_id).list_in_states([InvoiceState.FAILED])
    fixes = {entry.fix_value for entry in failed if entry.fix_action == FixKind.CREATE_VENDOR_IN_CURRENCY}
    assert fixes, "the generated company has a worker whose supplier is in another currency"
    for fix in fixes:
        agreement, currency = (fix or "").split(":")
        await world.service.create_vendor_in_currency(TEAM, ADMIN, agreement, currency)

    retry = await world.sync(connection_id, retry=True)

    foreign = [bill for bill in qbo_entities(world, "Bill") if (bill.get("CurrencyRef") or {}).get("value") != "USD"]
    assert foreign, "the generated company has contractors paid in other currencies"
    assert first.counts.home_differences == retry.counts.home_differences == 0
    assert retry.counts.failed == 1  # the unmapped concept only
    assert_books_are_right(world)
    async with world.sessions() as session:
        entries = await LedgerRepo(session, connection_id).list_in_states([InvoiceState.CREATED])
    assert entries and all(entry.home_difference == 0 for entry in entries)


@MULTICURRENCY
async def test_a_home_amount_quickbooks_books_differently_is_recorded_never_silent(world: World) -> None:
    world.emulators.qbo.switches.exchange_rate_decimals = 4  # QuickBooks keeps fewer decimals than sent
    connection_id = await world.connect()

    outcome = await world.sync(connection_id)

    assert outcome.counts.home_differences > 0
    async with world.sessions() as session:
        entries = await LedgerRepo(session, connection_id).list_in_states([InvoiceState.CREATED])
    assert sum(1 for entry in entries if entry.home_difference) == outcome.counts.home_differences


async def test_bills_made_while_payments_were_off_are_paid_later_and_never_twice(world: World) -> None:
    connection_id = await world.connect()
    await world.service.save_books(TEAM, ADMIN, BooksChoice(pay_from=NO_PAYMENTS))
    first = await world.sync(connection_id)
    assert first.counts.payments_created == 0 and first.counts.bills_created > 0
    # Someone pays one bill by hand in QuickBooks meanwhile.
    row = paid_and_fully_mapped(world)[0]
    by_hand = documents_by_number(world)[doc_number_for(row["invoiceNumber"])]
    accounts = {account["Name"]: account["Id"] for account in qbo_entities(world, "Account")}
    pay_by_hand(world, by_hand, accounts["Checking"])

    await world.service.save_books(TEAM, ADMIN, BooksChoice(pay_from=CREATE_WALLET))
    await world.sync(connection_id)

    assert_paid_once(world)
    async with world.sessions() as session:
        postings = await PostingRepo(session, connection_id).of_invoices([str(row["invoiceId"])])
    posting = postings[(str(row["invoiceId"]), PostingKind.PAYMENT)]
    assert posting.state == PostingState.DONE and posting.qbo_id is None  # recorded as paid by someone else


def pay_by_hand(world: World, bill: dict[str, Any], account_id: str) -> None:
    """A person records a payment in QuickBooks (through the emulator's own rules)."""
    from emulators.qbo.payments import create_bill_payment

    state = world.emulators.qbo
    company = state.companies[DEFAULT_REALM]
    body = {
        "VendorRef": bill["VendorRef"],
        "PayType": "Check",
        "CheckPayment": {"BankAccountRef": {"value": account_id}},
        "TotalAmt": bill["TotalAmt"],
        "Line": [{"Amount": bill["TotalAmt"], "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}],
    }
    with state.lock:
        create_bill_payment(state, company, body)


def assert_paid_once(world: World) -> None:
    payments = qbo_entities(world, "BillPayment")
    paid = Counter(link["TxnId"] for payment in payments for line in payment["Line"] for link in line["LinkedTxn"])
    for bill in qbo_entities(world, "Bill"):
        assert Decimal(str(bill["Balance"])) == 0 and paid[bill["Id"]] == 1, bill["DocNumber"]


class CrashAfterPayments(QboClient):
    """Dies right after QuickBooks accepted a batch of payments, before the bot can write them down (a kill -9)."""

    async def create_bill_payments_batch(
        self, items: list[tuple[str, BillPaymentDraft, str]]
    ) -> dict[str, BillPayment | QboError]:
        await super().create_bill_payments_batch(items)
        raise asyncio.CancelledError("worker killed")


class CrashingFactory(ClientFactory):
    def qbo_client(self, connection_id: int, realm_id: str) -> QboClient:
        client = super().qbo_client(connection_id, realm_id)
        client.__class__ = CrashAfterPayments
        return client


async def test_a_crash_after_payments_were_made_never_pays_a_bill_twice(world: World) -> None:
    connection_id = await world.connect()
    crashing = CrashingFactory(world.sessions, world.clients.box, world.clients.qbo, world.clients.ontop_base_url)
    with pytest.raises(asyncio.CancelledError):
        await world.sync(connection_id, engine=SyncEngine(world.sessions, crashing))
    await crashing.aclose()
    assert qbo_entities(world, "BillPayment"), "the crash came after QuickBooks made payments"

    await world.sync(connection_id)

    assert_paid_once(world)
    ours = {payment["Id"] for payment in qbo_entities(world, "BillPayment")}
    async with world.sessions() as session:
        postings = await PostingRepo(session, connection_id).of_invoices(
            [str(r["invoiceId"]) for r in paid_and_fully_mapped(world)]
        )
    payments = [p for p in postings.values() if p.kind in (PostingKind.PAYMENT, PostingKind.FEE_PAYMENT)]
    assert payments and {p.qbo_id for p in payments} == ours  # the lost answers' payments were adopted as ours


async def test_a_bill_with_the_invoice_number_that_the_bot_did_not_make_is_never_adopted(world: World) -> None:
    connection_id = await world.connect()
    row = paid_and_fully_mapped(world)[0]
    vendors = qbo_entities(world, "Vendor")
    typed = hand_made_bill(world, doc_number_for(row["invoiceNumber"]), vendors[0]["Id"])

    await world.sync(connection_id)

    async with world.sessions() as session:
        entry = await LedgerRepo(session, connection_id).get(str(row["invoiceId"]))
    assert entry is not None and entry.state == InvoiceState.FAILED and entry.error_code == "not_our_bill"
    assert entry.fix_action == FixKind.LINK_BILL
    bills = [bill for bill in qbo_entities(world, "Bill") if bill["DocNumber"] == doc_number_for(row["invoiceNumber"])]
    assert [bill["Id"] for bill in bills] == [typed["Id"]]  # nothing created on top of it, nothing adopted

    await world.service.skip_invoice(TEAM, ADMIN, str(row["invoiceId"]))
    again = await world.sync(connection_id)
    async with world.sessions() as session:
        skipped = await LedgerRepo(session, connection_id).get(str(row["invoiceId"]))
    assert skipped is not None and skipped.state == InvoiceState.SKIPPED and again.counts.bills_created == 0


def hand_made_bill(world: World, doc_number: str, vendor_id: str) -> dict[str, Any]:
    from emulators.qbo.entities import create_bill

    state = world.emulators.qbo
    company = state.companies[DEFAULT_REALM]
    expense = next(account for account in qbo_entities(world, "Account") if account["AccountType"] == "Expense")
    body = {
        "VendorRef": {"value": vendor_id},
        "DocNumber": doc_number,
        "Line": [
            {
                "Amount": Decimal("10.00"),
                "DetailType": "AccountBasedExpenseLineDetail",
                "AccountBasedExpenseLineDetail": {"AccountRef": {"value": expense["Id"]}},
            }
        ],
    }
    with state.lock:
        return create_bill(state, company, body, allow_duplicate_docnumber=False)


async def test_a_negative_invoice_becomes_a_vendor_credit(world: World) -> None:
    connection_id = await world.connect()
    pending = next(row for row in ontop_invoices(world) if row["status"] == "PENDING" and row["currency"] == "USD")
    world.emulators.ontop.touch_invoice(
        pending["invoiceId"],
        status="PAID",
        total="-120.00",
        totalUsd="-120.00",
        exchangeRate="1.000000",
        lines=[{**pending["lines"][0], "concept": "DEDUCTION", "amount": "-120.00", "amountUsd": "-120.00"}],
    )

    outcome = await world.sync(connection_id)

    credits = qbo_entities(world, "VendorCredit")
    assert outcome.counts.credits_created == 1
    assert [(credit["DocNumber"], Decimal(str(credit["TotalAmt"]))) for credit in credits] == [
        (doc_number_for(pending["invoiceNumber"]), Decimal("120.00"))
    ]


@MULTICURRENCY
async def test_a_worker_now_paid_in_another_currency_gets_a_supplier_in_it_from_the_fix(world: World) -> None:
    rows = [row for row in ontop_invoices(world) if row["status"] == "PAID" and row["currency"] not in ("USD",)]
    row = next(r for r in rows if all(line["concept"] != UNKNOWN_CONCEPT for line in r["lines"]))
    worker = next(w for w in world.emulators.ontop.generator.workers if w.agreement_id == row["agreementId"])
    other = "EUR" if row["currency"] != "EUR" else "BRL"
    existing = pre_existing_supplier(world, worker.email, f"{worker.first_name} {worker.last_name}", other)
    connection_id = await world.connect()

    await world.sync(connection_id)

    async with world.sessions() as session:
        entry = await LedgerRepo(session, connection_id).get(str(row["invoiceId"]))
    assert entry is not None and entry.error_code == "supplier_currency"
    assert entry.fix_action == FixKind.CREATE_VENDOR_IN_CURRENCY
    agreement, currency = (entry.fix_value or "").split(":")
    result = await world.service.create_vendor_in_currency(TEAM, ADMIN, agreement, currency)
    assert result.created and result.created[0].endswith(f"({row['currency']})")

    await world.sync(connection_id, retry=True)

    own = documents_by_number(world)[doc_number_for(row["invoiceNumber"])]
    assert own["CurrencyRef"]["value"] == row["currency"] and own["VendorRef"]["value"] != existing["Id"]


def pre_existing_supplier(world: World, email: str | None, name: str, currency: str) -> dict[str, Any]:
    state = world.emulators.qbo
    company = state.companies[DEFAULT_REALM]
    with state.lock:
        record = state.name_record(company, name, email, True)
        record["CurrencyRef"] = state.currency_ref(currency)
        return state.add_entity(company, "Vendor", record)


async def test_bills_waiting_for_a_pay_from_account_get_a_fix_that_opens_the_books_choice(world: World) -> None:
    connection_id = await world.connect(pay_from=None)
    first = await world.sync(connection_id)
    assert first.counts.bills_created > 0 and first.counts.payments_created == 0

    status = await world.service.status(TEAM)
    assert status is not None and status.last_run is not None
    [prompt, *_] = status.last_run.failures
    assert prompt.fix is not None and prompt.fix.kind is FixKind.BOOKS

    await world.service.save_books(TEAM, ADMIN, BooksChoice(pay_from=CREATE_WALLET))
    second = await world.sync(connection_id)
    assert second.counts.payments_created == first.counts.bills_created + first.counts.fee_bills_created
    assert_books_are_right(world)
    status = await world.service.status(TEAM)
    assert status is not None and status.last_run is not None
    assert not [f for f in status.last_run.failures if f.fix is not None and f.fix.kind is FixKind.BOOKS]


async def test_books_choices_quickbooks_does_not_offer_are_refused_on_their_field(world: World) -> None:
    await world.connect()
    with pytest.raises(ServiceError) as pay_from:
        await world.service.save_books(TEAM, ADMIN, BooksChoice(pay_from="999"))
    assert pay_from.value.field == "pay_from"
    with pytest.raises(ServiceError) as tax_code:
        await world.service.save_books(TEAM, ADMIN, BooksChoice(pay_from=CREATE_WALLET, default_tax_code_id="77"))
    assert tax_code.value.field == "default_tax_code"
    with pytest.raises(ServiceError) as payables:
        await world.service.save_books(TEAM, ADMIN, BooksChoice(pay_from=CREATE_WALLET, ap_accounts={"EUR": "1"}))
    assert payables.value.field == "ap:EUR"
    books = await world.service.books_view(TEAM)
    assert books.default_tax_code_id is None and books.ap_chosen == {}  # nothing half-saved


class CountingBatches(QboClient):
    """Records the size of every batch call (a batch call is one of QuickBooks' 40 a minute, whatever it holds)."""

    sizes: ClassVar[dict[str, list[int]]] = {}

    async def create_bills_batch(self, items: list[tuple[str, BillDraft, str]]) -> dict[str, Bill | QboError]:
        fees = all(draft.doc_number and draft.doc_number.endswith("-F") for _, draft, _ in items)
        kind = "fee bills" if fees else "bills"
        CountingBatches.sizes.setdefault(kind, []).append(len(items))
        return await super().create_bills_batch(items)

    async def create_bill_payments_batch(
        self, items: list[tuple[str, BillPaymentDraft, str]]
    ) -> dict[str, BillPayment | QboError]:
        CountingBatches.sizes.setdefault("payments", []).append(len(items))
        return await super().create_bill_payments_batch(items)


class CountingFactory(ClientFactory):
    def qbo_client(self, connection_id: int, realm_id: str) -> QboClient:
        client = super().qbo_client(connection_id, realm_id)
        client.__class__ = CountingBatches
        return client


async def test_fee_bills_and_payments_wait_to_fill_their_batch_calls(world: World) -> None:
    connection_id = await world.connect()
    counting = CountingFactory(world.sessions, world.clients.box, world.clients.qbo, world.clients.ontop_base_url)
    CountingBatches.sizes = {}

    outcome = await world.sync(connection_id, engine=SyncEngine(world.sessions, counting))

    sizes = CountingBatches.sizes
    assert outcome.counts.fee_bills_created > 0 and outcome.counts.payments_created > 30
    for kind in ("bills", "fee bills", "payments"):
        *full, last = sizes[kind]
        assert all(size == 30 for size in full), (kind, sizes[kind])  # only a run's last call may be short
        assert 0 < last <= 30
    assert_books_are_right(world)
