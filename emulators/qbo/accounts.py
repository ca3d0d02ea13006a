"""Accounts (reference §6.1, §18.4): create rules, which accounts a line or payment may use, A/P per currency."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from emulators.qbo.faults import (
    DUPLICATE_ACCOUNT_DETAIL,
    EmulatedFault,
    active_ref,
    business,
    duplicate_name,
    invalid_enum,
    invalid_reference,
    required,
    too_long,
)
from emulators.qbo.state import Company, QboEmulatorState, unique_key

# AccountType -> (Classification, default AccountSubType)
ACCOUNT_TYPES: dict[str, tuple[str, str]] = {
    "Bank": ("Asset", "Checking"),
    "Accounts Receivable": ("Asset", "AccountsReceivable"),
    "Other Current Asset": ("Asset", "OtherCurrentAssets"),
    "Fixed Asset": ("Asset", "OtherFixedAssets"),
    "Other Asset": ("Asset", "OtherLongTermAssets"),
    "Accounts Payable": ("Liability", "AccountsPayable"),
    "Credit Card": ("Liability", "CreditCard"),
    "Other Current Liability": ("Liability", "OtherCurrentLiabilities"),
    "Long Term Liability": ("Liability", "OtherLongTermLiabilities"),
    "Equity": ("Equity", "OwnersEquity"),
    "Income": ("Revenue", "ServiceFeeIncome"),
    "Other Income": ("Revenue", "OtherMiscellaneousIncome"),
    "Cost of Goods Sold": ("Expense", "SuppliesMaterialsCogs"),
    "Expense": ("Expense", "OtherMiscellaneousServiceCost"),
    "Other Expense": ("Expense", "OtherMiscellaneousExpense"),
}
# Sub-types checked for the account types a payment or bill depends on; other types accept any sub-type.
SUB_TYPES: dict[str, set[str]] = {
    "Bank": {"CashOnHand", "Checking", "MoneyMarket", "RentsHeldInTrust", "Savings", "TrustAccounts",
             "CashAndCashEquivalents", "OtherEarMarkedBankAccounts"},
    "Credit Card": {"CreditCard"},
    "Accounts Payable": {"AccountsPayable", "OutstandingExpenses"},
}  # fmt: skip
# §6.1: the types a bill's category line may use (the three expense types plus balance-sheet accounts, not A/R, A/P).
LINE_ACCOUNT_TYPES = {"Expense", "Other Expense", "Cost of Goods Sold", "Other Current Asset", "Other Asset",
                      "Fixed Asset", "Other Current Liability", "Long Term Liability"}  # fmt: skip
# §18.4: income and expense accounts are always in the home currency; balance-sheet accounts have one currency each.
FOREIGN_CURRENCY_TYPES = {"Bank", "Accounts Receivable", "Other Current Asset", "Fixed Asset", "Other Asset",
                          "Accounts Payable", "Credit Card", "Other Current Liability",
                          "Long Term Liability"}  # fmt: skip
ACCOUNT_LIMITS = {"Name": 100, "Description": 100}


def account_currency(company: Company, account: dict[str, Any]) -> str:
    """An account's currency (the home currency when the record carries none)."""
    return str((account.get("CurrencyRef") or {}).get("value") or company.home_currency)


def line_account(company: Company, ref: Any) -> dict[str, Any]:
    """The account of a bill or vendor-credit line: active, and of a type QBO allows on a category line."""
    account = active_ref(company, "Account", ref, "AccountRef")
    if account.get("AccountType") not in LINE_ACCOUNT_TYPES:
        raise business(f"Account {account['Name']} cannot be used on an expense line.", "AccountRef")
    return account


def payable_account(state: QboEmulatorState, company: Company, ref: Any, currency: str) -> dict[str, Any]:
    """The A/P account of a transaction: the one sent (an A/P account in its currency) or that currency's own."""
    if ref is None:
        return ap_account_for(state, company, currency)
    account = active_ref(company, "Account", ref, "APAccountRef")
    if account.get("AccountType") != "Accounts Payable":
        raise business("APAccountRef must be an Accounts Payable account.", "APAccountRef")
    if account_currency(company, account) != currency:
        raise business(
            f"The A/P account {account['Name']} is in {account_currency(company, account)}; a {currency} "
            f"transaction needs an A/P account in its own currency ({currency}).",
            "APAccountRef",
        )
    return account


def ap_account_for(state: QboEmulatorState, company: Company, currency: str) -> dict[str, Any]:
    """The active A/P account in a currency, created when the company has none (as QBO does per currency)."""
    found = [
        account
        for account in company.of("Account").values()
        if account.get("AccountType") == "Accounts Payable"
        and account.get("Active", True)
        and account_currency(company, account) == currency
    ]
    if len(found) == 1:
        return found[0]
    if found:
        raise required("APAccountRef")  # several A/P accounts in that currency: QBO cannot pick one
    return _new_ap_account(state, company, currency)


def ensure_ap_account(state: QboEmulatorState, company: Company, currency: str) -> None:
    """Give a multicurrency company an A/P account in a currency a new vendor uses, if it has none yet."""
    if not company.multicurrency_enabled:
        return
    has_one = any(
        account.get("AccountType") == "Accounts Payable" and account_currency(company, account) == currency
        for account in company.of("Account").values()
    )
    if not has_one:
        _new_ap_account(state, company, currency)


