"""The QBO client's payments, vendor credits, accounts and tax codes, against the emulator over real HTTP."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from sync.qbo.client import QboClient
from sync.qbo.errors import QboCurrencyError, QboDuplicateName, QboValidationError
from sync.qbo.models import (
    Bill,
    BillDraft,
    BillLineDraft,
    BillPayment,
    BillPaymentDraft,
    BillPaymentLine,
    NewVendor,
    VendorCredit,
    VendorCreditDraft,
)
from tests.qbo.conftest import REALM, Emulator


def contractors(emulator: Emulator) -> str:
    return next(a["Id"] for a in emulator.state.entities("Account") if a["Name"] == "Contractors")


def account_named(emulator: Emulator, name: str) -> str:
    return next(a["Id"] for a in emulator.state.entities("Account") if a["Name"] == name)


def bill(vendor_id: str, account_id: str, doc_number: str, *amounts: str, **overrides: object) -> BillDraft:
    fields: dict[str, object] = {
        "vendor_id": vendor_id,
        "doc_number": doc_number,
        "txn_date": date(2026, 1, 5),
        "due_date": None,
        "currency": None,
        "exchange_rate": None,
        "private_note": f"ontop invoice {doc_number}",
        "lines": [BillLineDraft(Decimal(amount), account_id) for amount in amounts],
    }
    fields.update(overrides)
    return BillDraft(**fields)  # type: ignore[arg-type]


def pay(vendor_id: str, account_id: str, *lines: BillPaymentLine, **overrides: object) -> BillPaymentDraft:
    fields: dict[str, object] = {
        "vendor_id": vendor_id,
        "pay_type": "Check",
        "account_id": account_id,
        "txn_date": date(2026, 1, 6),
        "lines": list(lines),
    }
    fields.update(overrides)
    return BillPaymentDraft(**fields)  # type: ignore[arg-type]


async def vendor(client: QboClient, name: str, currency: str | None = None) -> str:
    return (await client.create_vendor(NewVendor(name, currency=currency), request_id=f"v-{name}")).id


# ---- drafts on the wire -------------------------------------------------------------------------------------------


def test_bill_draft_sends_ap_account_tax_calculation_and_tax_codes_only_when_set() -> None:
    plain = bill("7", "9", "D-1", "10.00").to_wire()
    taxed = bill(
        "7",
        "9",
        "D-1",
        "10.00",
        ap_account_id="33",
        global_tax_calculation="TaxExcluded",
        lines=[BillLineDraft(Decimal("10.00"), "9", tax_code_id="5000000000000010003")],
    ).to_wire()

    assert not {"APAccountRef", "GlobalTaxCalculation"} & set(plain)
    assert "TaxCodeRef" not in plain["Line"][0]["AccountBasedExpenseLineDetail"]
    assert (taxed["APAccountRef"], taxed["GlobalTaxCalculation"]) == ({"value": "33"}, "TaxExcluded")
    assert taxed["Line"][0]["AccountBasedExpenseLineDetail"]["TaxCodeRef"] == {"value": "5000000000000010003"}


def test_payment_draft_total_is_bills_less_credits_and_card_payments_name_the_card_account() -> None:
    draft = pay(
        "7",
        "40",
        BillPaymentLine("1", Decimal("100.00")),
        BillPaymentLine("2", Decimal("30.00"), "VendorCredit"),
        pay_type="CreditCard",
    )

    wire = draft.to_wire()

    assert draft.total == wire["TotalAmt"] == Decimal("70.00")
    assert wire["CreditCardPayment"] == {"CCAccountRef": {"value": "40"}} and "CheckPayment" not in wire
    assert wire["Line"][1] == {"Amount": Decimal("30.00"), "LinkedTxn": [{"TxnId": "2", "TxnType": "VendorCredit"}]}


# ---- accounts, company, tax codes ---------------------------------------------------------------------------------


async def test_an_ontop_wallet_bank_account_is_created_once_and_listed_with_its_currency(client: QboClient) -> None:
    wallet = await client.create_account("Ontop wallet", "Bank", "Checking", "USD", "acct-wallet")

    banks = await client.accounts(["Bank"])
    paying = await client.accounts(["Bank", "Credit Card"])

    assert (wallet.account_type, wallet.account_sub_type, wallet.currency) == ("Bank", "Checking", "USD")
    assert wallet in banks and {account.name for account in paying} == {"Checking", "Visa Business", "Ontop wallet"}
    with pytest.raises(QboDuplicateName):
        await client.create_account("ontop wallet", "Bank", "Checking", None, "acct-wallet-2")


async def test_accounts_can_include_inactive_ones(client: QboClient, emulator: Emulator) -> None:
    emulator.state.companies[REALM].of("Account")[account_named(emulator, "Visa Business")]["Active"] = False

    assert await client.accounts(["Credit Card"]) == []
    assert [account.active for account in await client.accounts(["Credit Card"], active_only=False)] == [False]


async def test_a_us_company_has_no_tax_codes(client: QboClient) -> None:
    assert (await client.company_info()).country == "USA"
    assert await client.tax_codes() == []


async def test_a_uk_company_reports_its_country_and_tax_codes_with_rates(client: QboClient, emulator: Emulator) -> None:
    emulator.state.seed_company(REALM, country="GBR")

    info = await client.company_info()
    codes = {code.name: code for code in await client.tax_codes()}

    assert (info.country, info.home_currency) == ("GBR", "GBP")
    assert (codes["20.0% S"].rate, codes["20.0% S"].taxable, codes["20.0% S"].active) == (Decimal("20"), True, True)
    assert (codes["Zero-rated"].rate, codes["No VAT"].rate) == (Decimal("0"), None)
    assert codes["17.5% S"].active is False


async def test_a_uk_bill_needs_tax_codes_and_zero_rated_lines_total_their_sum(
    client: QboClient, emulator: Emulator
) -> None:
    emulator.state.seed_company(REALM, country="GBR")
    codes = {code.name: code.id for code in await client.tax_codes()}
    supplier = await vendor(client, "UK Supplier")
    account = contractors(emulator)

    with pytest.raises(QboValidationError) as refused:
        await client.create_bill(bill(supplier, account, "UK-1", "10.00"), "uk-1")
    created = await client.create_bill(
        bill(
            supplier,
            account,
            "UK-2",
            global_tax_calculation="TaxExcluded",
            lines=[BillLineDraft(Decimal(amount), account, tax_code_id=codes["Zero-rated"]) for amount in ("7", "3.5")],
        ),
        "uk-2",
    )

    assert refused.value.code == "6000" and "VAT rate" in refused.value.detail
    assert (created.total_amt, created.currency) == (Decimal("10.5"), "GBP")


# ---- bills and payments -------------------------------------------------------------------------------------------


async def test_bills_paid_in_a_batch_read_back_with_balance_and_payment_links(
    client: QboClient, emulator: Emulator
) -> None:
    supplier = await vendor(client, "Batch Supplier")
    bills = await client.create_bills_batch(
        [
            ("b0", bill(supplier, contractors(emulator), "P-1", "100.00"), "bill-p1"),
            ("b1", bill(supplier, contractors(emulator), "P-2", "50.00"), "bill-p2"),
        ]
    )
    first, second = bills["b0"], bills["b1"]
    assert isinstance(first, Bill) and isinstance(second, Bill)
    checking = account_named(emulator, "Checking")

    payments = await client.create_bill_payments_batch(
        [
            ("p0", pay(supplier, checking, BillPaymentLine(first.id, Decimal("100.00"))), "pay-p1"),
            ("p1", pay(supplier, checking, BillPaymentLine(second.id, Decimal("50.01"))), "pay-p2"),  # overpays
        ]
    )

    paid, refused = payments["p0"], payments["p1"]
    assert isinstance(paid, BillPayment) and isinstance(refused, QboValidationError)
    assert (paid.total, paid.bill_ids, paid.account_id, paid.pay_type) == (
        Decimal("100.00"),
        (first.id,),
        checking,
        "Check",
    )
    assert refused.code == "6000" and "open balance" in refused.detail
    read_first, read_second = await client.get_bill(first.id), await client.get_bill(second.id)
    assert read_first is not None and read_second is not None
    assert (read_first.balance, read_first.linked_payments) == (Decimal("0"), (paid.id,))
    assert (read_second.balance, read_second.linked_payments) == (Decimal("50.00"), ())
    assert await client.get_bill_payment(paid.id) == paid
    assert await client.get_bill_payment("999999") is None


async def test_a_payment_batch_retried_with_the_same_items_pays_once(client: QboClient, emulator: Emulator) -> None:
    supplier = await vendor(client, "Retry Supplier")
    created = await client.create_bill(bill(supplier, contractors(emulator), "R-1", "80.00"), "bill-r1")
    items = [
        ("p0", pay(supplier, account_named(emulator, "Checking"), BillPaymentLine(created.id, Decimal("30"))), "pr")
    ]

    first = await client.create_bill_payments_batch(items)
    second = await client.create_bill_payments_batch(items)

    assert first == second
    assert len(emulator.state.entities("BillPayment")) == 1
    read = await client.get_bill(created.id)
    assert read is not None and read.balance == Decimal("50.00")


async def test_a_card_payment_is_paid_from_the_credit_card_account(client: QboClient, emulator: Emulator) -> None:
    supplier = await vendor(client, "Card Supplier")
    created = await client.create_bill(bill(supplier, contractors(emulator), "C-1", "12.00"), "bill-c1")
    card = account_named(emulator, "Visa Business")

    payment = await client.create_bill_payment(
        pay(supplier, card, BillPaymentLine(created.id, Decimal("12.00")), pay_type="CreditCard"), "pay-c1"
    )

    assert (payment.pay_type, payment.account_id) == ("CreditCard", card)
    with pytest.raises(QboValidationError):  # a Check from a card account is refused
        await client.create_bill_payment(pay(supplier, card, BillPaymentLine(created.id, Decimal("1"))), "pay-c2")


async def test_a_vendor_credit_is_created_found_and_applied_by_a_payment(client: QboClient, emulator: Emulator) -> None:
    supplier = await vendor(client, "Credit Supplier")
    account = contractors(emulator)
    owed = await client.create_bill(bill(supplier, account, "INV-100", "100.00"), "bill-inv-100")
    credit_draft = VendorCreditDraft(
        supplier,
        "INV-101",
        date(2026, 1, 7),
        None,
        None,
        "ontop invoice INV-101",
        [BillLineDraft(Decimal("25"), account)],
    )
    credits = await client.create_vendor_credits_batch([("c0", credit_draft, "credit-inv-101")])
    credit = credits["c0"]
    assert isinstance(credit, VendorCredit)
    assert await client.find_vendor_credits("INV-101", supplier) == [credit]
    assert await client.find_vendor_credits("INV-101", owed.id) == []

    payment = await client.create_bill_payment(
        pay(
            supplier,
            account_named(emulator, "Checking"),
            BillPaymentLine(owed.id, Decimal("100.00")),
            BillPaymentLine(credit.id, Decimal("25"), "VendorCredit"),
        ),
        "pay-inv-100",
    )

    assert (credit.total_amt, credit.balance, credit.doc_number) == (Decimal("25"), Decimal("25"), "INV-101")
    assert (payment.total, payment.bill_ids, payment.vendor_credit_ids) == (Decimal("75.00"), (owed.id,), (credit.id,))
    applied = await client.get_vendor_credit(credit.id)
    assert applied is not None and (applied.balance, applied.linked_payments) == (Decimal("0"), (payment.id,))


async def test_a_multicurrency_bill_and_payment_report_home_totals_from_their_rates(
    client: QboClient, emulator: Emulator
) -> None:
    emulator.state.companies[REALM].multicurrency_enabled = True
    supplier = await vendor(client, "Peso Supplier", "MXN")
    draft = bill(
        supplier, contractors(emulator), "MX-1", "17250.00", currency="MXN", exchange_rate=Decimal("0.0579710")
    )
    created = await client.create_bill(draft, "bill-mx1")
    payable = [account for account in await client.accounts(["Accounts Payable"]) if account.currency == "MXN"]

    payment = await client.create_bill_payment(
        pay(
            supplier,
            account_named(emulator, "Checking"),
            BillPaymentLine(created.id, Decimal("17250.00")),
            currency="MXN",
            exchange_rate=Decimal("0.058"),
        ),
        "pay-mx1",
    )

    assert (created.currency, created.exchange_rate, created.home_total) == (
        "MXN",
        Decimal("0.0579710"),
        Decimal("1000.00"),
    )
    assert [account.name for account in payable] == ["Accounts Payable (MXN)"]
    assert (payment.currency, payment.home_total) == ("MXN", Decimal("1000.50"))
    paid = await client.get_bill(created.id)
    assert paid is not None and (paid.balance, paid.home_balance) == (Decimal("0"), Decimal("0"))


async def test_a_truncated_stored_rate_shows_up_as_a_home_total_difference(
    client: QboClient, emulator: Emulator
) -> None:
    emulator.state.companies[REALM].multicurrency_enabled = True
    emulator.state.switches.exchange_rate_decimals = 4
    supplier = await vendor(client, "Truncated Supplier", "MXN")

    created = await client.create_bill(
        bill(supplier, contractors(emulator), "MX-2", "17250.00", currency="MXN", exchange_rate=Decimal("0.0579710")),
        "bill-mx2",
    )

    assert created.exchange_rate == Decimal("0.0579")
    assert created.home_total == Decimal("998.78") != Decimal("1000.00")  # what Ontop charged is not what QBO books


async def test_an_ap_account_in_another_currency_is_a_currency_error(client: QboClient, emulator: Emulator) -> None:
    emulator.state.companies[REALM].multicurrency_enabled = True
    supplier = await vendor(client, "Euro Supplier", "EUR")
    home_ap = next(a.id for a in await client.accounts(["Accounts Payable"]) if a.currency == "USD")
    draft = bill(supplier, contractors(emulator), "EU-1", "5", currency="EUR", exchange_rate=Decimal("1.1"))

    with pytest.raises(QboCurrencyError) as caught:
        await client.create_bill(BillDraft(**{**draft.__dict__, "ap_account_id": home_ap}), "bill-eu1")

    assert caught.value.element == "APAccountRef"


async def test_an_amount_with_three_decimals_is_a_validation_error_not_a_currency_error(
    client: QboClient, emulator: Emulator
) -> None:
    supplier = await vendor(client, "Unrounded Supplier")

    with pytest.raises(QboValidationError) as caught:
        await client.create_bill(bill(supplier, contractors(emulator), "U-1", "10.005"), "bill-u1")

    assert caught.value.code == "6000" and not isinstance(caught.value, QboCurrencyError)
