"""Business rules the QBO emulator enforces on Vendor/Customer/Employee, Bill and Attachable (reference §4-§7)."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from emulators.qbo.state import Company, QboEmulatorState
from emulators.wire import AmountError, amount, round_cents

NAME_KINDS = ("Vendor", "Customer", "Employee")
NAME_PARTS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
EXPENSE_TYPES = {"Expense", "Other Expense", "Cost of Goods Sold"}
INACTIVE_DETAIL = (
    "Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)
DUPLICATE_NAME_DETAIL = (
    "The name supplied already exists. : Another customer, vendor or employee is already using this name. "
    "Please use a different name."
)
NAME_LIMITS = {"DisplayName": 500, "Title": 16, "Suffix": 16, "GivenName": 100, "MiddleName": 100,
               "FamilyName": 100, "CompanyName": 100, "PrintOnCheckName": 100, "AcctNum": 100,
               "TaxIdentifier": 20, "Notes": 4000}  # fmt: skip


class EmulatedFault(Exception):
    """A QBO Fault the emulator answers with (HTTP 400 ValidationFault unless told otherwise)."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str,
        element: str = "",
        *,
        status: int = 400,
        fault_type: str = "ValidationFault",
    ) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.fault_type = fault_type

    def fault(self) -> dict[str, Any]:
        """The `Fault` object of the §13.1 envelope."""
        return {
            "Error": [{"Message": self.message, "Detail": self.detail, "code": self.code, "element": self.element}],
            "type": self.fault_type,
        }


def required(element: str) -> EmulatedFault:
    """2020: a required parameter is missing."""
    return EmulatedFault(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {element} is missing in the request",
        element,
    )


def too_long(element: str, maximum: int, supplied: int) -> EmulatedFault:
    """2050: a string is longer than QBO allows."""
    return EmulatedFault(
        "2050",
        "String length is either shorter or longer than supported by specification",
        f"String length specified does not match the supported length. Min:0 Max:{maximum} supported. "
        f"Supplied length:{supplied}",
        element,
    )


def business(detail: str, element: str = "") -> EmulatedFault:
    """6000: QBO's catch-all business validation error."""
    return EmulatedFault(
        "6000",
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element,
    )


def invalid_reference(element: str) -> EmulatedFault:
    """2500: a ref points at an unknown or inactive record."""
    return EmulatedFault("2500", "Invalid Reference Id", f"Invalid Reference Id : {INACTIVE_DETAIL}", element)


def not_found() -> EmulatedFault:
    """610: the object does not exist or is inactive."""
    return EmulatedFault("610", "Object Not Found", f"Object Not Found : {INACTIVE_DETAIL}")


def stale_object() -> EmulatedFault:
    """5010: the SyncToken is stale."""
    return EmulatedFault(
        "5010",
        "Stale Object Error",
        "Stale Object Error : You and root were working on this at the same time. "
        "root finished before you did, so your work was not saved.",
    )


def _normalise_name(name: str, case_insensitive: bool) -> str:
    text = " ".join(name.split())
    return text.casefold() if case_insensitive else text


def name_holder(state: QboEmulatorState, company: Company, name: str, exclude_id: str | None = None) -> str | None:
    """The kind (Vendor/Customer/Employee) already holding a DisplayName, inactive records included."""
    wanted = _normalise_name(name, state.switches.names_case_insensitive)
    for kind in NAME_KINDS:
        for record in company.of(kind).values():
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
        raise EmulatedFault("6240", "Duplicate Name Exists Error", DUPLICATE_NAME_DETAIL)
    body.setdefault("PrintOnCheckName", body.get("CompanyName") or body["DisplayName"])
    currency = (body.get("CurrencyRef") or {}).get("value") or company.home_currency
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
    return state.add_entity(company, kind, body)


