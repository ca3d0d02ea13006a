"""BillPayment (reference §18.1): pays bills from a Bank or Credit Card account, optionally applying vendor credits."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from emulators.qbo.accounts import account_currency, pay_from_account, payable_account
from emulators.qbo.currencies import round_home
from emulators.qbo.entities import money_amount, set_home_amounts, txn_currency, txn_date
from emulators.qbo.faults import (
    EmulatedFault,
    active_ref,
    business,
    invalid_enum,
    invalid_reference,
    required,
    too_long,
)
from emulators.qbo.state import Company, QboEmulatorState

PAY_TYPES = {"Check": "BillPaymentCheck", "CreditCard": "BillPaymentCreditCard"}
LINKABLE = ("Bill", "VendorCredit")


def create_bill_payment(
    state: QboEmulatorState, company: Company, body: dict[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Validate and create a BillPayment; returns it and the (kind, Id) of the bills and credits it changed.

    Everything is checked before anything changes, so a refused payment leaves every bill as it was.
    """
    payment = copy.deepcopy({key: value for key, value in body.items() if key not in ("Id", "SyncToken", "MetaData")})
    vendor = active_ref(company, "Vendor", payment.get("VendorRef"), "VendorRef")
    payment["VendorRef"] = {"value": vendor["Id"], "name": vendor["DisplayName"]}
    pay_type = payment.get("PayType")
    if not pay_type:
        raise required("PayType")
    if pay_type not in PAY_TYPES:
        raise invalid_enum(pay_type, "PayType")
    account, detail_key = pay_from_account(company, payment, str(pay_type))
    _check_text(payment)
    currency, rate = txn_currency(state, company, payment, vendor)
    paying_currency = account_currency(company, account)
    if paying_currency not in (company.home_currency, currency):
        raise business(
            f"The account {account['Name']} is in {paying_currency}; a {currency} payment must come from an "
            f"account in {currency} or in the home currency ({company.home_currency}).",
            detail_key,
        )
    ap_account = payable_account(state, company, payment.get("APAccountRef"), currency)
    lines, applied = _lines(company, payment.get("Line"), vendor, currency)
    paid = sum((value for (kind, _), value in applied.items() if kind == "Bill"), Decimal("0"))
    credited = sum((value for (kind, _), value in applied.items() if kind == "VendorCredit"), Decimal("0"))
    if not paid:
        raise business("A bill payment must pay at least one bill.", "Line")
    if credited > paid:
        raise business(f"The vendor credits applied ({credited}) are more than the bills paid ({paid}).", "Line")
    if payment.get("TotalAmt") is None:
        raise required("TotalAmt")
    total = money_amount(payment["TotalAmt"], currency, "TotalAmt")
    # Credit lines carry positive amounts and reduce what leaves the account, as on a QBO payment screen.
    if total != paid - credited:
        raise business(
            f"TotalAmt {total} does not equal the bills paid less the credits applied ({paid - credited}).", "TotalAmt"
        )
    today = state.now().astimezone(company.tz).date()
    payment["TxnDate"] = (txn_date(payment.get("TxnDate"), "TxnDate") or today).isoformat()
    account_detail = dict(payment[detail_key])
    ref_key = "BankAccountRef" if detail_key == "CheckPayment" else "CCAccountRef"
    account_detail[ref_key] = {"value": account["Id"], "name": account["Name"]}
    if detail_key == "CheckPayment":
        account_detail["PrintStatus"] = account_detail.get("PrintStatus") or "NotSet"
    payment[detail_key] = account_detail
    payment.pop("CreditCardPayment" if detail_key == "CheckPayment" else "CheckPayment", None)
    payment["APAccountRef"] = {"value": ap_account["Id"], "name": ap_account["Name"]}
    payment["Line"] = lines
    payment["TotalAmt"] = total
    for key in ("Balance", "HomeBalance", "HomeTotalAmt"):
        payment.pop(key, None)
    set_home_amounts(company, payment, rate, with_balance=False)
    payment["MetaData"] = state.meta(company)
    record = state.add_entity(company, "BillPayment", payment)
    link_type = PAY_TYPES[str(pay_type)]
    for (kind, txn_id), value in applied.items():
        _apply(state, company, kind, txn_id, value, {"TxnId": record["Id"], "TxnType": link_type})
    return record, list(applied)


