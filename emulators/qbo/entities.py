"""Business rules the QBO emulator enforces on names, Bill, VendorCredit and Attachable (reference §3-§7, §18)."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from emulators.qbo.accounts import (
    check_account_name,
    ensure_ap_account,
    line_account,
    payable_account,
)
from emulators.qbo.currencies import fits_minor_unit, minor_places, quantum, round_home
from emulators.qbo.faults import (
    DUPLICATE_NAME_DETAIL,
    INACTIVE_DETAIL,
    EmulatedFault,
    active_ref,
    business,
    duplicate_name,
    invalid_enum,
    invalid_reference,
    invalid_string,
    not_found,
    required,
    stale_object,
    too_long,
    unsupported,
)
from emulators.qbo.state import NAME_KINDS, Company, QboEmulatorState
from emulators.qbo.taxes import GLOBAL_TAX_CALCULATIONS, US_PSEUDO_CODES, purchase_rate, purchase_rate_ref
from emulators.qbo.tracking import TRACKING_KINDS, check_tracking_refs
from emulators.wire import AmountError, amount

__all__ = [
    "DUPLICATE_NAME_DETAIL",
    "INACTIVE_DETAIL",
    "NAME_KINDS",
    "EmulatedFault",
    "business",
    "create_bill",
    "create_name_entity",
    "create_vendor_credit",
    "delete_entity",
    "invalid_reference",
    "money_amount",
    "not_found",
    "read_entity",
    "required",
    "stale_object",
    "too_long",
    "txn_currency",
    "txn_date",
    "update_entity",
]

NAME_PARTS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
NAME_LIMITS = {"DisplayName": 500, "Title": 16, "Suffix": 16, "GivenName": 100, "MiddleName": 100,
               "FamilyName": 100, "CompanyName": 100, "PrintOnCheckName": 100, "AcctNum": 100,
               "TaxIdentifier": 20, "Notes": 4000}  # fmt: skip
VAT_DETAIL = "Make sure all your transactions have a VAT rate before you save."
# Transactions the emulator creates but does not let a client edit or delete: this project never does (§18.1).
CREATE_ONLY_KINDS = {"BillPayment"}


# ---- shared readers ----------------------------------------------------------------------------------------------
def money_amount(value: Any, currency: str, element: str) -> Decimal:
    """A money field as QBO reads it: a JSON number with no more decimals than the currency's minor unit.

    QBO's behaviour for extra decimals is unconfirmed (§18.6 item 32: it may round or refuse). The emulator refuses
    with 6000, a business validation error, because the XSD's 10.5 format accepts the number itself; the point is
    to catch a client that forgets to quantise. The Detail avoids the word "currency" so it is not mistaken for a
    currency mismatch.
    """
    try:
        parsed = amount(value)
    except AmountError as exc:
        raise invalid_string(f"Invalid amount: {value!r}", element) from exc
    if not fits_minor_unit(parsed, currency):
        raise business(
            f"The amount {parsed} has more decimal places than {currency} allows ({minor_places(currency)}).", element
        )
    return parsed


def txn_date(value: Any, element: str) -> date | None:
    """A `YYYY-MM-DD` date field, or None when absent; 2040 when malformed."""
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise invalid_string(f"Invalid date {value!r}", element) from exc


def txn_currency(
    state: QboEmulatorState, company: Company, txn: dict[str, Any], vendor: dict[str, Any]
) -> tuple[str, Decimal]:
    """Check and fill a transaction's CurrencyRef and ExchangeRate (§5); returns (currency, rate)."""
    home = company.home_currency
    vendor_currency = (vendor.get("CurrencyRef") or {}).get("value") or home
    sent = (txn.get("CurrencyRef") or {}).get("value")
    if company.multicurrency_enabled and not sent:
        raise required("CurrencyRef")
    currency = str(sent or home).upper()
    if not company.multicurrency_enabled and currency != home:
        raise business("Multicurrency is not enabled: you can only use the home currency.", "CurrencyRef")
    if currency not in (home, vendor_currency):
        raise business("You can only use one foreign currency per transaction.", "CurrencyRef")
    txn["CurrencyRef"] = state.currency_ref(currency)
    if currency == home:
        txn.pop("ExchangeRate", None)
        if company.multicurrency_enabled:
            txn["ExchangeRate"] = Decimal("1")
        return currency, Decimal("1")
    if txn.get("ExchangeRate") in (None, 0, Decimal("0")):
        if state.switches.reject_missing_exchange_rate:
            raise EmulatedFault("2410", "Curreny, ExchangeRate is missing.", "Curreny, ExchangeRate is missing.")
        txn["ExchangeRate"] = Decimal("1")
    try:
        rate = amount(txn["ExchangeRate"])
    except AmountError as exc:
        raise invalid_string(f"Invalid exchange rate: {txn['ExchangeRate']!r}", "ExchangeRate") from exc
    if rate <= 0:
        raise business("The exchange rate must be more than zero.", "ExchangeRate")
    places = state.switches.exchange_rate_decimals
    if places is not None:
        rounding = ROUND_HALF_UP if state.switches.exchange_rate_rounding == "half_up" else ROUND_DOWN
        rate = rate.quantize(Decimal(1).scaleb(-places), rounding=rounding)
    txn["ExchangeRate"] = rate
    return currency, rate