def update_entity(state: QboEmulatorState, company: Company, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Full or sparse update with SyncToken checking (§3); CurrencyRef is create-only on names."""
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
            raise EmulatedFault("6240", "Duplicate Name Exists Error", DUPLICATE_NAME_DETAIL)
    if body.get("sparse"):
        updated = {**existing, **incoming}
    else:
        keep = {"Id", "domain", "MetaData", "CurrencyRef", "Balance", "DisplayName", "PrintOnCheckName"}
        updated = {key: value for key, value in existing.items() if key in keep} | incoming
    if kind == "Bill":
        updated = _bill_computed(state, company, updated, existing=existing)
    updated["sparse"] = False
    updated["SyncToken"] = str(int(existing["SyncToken"]) + 1)
    updated["MetaData"] = {**existing.get("MetaData", {}), "LastUpdatedTime": state.local_time(company)}
    company.of(kind)[existing["Id"]] = updated
    return updated


def delete_entity(state: QboEmulatorState, company: Company, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Hard-delete a transaction or Attachable; name lists cannot be deleted."""
    if kind in NAME_KINDS or kind == "Account":
        raise business(f"You cannot delete a {kind}. Make it inactive instead.")
    existing = company.of(kind).get(str(body.get("Id")))
    if existing is None or existing.get("status") == "Deleted":
        raise not_found()
    if str(body.get("SyncToken", "")) != existing["SyncToken"]:
        raise stale_object()
    stub = {
        "status": "Deleted",
        "domain": "QBO",
        "Id": existing["Id"],
        "MetaData": {"LastUpdatedTime": state.local_time(company)},
    }
    company.of(kind)[existing["Id"]] = stub
    return {"status": "Deleted", "domain": "QBO", "Id": existing["Id"]}


def read_entity(company: Company, kind: str, entity_id: str) -> dict[str, Any]:
    """A live entity by Id, or 610."""
    record = company.of(kind).get(entity_id)
    if record is None or record.get("status") == "Deleted":
        raise not_found()
    return record


def _active_ref(company: Company, kind: str, ref: Any, element: str) -> dict[str, Any]:
    if not isinstance(ref, dict) or not ref.get("value"):
        raise required(element)
    record = company.of(kind).get(str(ref["value"]))
    if record is None or record.get("status") == "Deleted" or not record.get("Active", True):
        raise invalid_reference(element)
    return record


def _ap_accounts(company: Company) -> list[dict[str, Any]]:
    return [
        account
        for account in company.of("Account").values()
        if account.get("AccountType") == "Accounts Payable" and account.get("Active", True)
    ]


def create_bill(
    state: QboEmulatorState, company: Company, body: dict[str, Any], *, allow_duplicate_docnumber: bool
) -> dict[str, Any]:
    """Validate and create a Bill per §5 and checklist items 14-16."""
    body = {key: value for key, value in body.items() if key not in ("Id", "SyncToken", "MetaData")}
    doc_number = body.get("DocNumber")
    if isinstance(doc_number, str) and doc_number:
        if len(doc_number) > 21:
            raise too_long("DocNumber", 21, len(doc_number))
        if state.switches.duplicate_docnumber_check and not allow_duplicate_docnumber:
            for other in company.of("Bill").values():
                if other.get("DocNumber") == doc_number and other.get("status") != "Deleted":
                    raise EmulatedFault(
                        "6140",
                        "Duplicate Document Number Error",
                        "Duplicate Document Number Error : You must specify a different number. This number has "
                        f"already been used. DocNumber={doc_number} is assigned to TxnType=Bill "
                        f"with TxnId={other['Id']}",
                        "DocNumber",
                    )
    record = _bill_computed(state, company, body, existing=None)
    record["MetaData"] = state.meta(company)
    return state.add_entity(company, "Bill", record)


def _bill_computed(
    state: QboEmulatorState, company: Company, body: dict[str, Any], *, existing: dict[str, Any] | None
) -> dict[str, Any]:
    bill = copy.deepcopy(body)
    if "VendorRef" not in bill:
        raise required("VendorRef")
    vendor = _active_ref(company, "Vendor", bill["VendorRef"], "VendorRef")
    bill["VendorRef"] = {"value": vendor["Id"], "name": vendor["DisplayName"]}
    if "Line" not in bill or bill["Line"] is None:
        raise required("Line")
    if not isinstance(bill["Line"], list) or not bill["Line"]:
        raise EmulatedFault("2250", "Missing lines", "At least one line is required", "Line")
    if isinstance(bill.get("PrivateNote"), str) and len(bill["PrivateNote"]) > 4000:
        raise too_long("PrivateNote", 4000, len(bill["PrivateNote"]))
    total = Decimal("0")
    lines = []
    for number, raw_line in enumerate(bill["Line"], start=1):
        line = dict(raw_line) if isinstance(raw_line, dict) else {}
        if "Amount" not in line:
            raise required("Amount")
        try:
            line_amount = amount(line["Amount"])
        except AmountError as exc:
            raise EmulatedFault("2040", "Invalid String", f"Invalid amount: {line['Amount']!r}", "Amount") from exc
        detail = line.get("AccountBasedExpenseLineDetail")
        if line.get("DetailType") != "AccountBasedExpenseLineDetail" or not isinstance(detail, dict):
            raise required("AccountBasedExpenseLineDetail")
        account = _active_ref(company, "Account", detail.get("AccountRef"), "AccountRef")
        if account.get("AccountType") not in EXPENSE_TYPES:
            raise business(f"Account {account['Name']} cannot be used on an expense line.", "AccountRef")
        status = detail.get("BillableStatus", "NotBillable")
        if status not in ("Billable", "NotBillable", "HasBeenBilled"):
            raise EmulatedFault("2170", "Invalid Enumeration", f"Invalid Enumeration : {status}", "BillableStatus")
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
                    "TaxCodeRef": detail.get("TaxCodeRef") or {"value": "NON"},
                },
            }
        )
        total += line_amount
        lines.append(line)
    bill["Line"] = lines
    if "APAccountRef" in bill:
        ap_account = _active_ref(company, "Account", bill["APAccountRef"], "APAccountRef")
        if ap_account.get("AccountType") != "Accounts Payable":
            raise business("APAccountRef must be an Accounts Payable account.", "APAccountRef")
    else:
        ap_accounts = _ap_accounts(company)
        if len(ap_accounts) != 1:
            raise required("APAccountRef")
        ap_account = ap_accounts[0]
    bill["APAccountRef"] = {"value": ap_account["Id"], "name": ap_account["Name"]}
    rate = _bill_currency(state, company, bill, vendor)
    today = state.now().astimezone(company.tz).date()
    txn_date = _date(bill.get("TxnDate"), "TxnDate") or today
    bill["TxnDate"] = txn_date.isoformat()
    if not bill.get("DueDate"):
        bill["DueDate"] = (txn_date + timedelta(days=_term_days(company, bill, vendor))).isoformat()
    else:
        _date(bill["DueDate"], "DueDate")
    bill["TotalAmt"] = total
    balance = total if existing is None else amount(existing.get("Balance", total))
    bill["Balance"] = balance
    bill["HomeBalance"] = round_cents(balance * rate)
    if bill["CurrencyRef"]["value"] != company.home_currency:
        bill["HomeTotalAmt"] = round_cents(total * rate)
    return bill


