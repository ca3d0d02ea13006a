"""Emulator fidelity for BillPayment, VendorCredit, accounts and home amounts (reference §6.1, §18; items 26-28, 32)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from emulators.qbo.state import Company
from sync import money
from tests.qbo.conftest import REALM, Api, bill_body, fault


def payment_body(
    vendor_id: str,
    account_id: str,
    *lines: tuple[str, str] | tuple[str, str, str],
    pay_type: str = "Check",
    total: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A BillPayment body; each line is (txn id, amount) or (txn id, amount, "VendorCredit")."""
    body_lines = []
    signed = Decimal("0")
    for line in lines:
        txn_type = line[2] if len(line) == 3 else "Bill"
        body_lines.append({"Amount": Decimal(line[1]), "LinkedTxn": [{"TxnId": line[0], "TxnType": txn_type}]})
        signed += Decimal(line[1]) if txn_type == "Bill" else -Decimal(line[1])
    body: dict[str, Any] = {"VendorRef": {"value": vendor_id}, "PayType": pay_type, "Line": body_lines}
    if pay_type == "Check":
        body["CheckPayment"] = {"BankAccountRef": {"value": account_id}, "PrintStatus": "NotSet"}
    else:
        body["CreditCardPayment"] = {"CCAccountRef": {"value": account_id}}
    body["TotalAmt"] = Decimal(total) if total is not None else signed
    return {**body, **fields}


async def new_bill(api: Api, vendor_id: str, *amounts: str, **fields: Any) -> dict[str, Any]:
    return await api.created("bill", bill_body(vendor_id, api.account_id("Contractors"), *amounts, **fields))


async def read(api: Api, kind: str, entity_id: str) -> dict[str, Any]:
    response = await api.get(f"{kind.lower()}/{entity_id}")
    assert response.status_code == 200, response.text
    entity: dict[str, Any] = money.loads(response.text)[kind]
    return entity


def multicurrency(api: Api) -> Company:
    company = api.state.companies[REALM]
    company.multicurrency_enabled = True
    return company


# ---- paying bills ---------------------------------------------------------------------------------------------------