def set_home_amounts(company: Company, txn: dict[str, Any], rate: Decimal, *, with_balance: bool = True) -> None:
    """HomeTotalAmt/HomeBalance = amount × ExchangeRate, half-up to the home currency's minor unit (§18.4)."""
    home = company.home_currency
    if company.multicurrency_enabled:
        txn["HomeTotalAmt"] = round_home(txn["TotalAmt"] * rate, home)
    if with_balance:
        # Without multicurrency QBO still reports HomeBalance, equal to the balance.
        multicurrency = company.multicurrency_enabled
        txn["HomeBalance"] = round_home(txn["Balance"] * rate, home) if multicurrency else txn["Balance"]


def read_entity(company: Company, kind: str, entity_id: str) -> dict[str, Any]:
    """A live entity by Id, or 610."""
    record = company.of(kind).get(entity_id)
    if record is None or record.get("status") == "Deleted":
        raise not_found()
    return record


# ---- names -------------------------------------------------------------------------------------------------------
def _normalise_name(name: str, case_insensitive: bool) -> str:
    text = " ".join(name.split())
    return text.casefold() if case_insensitive else text


def name_holder(state: QboEmulatorState, company: Company, name: str, exclude_id: str | None = None) -> str | None:
    """The kind (Vendor/Customer/Employee) already holding a DisplayName, inactive records included (indexed)."""
    # The index is keyed case-insensitively, a superset of the case-sensitive answer; the switch decides below.
    wanted = _normalise_name(name, state.switches.names_case_insensitive)
    for kind, record in company.name_holders(name):
        if record["Id"] == exclude_id:
            continue
        if _normalise_name(str(record.get("DisplayName", "")), state.switches.names_case_insensitive) == wanted:
            return kind
    return None


def _check_name_fields(body: dict[str, Any]) -> None:
    for key, limit in NAME_LIMITS.items():
        value = body.get(key)
        if isinstance(value, str) and len(value) > limit:
            raise too_long(key, limit, len(value))
    for key in ("DisplayName", *NAME_PARTS[:4], "PrintOnCheckName"):
        value = body.get(key)
        if isinstance(value, str) and ":" in value:
            raise business(f"{key} cannot contain a colon (:).", key)
    email = body.get("PrimaryEmailAddr")
    if isinstance(email, dict) and email.get("Address"):
        address = str(email["Address"])
        if "@" not in address or "." not in address:
            raise EmulatedFault("2210", "Invalid Email Address Format", f"Invalid Email Address Format: {address}")