def _bill_currency(state: QboEmulatorState, company: Company, bill: dict[str, Any], vendor: dict[str, Any]) -> Decimal:
    home = company.home_currency
    vendor_currency = (vendor.get("CurrencyRef") or {}).get("value") or home
    sent = (bill.get("CurrencyRef") or {}).get("value")
    if company.multicurrency_enabled and not sent:
        raise required("CurrencyRef")
    currency = sent or home
    if not company.multicurrency_enabled and currency != home:
        raise business("Multicurrency is not enabled: you can only use the home currency.", "CurrencyRef")
    if currency not in (home, vendor_currency):
        raise business("You can only use one foreign currency per transaction.", "CurrencyRef")
    bill["CurrencyRef"] = state.currency_ref(currency)
    if currency == home:
        bill.pop("ExchangeRate", None)
        if company.multicurrency_enabled:
            bill["ExchangeRate"] = Decimal("1")
        return Decimal("1")
    if bill.get("ExchangeRate") in (None, 0, Decimal("0")):
        if state.switches.reject_missing_exchange_rate:
            raise EmulatedFault("2410", "Curreny, ExchangeRate is missing.", "Curreny, ExchangeRate is missing.")
        bill["ExchangeRate"] = Decimal("1")
    rate = amount(bill["ExchangeRate"])
    bill["ExchangeRate"] = rate
    return rate


def _term_days(company: Company, bill: dict[str, Any], vendor: dict[str, Any]) -> int:
    ref = bill.get("SalesTermRef") or vendor.get("TermRef")
    if isinstance(ref, dict):
        term = company.of("Term").get(str(ref.get("value")))
        if term is not None:
            return int(term.get("DueDays", 0))
    return 0


def _date(value: Any, element: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise EmulatedFault("2040", "Invalid String", f"Invalid date {value!r}", element) from exc