def _new_ap_account(state: QboEmulatorState, company: Company, currency: str) -> dict[str, Any]:
    name = "Accounts Payable (A/P)" if currency == company.home_currency else f"Accounts Payable ({currency})"
    taken = {unique_key(str(account.get("FullyQualifiedName") or account.get("Name"))) for account in
             company.of("Account").values()}  # fmt: skip
    base, number = name, 2
    while unique_key(name) in taken:
        name, number = f"{base} {number}", number + 1
    return state.add_entity(company, "Account", _account_record(state, company, name, "Accounts Payable",
                                                                  "AccountsPayable", currency))  # fmt: skip


def _account_record(
    state: QboEmulatorState, company: Company, name: str, account_type: str, sub_type: str, currency: str
) -> dict[str, Any]:
    return {
        "Name": name,
        "FullyQualifiedName": name,
        "AccountType": account_type,
        "AccountSubType": sub_type,
        "Classification": ACCOUNT_TYPES[account_type][0],
        "Active": True,
        "SubAccount": False,
        "CurrentBalance": Decimal("0"),
        "CurrentBalanceWithSubAccounts": Decimal("0"),
        "CurrencyRef": state.currency_ref(currency),
        "MetaData": state.meta(company),
    }


def check_account_name(company: Company, body: dict[str, Any], exclude_id: str | None = None) -> str:
    """Validate Name/AcctNum/Description (§6.1) and the name's uniqueness; returns the FullyQualifiedName."""
    for key, limit in ACCOUNT_LIMITS.items():
        value = body.get(key)
        if isinstance(value, str) and len(value) > limit:
            raise too_long(key, limit, len(value))
    name = str(body.get("Name") or "").strip()
    if not name:
        raise required("Name")
    if '"' in name or ":" in name:
        raise business('An account name cannot contain a double quote (") or a colon (:).', "Name")
    acct_num = body.get("AcctNum")
    if isinstance(acct_num, str) and acct_num:
        if ":" in acct_num:
            raise business("An account number cannot contain a colon (:).", "AcctNum")
        limit = 7 if company.country in ("USA", "GBR", "IND") else 20
        if len(acct_num) > limit:
            raise too_long("AcctNum", limit, len(acct_num))
    full_name = name
    parent_ref = body.get("ParentRef")
    if isinstance(parent_ref, dict) and parent_ref.get("value"):
        parent = company.of("Account").get(str(parent_ref["value"]))
        if parent is None:
            raise invalid_reference("ParentRef")
        full_name = f"{parent.get('FullyQualifiedName') or parent['Name']}:{name}"
    wanted = unique_key(full_name)
    for account in company.of("Account").values():  # a chart of accounts is small; no index needed
        if account["Id"] != exclude_id and unique_key(str(account.get("FullyQualifiedName") or "")) == wanted:
            raise duplicate_name(DUPLICATE_ACCOUNT_DETAIL)
    return full_name


def create_account(state: QboEmulatorState, company: Company, body: dict[str, Any]) -> dict[str, Any]:
    """POST /account: name rules, type and sub-type, currency (multicurrency, balance-sheet types only)."""
    body = {key: value for key, value in body.items() if key not in ("Id", "SyncToken", "MetaData")}
    full_name = check_account_name(company, body)
    account_type = body.get("AccountType")
    if not account_type:
        raise required("AccountType")
    if account_type not in ACCOUNT_TYPES:
        raise invalid_enum(account_type, "AccountType")
    classification, default_sub_type = ACCOUNT_TYPES[account_type]
    sub_type = body.get("AccountSubType") or default_sub_type
    if account_type in SUB_TYPES and sub_type not in SUB_TYPES[account_type]:
        raise invalid_enum(sub_type, "AccountSubType")
    currency = str((body.get("CurrencyRef") or {}).get("value") or company.home_currency).upper()
    if currency != company.home_currency:
        if not company.multicurrency_enabled:
            raise business("Multicurrency is not enabled: an account must be in the home currency.", "CurrencyRef")
        if account_type not in FOREIGN_CURRENCY_TYPES:
            raise business(f"A {account_type} account is always in the home currency.", "CurrencyRef")
    record = {
        **body,
        **_account_record(state, company, str(body["Name"]).strip(), account_type, sub_type, currency),
        "FullyQualifiedName": full_name,
        "Classification": classification,
        "Active": bool(body.get("Active", True)),
        "SubAccount": full_name != str(body["Name"]).strip(),
    }
    return state.add_entity(company, "Account", record)


def pay_from_account(company: Company, payment: dict[str, Any], pay_type: str) -> tuple[dict[str, Any], str]:
    """The Bank (Check) or Credit Card account a payment is paid from, and the detail object it sits in."""
    detail_key, ref_key, wanted = (
        ("CheckPayment", "BankAccountRef", "Bank") if pay_type == "Check" else ("CreditCardPayment", "CCAccountRef",
                                                                                 "Credit Card")
    )  # fmt: skip
    detail = payment.get(detail_key)
    if not isinstance(detail, dict):
        raise required(detail_key)
    account = active_ref(company, "Account", detail.get(ref_key), ref_key)
    if account.get("AccountType") != wanted:
        raise EmulatedFault(
            "6000",
            "A business validation error has occurred while processing your request",
            f"Business Validation Error: A {pay_type} payment must be paid from a {wanted} account; "
            f"{account['Name']} is a {account.get('AccountType')} account.",
            ref_key,
        )
    return account, detail_key