def create_name_entity(state: QboEmulatorState, company: Company, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create a Vendor, Customer or Employee per §4 (name rules, uniqueness, masking, currency)."""
    body = {key: value for key, value in body.items() if key not in ("Id", "SyncToken", "MetaData", "Balance")}
    if not any(str(body.get(key) or "").strip() for key in ("DisplayName", *NAME_PARTS)):
        raise EmulatedFault("6080", "No Name Provided", "No Name Provided : Please provide a name.")
    _check_name_fields(body)
    if not str(body.get("DisplayName") or "").strip():
        body["DisplayName"] = " ".join(str(body[key]) for key in NAME_PARTS if body.get(key))
    body["DisplayName"] = str(body["DisplayName"]).strip()
    if name_holder(state, company, body["DisplayName"]) is not None:
        raise duplicate_name()
    body.setdefault("PrintOnCheckName", body.get("CompanyName") or body["DisplayName"])
    currency = str((body.get("CurrencyRef") or {}).get("value") or company.home_currency).upper()
    if currency != company.home_currency and not company.multicurrency_enabled:
        raise business("Multicurrency is not enabled for this company.", "CurrencyRef")
    body["CurrencyRef"] = state.currency_ref(currency)
    if body.get("TaxIdentifier"):
        tax_id = str(body["TaxIdentifier"])
        body["TaxIdentifier"] = "X" * max(0, len(tax_id) - 4) + tax_id[-4:]
    if isinstance(body.get("BillAddr"), dict):
        body["BillAddr"] = {"Id": company.new_id(), **body["BillAddr"]}
    body.setdefault("Active", True)
    body["Balance"] = Decimal("0")
    body["MetaData"] = state.meta(company)
    record = state.add_entity(company, kind, body)
    if kind == "Vendor" and currency != company.home_currency:
        ensure_ap_account(state, company, currency)  # QBO opens an A/P account per currency a vendor brings (§18.4)
    return record


# ---- generic update, delete ----------------------------------------------------------------------------------------
def update_entity(state: QboEmulatorState, company: Company, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Full or sparse update with SyncToken checking (§3); CurrencyRef is create-only on names and accounts."""
    if kind in CREATE_ONLY_KINDS:
        raise unsupported(f"The emulator does not update a {kind}")
    existing = company.of(kind).get(str(body.get("Id")))
    if existing is None or existing.get("status") == "Deleted":
        raise not_found()
    if str(body.get("SyncToken", "")) != existing["SyncToken"]:
        raise stale_object()
    incoming = {key: value for key, value in body.items() if key not in ("SyncToken", "MetaData", "domain")}
    if kind in NAME_KINDS:
        _check_name_fields(incoming)
        incoming.pop("CurrencyRef", None)
        incoming.pop("Balance", None)
        if "DisplayName" in incoming and name_holder(state, company, str(incoming["DisplayName"]), existing["Id"]):
            raise duplicate_name()
    if kind == "Account":
        incoming.pop("CurrencyRef", None)
        if "Name" in incoming:
            incoming["FullyQualifiedName"] = check_account_name(
                company, {**existing, **incoming, "ParentRef": incoming.get("ParentRef", existing.get("ParentRef"))},
                existing["Id"],
            )  # fmt: skip
    if body.get("sparse"):
        updated = {**existing, **incoming}
    else:
        keep = {"Id", "domain", "MetaData", "CurrencyRef", "Balance", "DisplayName", "PrintOnCheckName"}
        updated = {key: value for key, value in existing.items() if key in keep} | incoming
    if kind in ("Bill", "VendorCredit"):
        updated = _purchase_computed(state, company, kind, updated, existing=existing)
    updated["sparse"] = False
    updated["SyncToken"] = str(int(existing["SyncToken"]) + 1)
    updated["MetaData"] = {**existing.get("MetaData", {}), "LastUpdatedTime": state.local_time(company)}
    company.store(kind, updated)
    return updated


def delete_entity(state: QboEmulatorState, company: Company, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Hard-delete a transaction or Attachable; name lists cannot be deleted, nor bills a payment is linked to."""
    if kind in NAME_KINDS or kind in ("Account", "TaxCode", "TaxRate", *TRACKING_KINDS):
        raise business(f"You cannot delete a {kind}. Make it inactive instead.")
    if kind in CREATE_ONLY_KINDS:
        raise unsupported(f"The emulator does not delete a {kind}")
    existing = company.of(kind).get(str(body.get("Id")))
    if existing is None or existing.get("status") == "Deleted":
        raise not_found()
    if str(body.get("SyncToken", "")) != existing["SyncToken"]:
        raise stale_object()
    if _payment_links(existing):
        raise business(f"This {kind} has payments linked to it. Unlink them before you delete it.")
    stub = {
        "status": "Deleted",
        "domain": "QBO",
        "Id": existing["Id"],
        "MetaData": {"LastUpdatedTime": state.local_time(company)},
    }
    company.store(kind, stub)
    return {"status": "Deleted", "domain": "QBO", "Id": existing["Id"]}


def _payment_links(txn: dict[str, Any]) -> list[dict[str, Any]]:
    return [link for link in txn.get("LinkedTxn") or [] if str(link.get("TxnType", "")).startswith("BillPayment")]


# ---- Bill and VendorCredit ---------------------------------------------------------------------------------------
def create_bill(
    state: QboEmulatorState, company: Company, body: dict[str, Any], *, allow_duplicate_docnumber: bool
) -> dict[str, Any]:
    """Validate and create a Bill per §5, §18 and checklist items 14-16, 27-29."""
    body = {key: value for key, value in body.items() if key not in ("Id", "SyncToken", "MetaData")}
    doc_number = body.get("DocNumber")
    if isinstance(doc_number, str) and doc_number:
        if len(doc_number) > 21:
            raise too_long("DocNumber", 21, len(doc_number))
        if state.switches.duplicate_docnumber_check and not allow_duplicate_docnumber:
            for other in company.bills_with_doc_number(doc_number):  # indexed: no scan of every bill (§18.6 #31)
                raise EmulatedFault(
                    "6140",
                    "Duplicate Document Number Error",
                    "Duplicate Document Number Error : You must specify a different number. This number has "
                    f"already been used. DocNumber={doc_number} is assigned to TxnType=Bill "
                    f"with TxnId={other['Id']}",
                    "DocNumber",
                )
    record = _purchase_computed(state, company, "Bill", body, existing=None)
    record["MetaData"] = state.meta(company)
    return state.add_entity(company, "Bill", record)


def create_vendor_credit(state: QboEmulatorState, company: Company, body: dict[str, Any]) -> dict[str, Any]:
    """Validate and create a VendorCredit (§18.2): a Bill's lines and rules, for money the vendor owes back."""
    body = {key: value for key, value in body.items() if key not in ("Id", "SyncToken", "MetaData")}
    doc_number = body.get("DocNumber")
    if isinstance(doc_number, str) and len(doc_number) > 21:
        raise too_long("DocNumber", 21, len(doc_number))
    record = _purchase_computed(state, company, "VendorCredit", body, existing=None)
    record["MetaData"] = state.meta(company)
    return state.add_entity(company, "VendorCredit", record)


def _purchase_computed(
    state: QboEmulatorState, company: Company, kind: str, body: dict[str, Any], *, existing: dict[str, Any] | None
) -> dict[str, Any]:
    txn = copy.deepcopy(body)
    if "VendorRef" not in txn:
        raise required("VendorRef")
    vendor = active_ref(company, "Vendor", txn["VendorRef"], "VendorRef")
    txn["VendorRef"] = {"value": vendor["Id"], "name": vendor["DisplayName"]}
    if "Line" not in txn or txn["Line"] is None:
        raise required("Line")
    if not isinstance(txn["Line"], list) or not txn["Line"]:
        raise EmulatedFault("2250", "Missing lines", "At least one line is required", "Line")
    if isinstance(txn.get("PrivateNote"), str) and len(txn["PrivateNote"]) > 4000:
        raise too_long("PrivateNote", 4000, len(txn["PrivateNote"]))
    currency, rate = txn_currency(state, company, txn, vendor)
    lines = _expense_lines(company, txn["Line"], currency)
    txn["Line"] = lines
    check_tracking_refs(company, txn, lines)
    subtotal = sum((line["Amount"] for line in lines), Decimal("0"))
    total = subtotal + _apply_tax(company, txn, lines, currency)
    if total < 0:
        noun = "bill" if kind == "Bill" else "vendor credit"
        raise business(f"The {noun} total {total} is negative. Record money the vendor owes you as a vendor credit.")
    ap_account = payable_account(state, company, txn.get("APAccountRef"), currency)
    txn["APAccountRef"] = {"value": ap_account["Id"], "name": ap_account["Name"]}
    today = state.now().astimezone(company.tz).date()
    date_of_txn = txn_date(txn.get("TxnDate"), "TxnDate") or today
    txn["TxnDate"] = date_of_txn.isoformat()
    if kind == "Bill":
        if not txn.get("DueDate"):
            txn["DueDate"] = (date_of_txn + timedelta(days=_term_days(company, txn, vendor))).isoformat()
        else:
            txn_date(txn["DueDate"], "DueDate")
    txn["TotalAmt"] = total
    txn["Balance"] = total
    txn.pop("HomeTotalAmt", None)
    if existing is not None:
        txn["Balance"] = _balance_after_update(existing, txn, total)
        if existing.get("LinkedTxn"):
            txn["LinkedTxn"] = copy.deepcopy(existing["LinkedTxn"])  # links are the server's, not the client's
    set_home_amounts(company, txn, rate)
    return txn


def _balance_after_update(existing: dict[str, Any], txn: dict[str, Any], total: Decimal) -> Decimal:
    paid = amount(existing.get("TotalAmt", 0)) - amount(existing.get("Balance", existing.get("TotalAmt", 0)))
    if paid and (
        txn["VendorRef"]["value"] != (existing.get("VendorRef") or {}).get("value")
        or txn["CurrencyRef"]["value"] != (existing.get("CurrencyRef") or {}).get("value")
    ):
        raise business("A paid transaction cannot change its vendor or currency.")
    if total - paid < 0:
        raise business(f"The new total {total} is less than the {paid} already paid or applied.")
    return total - paid


def _expense_lines(company: Company, raw_lines: list[Any], currency: str) -> list[dict[str, Any]]:
    lines = []
    for number, raw_line in enumerate(raw_lines, start=1):
        line = dict(raw_line) if isinstance(raw_line, dict) else {}
        if "Amount" not in line:
            raise required("Amount")
        line_amount = money_amount(line["Amount"], currency, "Amount")
        detail = line.get("AccountBasedExpenseLineDetail")
        if line.get("DetailType") != "AccountBasedExpenseLineDetail" or not isinstance(detail, dict):
            raise required("AccountBasedExpenseLineDetail")
        account = line_account(company, detail.get("AccountRef"))
        status = detail.get("BillableStatus", "NotBillable")
        if status not in ("Billable", "NotBillable", "HasBeenBilled"):
            raise invalid_enum(status, "BillableStatus")
        line_id = str(line.get("Id") or "")
        if not line_id.isdigit() or int(line_id) <= 0:
            line_id = str(number)
        line.update(
            {
                "Id": line_id,
                "LineNum": number,
                "Amount": line_amount,
                "AccountBasedExpenseLineDetail": {
                    **detail,
                    "AccountRef": {"value": account["Id"], "name": account.get("FullyQualifiedName", account["Name"])},
                    "BillableStatus": status,
                },
            }
        )
        lines.append(line)
    return lines


def _apply_tax(company: Company, txn: dict[str, Any], lines: list[dict[str, Any]], currency: str) -> Decimal:
    """Check tax codes (§18.3), fill TaxCodeRef and TxnTaxDetail; returns the tax to add to the lines' sum."""
    if company.country == "USA":
        if txn.get("GlobalTaxCalculation") is not None:
            raise business("GlobalTaxCalculation is not supported for companies in the United States.",
                           "GlobalTaxCalculation")  # fmt: skip
        for line in lines:
            detail = line["AccountBasedExpenseLineDetail"]
            pseudo_code = str((detail.get("TaxCodeRef") or {}).get("value") or "NON")
            if pseudo_code not in US_PSEUDO_CODES:
                raise invalid_reference("TaxCodeRef")
            detail["TaxCodeRef"] = {"value": pseudo_code}
        txn.pop("TxnTaxDetail", None)
        return Decimal("0")
    calculation = txn.get("GlobalTaxCalculation")
    if calculation is None:
        raise business(VAT_DETAIL, "GlobalTaxCalculation")
    if calculation not in GLOBAL_TAX_CALCULATIONS:
        raise invalid_enum(calculation, "GlobalTaxCalculation")
    bases: dict[str, Decimal] = {}
    codes: dict[str, dict[str, Any]] = {}
    for line in lines:
        detail = line["AccountBasedExpenseLineDetail"]
        ref = detail.get("TaxCodeRef")
        if not isinstance(ref, dict) or not ref.get("value"):
            raise business(VAT_DETAIL, "TaxCodeRef")
        code = active_ref(company, "TaxCode", ref, "TaxCodeRef")
        detail["TaxCodeRef"] = {"value": code["Id"], "name": code["Name"]}
        codes[code["Id"]] = code
        bases[code["Id"]] = bases.get(code["Id"], Decimal("0")) + line["Amount"]
    tax_lines = []
    total_tax = Decimal("0")
    for code_id, base in bases.items():
        rate = purchase_rate(company, codes[code_id])
        if calculation == "TaxExcluded":
            tax = (base * rate / 100).quantize(quantum(currency), rounding=ROUND_HALF_UP)
        elif calculation == "TaxInclusive":
            tax = (base * rate / (100 + rate)).quantize(quantum(currency), rounding=ROUND_HALF_UP)
        else:
            tax = Decimal("0")
        total_tax += tax
        rate_ref = purchase_rate_ref(codes[code_id])
        if rate_ref is not None:
            tax_lines.append({"Amount": tax, "DetailType": "TaxLineDetail",
                              "TaxLineDetail": {"TaxRateRef": rate_ref, "PercentBased": True, "TaxPercent": rate,
                                                "NetAmountTaxable": base}})  # fmt: skip
    txn["TxnTaxDetail"] = {"TotalTax": total_tax, "TaxLine": tax_lines}
    # With TaxInclusive the lines already hold the tax, so nothing is added to their sum.
    return total_tax if calculation == "TaxExcluded" else Decimal("0")


def _term_days(company: Company, bill: dict[str, Any], vendor: dict[str, Any]) -> int:
    ref = bill.get("SalesTermRef") or vendor.get("TermRef")
    if isinstance(ref, dict):
        term = company.of("Term").get(str(ref.get("value")))
        if term is not None:
            return int(term.get("DueDays", 0))
    return 0