def _check_text(payment: dict[str, Any]) -> None:
    for key, limit in (("DocNumber", 21), ("PrivateNote", 4000)):
        value = payment.get(key)
        if isinstance(value, str) and len(value) > limit:
            raise too_long(key, limit, len(value))


def _lines(
    company: Company, raw_lines: Any, vendor: dict[str, Any], currency: str
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], Decimal]]:
    if raw_lines is None:
        raise required("Line")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise EmulatedFault("2250", "Missing lines", "At least one line is required", "Line")
    lines = []
    applied: dict[tuple[str, str], Decimal] = {}
    for raw_line in raw_lines:
        line = dict(raw_line) if isinstance(raw_line, dict) else {}
        if line.get("Amount") is None:
            raise required("Amount")
        value = money_amount(line["Amount"], currency, "Amount")
        if value <= 0:
            raise business(f"A payment line amount must be more than zero, not {value}.", "Amount")
        links = line.get("LinkedTxn")
        if not isinstance(links, list) or not links:
            raise required("LinkedTxn")
        if len(links) != 1 or not isinstance(links[0], dict):
            raise business("Each payment line links exactly one bill or vendor credit.", "LinkedTxn")
        kind, txn = _linked(company, links[0])
        if (txn.get("VendorRef") or {}).get("value") != vendor["Id"]:
            raise business(
                f"{kind} {txn['Id']} belongs to another vendor; a payment pays one vendor's bills.", "VendorRef"
            )
        txn_currency_code = (txn.get("CurrencyRef") or {}).get("value") or company.home_currency
        if txn_currency_code != currency:
            raise business(
                f"{kind} {txn['Id']} is in {txn_currency_code}; a payment in {currency} can only settle transactions "
                "in that currency.",
                "CurrencyRef",
            )
        applied[(kind, txn["Id"])] = applied.get((kind, txn["Id"]), Decimal("0")) + value
        line["Amount"] = value
        line["LinkedTxn"] = [{"TxnId": txn["Id"], "TxnType": kind}]
        lines.append(line)
    for (kind, txn_id), value in applied.items():
        balance = Decimal(company.of(kind)[txn_id].get("Balance", 0))
        if value > balance:
            noun = "bill" if kind == "Bill" else "vendor credit"
            raise business(
                f"The payment of {value} to {noun} {txn_id} is more than its open balance of {balance}: a {noun} "
                "cannot be overpaid.",
                "Amount",
            )
    return lines, applied


def _linked(company: Company, link: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kind = link.get("TxnType")
    if not kind:
        raise required("TxnType")
    if kind not in LINKABLE:
        raise invalid_enum(kind, "TxnType")
    txn_id = link.get("TxnId")
    if not txn_id:
        raise required("TxnId")
    txn = company.of(str(kind)).get(str(txn_id))
    if txn is None or txn.get("status") == "Deleted":
        raise invalid_reference("LinkedTxn.TxnId")
    return str(kind), txn


def _apply(
    state: QboEmulatorState, company: Company, kind: str, txn_id: str, value: Decimal, link: dict[str, str]
) -> None:
    """Lower a bill's (or credit's) open balance by a payment and link the payment to it."""
    txn = dict(company.of(kind)[txn_id])
    txn["Balance"] = Decimal(txn.get("Balance", 0)) - value
    if company.multicurrency_enabled:
        txn["HomeBalance"] = round_home(txn["Balance"] * Decimal(txn.get("ExchangeRate", 1)), company.home_currency)
    else:
        txn["HomeBalance"] = txn["Balance"]
    txn["LinkedTxn"] = [*(txn.get("LinkedTxn") or []), link]
    # A changed record gets a new SyncToken (§3), so a later update with the old one is stale.
    txn["SyncToken"] = str(int(txn.get("SyncToken", "0")) + 1)
    txn["MetaData"] = {**txn.get("MetaData", {}), "LastUpdatedTime": state.local_time(company)}
    company.store(kind, txn)