async def test_paying_part_of_a_bill_lowers_its_balance_and_links_both_ways(api: Api) -> None:
    vendor = await api.create_vendor("Paid Vendor")
    bill = await new_bill(api, vendor["Id"], "60.00", "40.00")

    payment = await api.created(
        "billpayment", payment_body(vendor["Id"], api.account_id("Checking"), (bill["Id"], "40.00"))
    )

    assert payment["TotalAmt"] == Decimal("40.00")
    assert payment["Line"] == [{"Amount": Decimal("40.00"), "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}]
    assert payment["CheckPayment"]["BankAccountRef"] == {"value": api.account_id("Checking"), "name": "Checking"}
    assert payment["VendorRef"]["value"] == vendor["Id"] and payment["PayType"] == "Check"
    paid = await read(api, "Bill", bill["Id"])
    assert (paid["Balance"], paid["HomeBalance"], paid["TotalAmt"]) == (
        Decimal("60.00"),
        Decimal("60.00"),
        Decimal("100.00"),
    )
    assert paid["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "BillPaymentCheck"}]
    assert paid["SyncToken"] == "1"
    assert await read(api, "BillPayment", payment["Id"]) == payment


async def test_a_card_payment_settles_the_rest_and_links_as_a_credit_card_payment(api: Api) -> None:
    vendor = await api.create_vendor("Card Vendor")
    bill = await new_bill(api, vendor["Id"], "100.00")
    await api.created("billpayment", payment_body(vendor["Id"], api.account_id("Checking"), (bill["Id"], "30.00")))

    card = await api.created(
        "billpayment",
        payment_body(vendor["Id"], api.account_id("Visa Business"), (bill["Id"], "70.00"), pay_type="CreditCard"),
    )

    assert card["CreditCardPayment"]["CCAccountRef"]["name"] == "Visa Business" and "CheckPayment" not in card
    paid = await read(api, "Bill", bill["Id"])
    assert paid["Balance"] == Decimal("0")
    assert [link["TxnType"] for link in paid["LinkedTxn"]] == ["BillPaymentCheck", "BillPaymentCreditCard"]


async def test_overpaying_a_bill_is_refused_and_changes_nothing(api: Api) -> None:
    vendor = await api.create_vendor("Overpaid Vendor")
    bill = await new_bill(api, vendor["Id"], "100.00")
    checking = api.account_id("Checking")

    over = fault(await api.post("billpayment", payment_body(vendor["Id"], checking, (bill["Id"], "100.01"))))
    split = fault(
        await api.post("billpayment", payment_body(vendor["Id"], checking, (bill["Id"], "60"), (bill["Id"], "41")))
    )

    assert over["code"] == split["code"] == "6000"
    assert "more than its open balance of 100.00" in over["Detail"] and "cannot be overpaid" in over["Detail"]
    unchanged = await read(api, "Bill", bill["Id"])
    assert (unchanged["Balance"], unchanged.get("LinkedTxn"), unchanged["SyncToken"]) == (Decimal("100.00"), None, "0")
    assert api.state.entities("BillPayment") == []


async def test_after_a_partial_payment_only_the_open_balance_can_be_paid(api: Api) -> None:
    vendor = await api.create_vendor("Partial Vendor")
    bill = await new_bill(api, vendor["Id"], "100.00")
    checking = api.account_id("Checking")
    await api.created("billpayment", payment_body(vendor["Id"], checking, (bill["Id"], "60.00")))

    refused = await api.post("billpayment", payment_body(vendor["Id"], checking, (bill["Id"], "40.01")))
    accepted = await api.post("billpayment", payment_body(vendor["Id"], checking, (bill["Id"], "40.00")))

    assert fault(refused)["code"] == "6000" and accepted.status_code == 200


@pytest.mark.parametrize(
    ("pay_type", "account", "code", "element"),
    [
        ("Check", "Visa Business", "6000", "BankAccountRef"),
        ("Check", "Contractors", "6000", "BankAccountRef"),
        ("CreditCard", "Checking", "6000", "CCAccountRef"),
        ("Check", None, "2500", "BankAccountRef"),
    ],
)
async def test_a_check_needs_a_bank_account_and_a_card_payment_a_credit_card_account(
    api: Api, pay_type: str, account: str | None, code: str, element: str
) -> None:
    vendor = await api.create_vendor("Account Type Vendor")
    bill = await new_bill(api, vendor["Id"], "10.00")
    account_id = api.account_id(account) if account else "999999"

    error = fault(
        await api.post("billpayment", payment_body(vendor["Id"], account_id, (bill["Id"], "10.00"), pay_type=pay_type))
    )

    assert (error["code"], error["element"]) == (code, element)


@pytest.mark.parametrize(
    ("mutate", "code", "element"),
    [
        (lambda p: p.pop("VendorRef"), "2020", "VendorRef"),
        (lambda p: p.pop("PayType"), "2020", "PayType"),
        (lambda p: p.update(PayType="Cash"), "2170", "PayType"),
        (lambda p: p.pop("CheckPayment"), "2020", "CheckPayment"),
        (lambda p: p.pop("TotalAmt"), "2020", "TotalAmt"),
        (lambda p: p.update(TotalAmt=Decimal("9.99")), "6000", "TotalAmt"),
        (lambda p: p.pop("Line"), "2020", "Line"),
        (lambda p: p["Line"][0].pop("LinkedTxn"), "2020", "LinkedTxn"),
        (lambda p: p["Line"][0]["LinkedTxn"][0].update(TxnType="Invoice"), "2170", "TxnType"),
        (lambda p: p["Line"][0]["LinkedTxn"][0].update(TxnId="999999"), "2500", "LinkedTxn.TxnId"),
        (lambda p: p.update(DocNumber="P" * 22), "2050", "DocNumber"),
    ],
)
async def test_payment_validation_errors(api: Api, mutate: Any, code: str, element: str) -> None:
    vendor = await api.create_vendor("Validated Vendor")
    bill = await new_bill(api, vendor["Id"], "10.00")
    body = payment_body(vendor["Id"], api.account_id("Checking"), (bill["Id"], "10.00"))
    mutate(body)

    error = fault(await api.post("billpayment", body))

    assert (error["code"], error["element"]) == (code, element)


async def test_a_payment_cannot_pay_another_vendors_bill(api: Api) -> None:
    owner = await api.create_vendor("Bill Owner")
    other = await api.create_vendor("Someone Else")
    bill = await new_bill(api, owner["Id"], "10.00")

    error = fault(
        await api.post("billpayment", payment_body(other["Id"], api.account_id("Checking"), (bill["Id"], "10")))
    )

    assert error["code"] == "6000" and "another vendor" in error["Detail"]
    assert (await read(api, "Bill", bill["Id"]))["Balance"] == Decimal("10.00")


async def test_a_replayed_requestid_creates_one_payment(api: Api) -> None:
    vendor = await api.create_vendor("Replayed Vendor")
    bill = await new_bill(api, vendor["Id"], "50.00")
    body = payment_body(vendor["Id"], api.account_id("Checking"), (bill["Id"], "20.00"))

    first = await api.post("billpayment", body, requestid="pay-once")
    second = await api.post("billpayment", body, requestid="pay-once")

    assert first.status_code == 200 and second.content == first.content
    assert len(api.state.entities("BillPayment")) == 1
    assert (await read(api, "Bill", bill["Id"]))["Balance"] == Decimal("30.00")


async def test_payments_are_batch_creatable_each_item_on_its_own_and_queryable(api: Api) -> None:
    vendor = await api.create_vendor("Batch Paid Vendor")
    first = await new_bill(api, vendor["Id"], "10.00")
    second = await new_bill(api, vendor["Id"], "20.00")
    checking = api.account_id("Checking")
    items = [
        {"bId": "p1", "operation": "create", "BillPayment": payment_body(vendor["Id"], checking, (first["Id"], "10"))},
        {"bId": "p2", "operation": "create", "BillPayment": payment_body(vendor["Id"], checking, (second["Id"], "25"))},
    ]

    response = await api.post("batch", {"BatchItemRequest": items})

    results = {item["bId"]: item for item in money.loads(response.text)["BatchItemResponse"]}
    assert results["p1"]["BillPayment"]["TotalAmt"] == Decimal("10")
    assert results["p2"]["Fault"]["Error"][0]["code"] == "6000"
    rows = await api.rows(f"select * from BillPayment where VendorRef = '{vendor['Id']}'")
    assert [row["Id"] for row in rows] == [results["p1"]["BillPayment"]["Id"]]


async def test_a_bill_with_a_payment_cannot_be_deleted(api: Api) -> None:
    vendor = await api.create_vendor("Undeletable Vendor")
    bill = await new_bill(api, vendor["Id"], "10.00")
    await api.created("billpayment", payment_body(vendor["Id"], api.account_id("Checking"), (bill["Id"], "5")))

    error = fault(await api.post("bill", {"Id": bill["Id"], "SyncToken": "1"}, operation="delete"))

    assert error["code"] == "6000" and "payments linked" in error["Detail"]


async def test_a_bill_update_keeps_what_was_paid_and_its_links(api: Api) -> None:
    vendor = await api.create_vendor("Updated Vendor")
    bill = await new_bill(api, vendor["Id"], "100.00")
    payment = await api.created(
        "billpayment", payment_body(vendor["Id"], api.account_id("Checking"), (bill["Id"], "30"))
    )
    stale = {**bill, "sparse": True, "PrivateNote": "edited"}

    assert fault(await api.post("bill", stale))["code"] == "5010"  # the payment changed the bill's SyncToken
    updated = await api.created("bill", {**stale, "SyncToken": "1"})

    assert (updated["Balance"], updated["PrivateNote"]) == (Decimal("70.00"), "edited")
    assert updated["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "BillPaymentCheck"}]


# ---- audit ----------------------------------------------------------------------------------------------------------


async def test_paying_a_new_bill_does_not_count_as_touching_preexisting_data(api: Api) -> None:
    vendor = await api.create_vendor("Audit Vendor")
    bill = await new_bill(api, vendor["Id"], "10.00")
    payment = await api.created(
        "billpayment", payment_body(vendor["Id"], api.account_id("Checking"), (bill["Id"], "10"))
    )

    [entry] = [entry for entry in api.state.audit_log() if entry["entity"] == "BillPayment"]

    assert (entry["operation"], entry["entity_id"], entry["touched_preexisting"]) == ("create", payment["Id"], False)
    assert entry["also_changed"] == [{"entity": "Bill", "entity_id": bill["Id"]}]


async def test_paying_a_preexisting_bill_counts_as_touching_preexisting_data(api: Api) -> None:
    vendor = await api.create_vendor("Seeded Bill Vendor")
    bill = await new_bill(api, vendor["Id"], "10.00")
    api.state.companies[REALM].preexisting.add(("Bill", bill["Id"]))  # as if the company had it before we connected
    await api.created("billpayment", payment_body(vendor["Id"], api.account_id("Checking"), (bill["Id"], "10")))

    [entry] = [entry for entry in api.state.audit_log() if entry["entity"] == "BillPayment"]

    assert entry["touched_preexisting"] is True


# ---- vendor credits -------------------------------------------------------------------------------------------------


async def test_a_vendor_credit_is_created_with_its_balance_and_found_by_doc_number(api: Api) -> None:
    vendor = await api.create_vendor("Credit Vendor")
    body = bill_body(vendor["Id"], api.account_id("Contractors"), "20.00", "10.50", DocNumber="CR-1", PrivateNote="n")

    credit = await api.created("vendorcredit", body)

    assert (credit["TotalAmt"], credit["Balance"], credit["DocNumber"]) == (Decimal("30.50"), Decimal("30.50"), "CR-1")
    assert credit["APAccountRef"]["name"] == "Accounts Payable (A/P)" and "DueDate" not in credit
    rows = await api.rows(f"select * from VendorCredit where DocNumber = 'CR-1' and VendorRef = '{vendor['Id']}'")
    assert [row["Id"] for row in rows] == [credit["Id"]]


async def test_a_payment_applies_a_vendor_credit_to_a_bill(api: Api) -> None:
    vendor = await api.create_vendor("Applied Credit Vendor")
    bill = await new_bill(api, vendor["Id"], "100.00")
    credit = await api.created("vendorcredit", bill_body(vendor["Id"], api.account_id("Contractors"), "30.00"))

    payment = await api.created(
        "billpayment",
        payment_body(
            vendor["Id"], api.account_id("Checking"), (bill["Id"], "100"), (credit["Id"], "30", "VendorCredit")
        ),
    )

    assert payment["TotalAmt"] == Decimal("70")  # the bill less the credit leaves the bank
    assert (await read(api, "Bill", bill["Id"]))["Balance"] == Decimal("0")
    applied = await read(api, "VendorCredit", credit["Id"])
    assert applied["Balance"] == Decimal("0")
    assert applied["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "BillPaymentCheck"}]


async def test_a_credit_cannot_be_applied_beyond_its_balance_nor_without_a_bill(api: Api) -> None:
    vendor = await api.create_vendor("Limited Credit Vendor")
    bill = await new_bill(api, vendor["Id"], "100.00")
    credit = await api.created("vendorcredit", bill_body(vendor["Id"], api.account_id("Contractors"), "30.00"))
    checking = api.account_id("Checking")

    beyond = await api.post(
        "billpayment", payment_body(vendor["Id"], checking, (bill["Id"], "50"), (credit["Id"], "30.01", "VendorCredit"))
    )
    alone = await api.post("billpayment", payment_body(vendor["Id"], checking, (credit["Id"], "30", "VendorCredit")))

    assert fault(beyond)["code"] == fault(alone)["code"] == "6000"
    assert "open balance" in fault(beyond)["Detail"]


async def test_a_bill_whose_total_is_negative_is_refused_but_a_discount_line_is_fine(api: Api) -> None:
    vendor = await api.create_vendor("Negative Vendor")
    account = api.account_id("Contractors")

    negative = fault(await api.post("bill", bill_body(vendor["Id"], account, "50.00", "-80.00")))
    discounted = await api.created("bill", bill_body(vendor["Id"], account, "100.00", "-20.00"))

    assert negative["code"] == "6000" and "vendor credit" in negative["Detail"]
    assert discounted["TotalAmt"] == Decimal("80.00")


# ---- home amounts and currencies -------------------------------------------------------------------------------


async def test_home_amounts_come_from_the_exchange_rate_rounded_half_up(api: Api) -> None:
    multicurrency(api)
    euro = await api.create_vendor("Euro Paid Vendor", CurrencyRef={"value": "EUR"})
    bill = await new_bill(api, euro["Id"], "1000.00", CurrencyRef={"value": "EUR"}, ExchangeRate=Decimal("1.084249"))

    payment = await api.created(
        "billpayment",
        payment_body(euro["Id"], api.account_id("Checking"), (bill["Id"], "400.00"),
                     CurrencyRef={"value": "EUR"}, ExchangeRate=Decimal("1.1")),
    )  # fmt: skip

    assert (bill["HomeTotalAmt"], bill["HomeBalance"]) == (Decimal("1084.25"), Decimal("1084.25"))  # 1084.249
    assert (payment["CurrencyRef"]["value"], payment["ExchangeRate"], payment["HomeTotalAmt"]) == (
        "EUR",
        Decimal("1.1"),
        Decimal("440.00"),
    )
    paid = await read(api, "Bill", bill["Id"])
    assert (paid["Balance"], paid["HomeBalance"]) == (
        Decimal("600.00"),
        Decimal("650.55"),
    )  # 650.5494 at the bill's rate


@pytest.mark.parametrize(
    ("decimals", "rounding", "home_total"),
    [(None, "truncate", "1084.28"), (4, "truncate", "1084.20"), (4, "half_up", "1084.30")],
)
async def test_the_stored_exchange_rate_can_be_cut_to_show_the_home_total_moving(
    api: Api, decimals: int | None, rounding: str, home_total: str
) -> None:
    multicurrency(api)
    api.state.switches.update({"exchange_rate_decimals": decimals, "exchange_rate_rounding": rounding})
    euro = await api.create_vendor("Euro Rate Vendor", CurrencyRef={"value": "EUR"})

    bill = await new_bill(api, euro["Id"], "1000.00", CurrencyRef={"value": "EUR"}, ExchangeRate=Decimal("1.08428"))

    assert bill["HomeTotalAmt"] == Decimal(home_total)


async def test_a_home_currency_bill_in_a_multicurrency_company_has_home_amounts_at_rate_one(api: Api) -> None:
    multicurrency(api)
    vendor = await api.create_vendor("Dollar Vendor")

    bill = await new_bill(api, vendor["Id"], "12.34", CurrencyRef={"value": "USD"})

    assert (bill["ExchangeRate"], bill["HomeTotalAmt"], bill["HomeBalance"]) == (1, Decimal("12.34"), Decimal("12.34"))


async def test_a_payment_from_an_account_in_a_third_currency_is_refused(api: Api) -> None:
    multicurrency(api)
    pound_bank = await api.created(
        "account", {"Name": "Pound account", "AccountType": "Bank", "CurrencyRef": {"value": "GBP"}}
    )
    euro_bank = await api.created(
        "account", {"Name": "Euro account", "AccountType": "Bank", "CurrencyRef": {"value": "EUR"}}
    )
    euro = await api.create_vendor("Euro Bank Vendor", CurrencyRef={"value": "EUR"})
    bill = await new_bill(api, euro["Id"], "10.00", CurrencyRef={"value": "EUR"}, ExchangeRate=Decimal("1.1"))
    fields: dict[str, Any] = {"CurrencyRef": {"value": "EUR"}, "ExchangeRate": Decimal("1.1")}

    refused = fault(
        await api.post("billpayment", payment_body(euro["Id"], pound_bank["Id"], (bill["Id"], "5"), **fields))
    )
    accepted = await api.post("billpayment", payment_body(euro["Id"], euro_bank["Id"], (bill["Id"], "5"), **fields))

    assert refused["code"] == "6000" and "GBP" in refused["Detail"]
    assert accepted.status_code == 200


async def test_a_payment_only_settles_bills_in_its_own_currency(api: Api) -> None:
    multicurrency(api)
    euro = await api.create_vendor("Mixed Currency Vendor", CurrencyRef={"value": "EUR"})
    dollar_bill = await new_bill(api, euro["Id"], "10.00", CurrencyRef={"value": "USD"})
    fields: dict[str, Any] = {"CurrencyRef": {"value": "EUR"}, "ExchangeRate": Decimal("1.1")}

    error = fault(
        await api.post(
            "billpayment", payment_body(euro["Id"], api.account_id("Checking"), (dollar_bill["Id"], "10"), **fields)
        )
    )

    assert (error["code"], error["element"]) == ("6000", "CurrencyRef") and "currency" in error["Detail"]


async def test_a_multicurrency_payment_needs_its_currency(api: Api) -> None:
    multicurrency(api)
    vendor = await api.create_vendor("Currency Needed Vendor")
    bill = await new_bill(api, vendor["Id"], "10.00", CurrencyRef={"value": "USD"})

    error = fault(
        await api.post("billpayment", payment_body(vendor["Id"], api.account_id("Checking"), (bill["Id"], "10")))
    )

    assert (error["code"], error["element"]) == ("2020", "CurrencyRef")


# ---- minor units ----------------------------------------------------------------------------------------------------


async def test_a_usd_amount_with_three_decimals_is_refused_on_a_line_and_on_a_payment_total(api: Api) -> None:
    vendor = await api.create_vendor("Precise Vendor")
    account = api.account_id("Contractors")
    line = fault(await api.post("bill", bill_body(vendor["Id"], account, "10.005")))
    bill = await new_bill(api, vendor["Id"], "10.00")

    total = fault(
        await api.post(
            "billpayment", payment_body(vendor["Id"], api.account_id("Checking"), (bill["Id"], "1.00"), total="1.001")
        )
    )

    assert (line["code"], line["element"]) == ("6000", "Amount")
    assert "more decimal places than USD allows (2)" in line["Detail"]
    assert (total["code"], total["element"]) == ("6000", "TotalAmt")
    assert (await api.post("bill", bill_body(vendor["Id"], account, "10.50"))).status_code == 200


@pytest.mark.parametrize(
    ("currency", "refused", "accepted"),
    [("CLP", "1500.5", "1500.00"), ("JPY", "0.1", "12"), ("BHD", "1.0005", "1.005")],
)
async def test_the_minor_unit_follows_iso_4217(api: Api, currency: str, refused: str, accepted: str) -> None:
    multicurrency(api)
    vendor = await api.create_vendor(f"{currency} Vendor", CurrencyRef={"value": currency})
    fields = {"CurrencyRef": {"value": currency}, "ExchangeRate": Decimal("0.001")}
    account = api.account_id("Contractors")

    assert fault(await api.post("bill", bill_body(vendor["Id"], account, refused, **fields)))["code"] == "6000"
    assert (await api.post("bill", bill_body(vendor["Id"], account, accepted, **fields))).status_code == 200


# ---- accounts -------------------------------------------------------------------------------------------------------


async def test_a_vendor_in_a_new_currency_brings_its_own_ap_account(api: Api) -> None:
    multicurrency(api)
    await api.create_vendor("Peso Vendor", CurrencyRef={"value": "MXN"})
    await api.create_vendor("Second Peso Vendor", CurrencyRef={"value": "MXN"})

    payables = await api.rows("select * from Account where AccountType = 'Accounts Payable'")

    assert sorted((a["Name"], a["CurrencyRef"]["value"]) for a in payables) == [
        ("Accounts Payable (A/P)", "USD"),
        ("Accounts Payable (MXN)", "MXN"),
    ]


async def test_a_bill_needs_an_ap_account_in_its_own_currency(api: Api) -> None:
    multicurrency(api)
    euro = await api.create_vendor("Euro AP Vendor", CurrencyRef={"value": "EUR"})
    home_ap = api.account_id("Accounts Payable (A/P)")
    euro_ap = api.account_id("Accounts Payable (EUR)")
    fields = {"CurrencyRef": {"value": "EUR"}, "ExchangeRate": Decimal("1.1")}

    mismatch = fault(await api.post("bill", bill_body(euro["Id"], api.account_id("Contractors"), "1", APAccountRef={
        "value": home_ap}, **fields)))  # fmt: skip
    implied = await new_bill(api, euro["Id"], "1", **fields)
    explicit = await new_bill(api, euro["Id"], "1", APAccountRef={"value": euro_ap}, **fields)

    assert (mismatch["code"], mismatch["element"]) == ("6000", "APAccountRef") and "currency" in mismatch["Detail"]
    assert implied["APAccountRef"] == explicit["APAccountRef"] == {"value": euro_ap, "name": "Accounts Payable (EUR)"}


async def test_an_ontop_wallet_bank_account_can_be_created_once(api: Api) -> None:
    wallet = await api.created("account", {"Name": "Ontop wallet", "AccountType": "Bank", "AccountSubType": "Checking"})

    assert (wallet["Classification"], wallet["CurrencyRef"]["value"], wallet["Active"]) == ("Asset", "USD", True)
    assert fault(await api.post("account", {"Name": " ontop WALLET ", "AccountType": "Bank"}))["code"] == "6240"
    rows = await api.rows("select * from Account where AccountType = 'Bank'")
    assert {row["Name"] for row in rows} == {"Checking", "Ontop wallet"}


@pytest.mark.parametrize(
    ("body", "code", "element"),
    [
        ({"AccountType": "Bank"}, "2020", "Name"),
        ({"Name": "A: B", "AccountType": "Bank"}, "6000", "Name"),
        ({"Name": 'The "best" bank', "AccountType": "Bank"}, "6000", "Name"),
        ({"Name": "x" * 101, "AccountType": "Bank"}, "2050", "Name"),
        ({"Name": "No type"}, "2020", "AccountType"),
        ({"Name": "Odd type", "AccountType": "Piggy Bank"}, "2170", "AccountType"),
        ({"Name": "Odd sub-type", "AccountType": "Bank", "AccountSubType": "CreditCard"}, "2170", "AccountSubType"),
        ({"Name": "Euro bank", "AccountType": "Bank", "CurrencyRef": {"value": "EUR"}}, "6000", "CurrencyRef"),
    ],
)
async def test_account_create_rules(api: Api, body: dict[str, Any], code: str, element: str) -> None:
    error = fault(await api.post("account", body))

    assert (error["code"], error["element"]) == (code, element)


async def test_expense_accounts_stay_in_the_home_currency(api: Api) -> None:
    multicurrency(api)
    body = {"Name": "Euro costs", "AccountType": "Expense", "CurrencyRef": {"value": "EUR"}}

    assert fault(await api.post("account", body))["element"] == "CurrencyRef"


@pytest.mark.parametrize(
    ("account_type", "accepted"),
    [
        ("Other Current Asset", True),
        ("Other Asset", True),
        ("Fixed Asset", True),
        ("Other Current Liability", True),
        ("Long Term Liability", True),
        ("Accounts Receivable", False),
        ("Accounts Payable", False),
        ("Income", False),
        ("Equity", False),
        ("Credit Card", False),
    ],
)
async def test_expense_lines_take_balance_sheet_accounts_but_not_receivables_or_payables(
    api: Api, account_type: str, accepted: bool
) -> None:
    account = await api.created("account", {"Name": f"Line {account_type}", "AccountType": account_type})
    vendor = await api.create_vendor("Line Account Vendor")

    response = await api.post("bill", bill_body(vendor["Id"], account["Id"], "5.00"))

    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert (fault(response)["code"], fault(response)["element"]) == ("6000", "AccountRef")
