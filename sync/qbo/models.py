"""Typed QBO wire models: what the sync reads from and writes to QuickBooks Online, money as Decimal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from sync.money import to_decimal

NameKind = Literal["Vendor", "Customer", "Employee"]
EXPENSE_ACCOUNT_TYPES = ("Expense", "Cost of Goods Sold", "Other Expense")


def _ref_value(raw: Any) -> str | None:
    return str(raw["value"]) if isinstance(raw, dict) and raw.get("value") is not None else None


def _email(raw: Any) -> str | None:
    return str(raw["Address"]) if isinstance(raw, dict) and raw.get("Address") else None


@dataclass(frozen=True)
class CompanyInfo:
    """The connected company: realm, name, home currency and whether multicurrency is on."""

    realm_id: str
    company_name: str
    home_currency: str
    multicurrency_enabled: bool
    country: str | None = None


@dataclass(frozen=True)
class Preferences:
    """The preferences that gate Bill creation."""

    home_currency: str
    multicurrency_enabled: bool
    class_tracking_per_line: bool = False
    department_tracking: bool = False
    class_tracking_per_txn: bool = False

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Preferences:
        """Read the QBO JSON object."""
        currency = raw.get("CurrencyPrefs") or {}
        accounting = raw.get("AccountingInfoPrefs") or {}
        return cls(
            home_currency=_ref_value(currency.get("HomeCurrency")) or "USD",
            multicurrency_enabled=bool(currency.get("MultiCurrencyEnabled", False)),
            class_tracking_per_line=bool(accounting.get("ClassTrackingPerLine", False)),
            department_tracking=bool(accounting.get("TrackDepartments", False)),
            class_tracking_per_txn=bool(accounting.get("ClassTrackingPerTxn", False)),
        )


@dataclass(frozen=True)
class TrackingRef:
    """A Class or a Department (location): a name list entry a bill line or a bill may point at (§6.2)."""

    id: str
    name: str
    fully_qualified_name: str
    active: bool

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> TrackingRef:
        """Read the QBO JSON object."""
        return cls(
            id=str(raw["Id"]),
            name=str(raw.get("Name", "")),
            fully_qualified_name=str(raw.get("FullyQualifiedName") or raw.get("Name", "")),
            active=bool(raw.get("Active", True)),
        )


@dataclass(frozen=True)
class Account:
    """A chart-of-accounts entry."""

    id: str
    name: str
    fully_qualified_name: str
    account_type: str
    account_sub_type: str
    classification: str
    active: bool
    currency: str | None

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Account:
        """Read the QBO JSON object."""
        return cls(
            id=str(raw["Id"]),
            name=str(raw.get("Name", "")),
            fully_qualified_name=str(raw.get("FullyQualifiedName") or raw.get("Name", "")),
            account_type=str(raw.get("AccountType", "")),
            account_sub_type=str(raw.get("AccountSubType", "")),
            classification=str(raw.get("Classification", "")),
            active=bool(raw.get("Active", True)),
            currency=_ref_value(raw.get("CurrencyRef")),
        )

    @property
    def is_expense(self) -> bool:
        """Whether a Bill expense line may use this account."""
        return self.account_type in EXPENSE_ACCOUNT_TYPES


@dataclass(frozen=True)
class Vendor:
    """A QBO supplier."""

    id: str
    display_name: str
    company_name: str | None
    email: str | None
    active: bool
    currency: str | None
    sync_token: str

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Vendor:
        """Read the QBO JSON object."""
        return cls(
            id=str(raw["Id"]),
            display_name=str(raw.get("DisplayName", "")),
            company_name=raw.get("CompanyName"),
            email=_email(raw.get("PrimaryEmailAddr")),
            active=bool(raw.get("Active", True)),
            currency=_ref_value(raw.get("CurrencyRef")),
            sync_token=str(raw.get("SyncToken", "0")),
        )


@dataclass(frozen=True)
class Address:
    """A postal address (BillAddr)."""

    line1: str | None = None
    city: str | None = None
    country_sub_division_code: str | None = None
    postal_code: str | None = None
    country: str | None = None

    def to_wire(self) -> dict[str, str]:
        """The QBO JSON object to send."""
        pairs = {
            "Line1": self.line1,
            "City": self.city,
            "CountrySubDivisionCode": self.country_sub_division_code,
            "PostalCode": self.postal_code,
            "Country": self.country,
        }
        return {key: value for key, value in pairs.items() if value}


@dataclass(frozen=True)
class NewVendor:
    """A vendor to create. QBO forbids ':' , tabs and newlines in names; they are cleaned before sending."""

    display_name: str
    given_name: str | None = None
    family_name: str | None = None
    company_name: str | None = None
    email: str | None = None
    address: Address | None = None
    currency: str | None = None
    notes: str | None = None
    vendor_1099: bool | None = None
    acct_num: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The QBO JSON object to send."""
        body: dict[str, Any] = {"DisplayName": clean_name(self.display_name)}
        body["PrintOnCheckName"] = clean_name(self.company_name or self.display_name)[:100]
        if self.given_name:
            body["GivenName"] = clean_name(self.given_name)[:100]
        if self.family_name:
            body["FamilyName"] = clean_name(self.family_name)[:100]
        if self.company_name:
            body["CompanyName"] = self.company_name[:100]
        if self.email:
            body["PrimaryEmailAddr"] = {"Address": self.email}
        if self.address is not None and self.address.to_wire():
            body["BillAddr"] = self.address.to_wire()
        if self.currency:
            body["CurrencyRef"] = {"value": self.currency}
        if self.notes:
            body["Notes"] = self.notes[:4000]
        if self.vendor_1099 is not None:
            body["Vendor1099"] = self.vendor_1099
        if self.acct_num:
            body["AcctNum"] = self.acct_num[:100]
        return body


def clean_name(name: str) -> str:
    """Make a name acceptable to QBO: no ':' , tabs or newlines, single spaces, trimmed."""
    return " ".join(name.replace(":", " ").split())


@dataclass(frozen=True)
class BillLineDraft:
    """One expense line of a Bill (or VendorCredit) to create; `tax_code_id` is required by non-US companies."""

    amount: Decimal
    account_id: str
    description: str | None = None
    tax_code_id: str | None = None
    class_id: str | None = None  # only sent when the company tracks classes per line (§5)

    def to_wire(self) -> dict[str, Any]:
        """The QBO JSON object to send."""
        detail: dict[str, Any] = {"AccountRef": {"value": self.account_id}, "BillableStatus": "NotBillable"}
        if self.tax_code_id:
            detail["TaxCodeRef"] = {"value": self.tax_code_id}
        if self.class_id:
            detail["ClassRef"] = {"value": self.class_id}
        line: dict[str, Any] = {
            "Amount": self.amount,
            "DetailType": "AccountBasedExpenseLineDetail",
            "AccountBasedExpenseLineDetail": detail,
        }
        if self.description:
            line["Description"] = self.description[:4000]
        return line


def _purchase_wire(
    *,
    vendor_id: str,
    ap_account_id: str | None,
    txn_date: date | None,
    due_date: date | None,
    doc_number: str | None,
    currency: str | None,
    exchange_rate: Decimal | None,
    private_note: str | None,
    global_tax_calculation: str | None,
    lines: list[BillLineDraft],
    department_id: str | None = None,
) -> dict[str, Any]:
    """The fields a Bill and a VendorCredit share, sent only when set."""
    body: dict[str, Any] = {"VendorRef": {"value": vendor_id}}
    if ap_account_id:
        body["APAccountRef"] = {"value": ap_account_id}
    if txn_date:
        body["TxnDate"] = txn_date.isoformat()
    if due_date:
        body["DueDate"] = due_date.isoformat()
    if doc_number:
        body["DocNumber"] = doc_number
    if currency:
        body["CurrencyRef"] = {"value": currency}
    if exchange_rate is not None:
        body["ExchangeRate"] = exchange_rate
    if private_note:
        body["PrivateNote"] = private_note[:4000]
    if global_tax_calculation:
        body["GlobalTaxCalculation"] = global_tax_calculation
    if department_id:
        body["DepartmentRef"] = {"value": department_id}
    body["Line"] = [line.to_wire() for line in lines]
    return body


def _optional_decimal(raw: Any) -> Decimal | None:
    return to_decimal(raw) if raw is not None else None


def _linked_ids(raw: Any, txn_type: str, *, prefix: bool = False) -> tuple[str, ...]:
    """Ids of the LinkedTxn entries of a TxnType (or, with `prefix`, whose TxnType starts with it)."""
    links = raw if isinstance(raw, list) else []
    return tuple(
        str(link["TxnId"])
        for link in links
        if isinstance(link, dict)
        and link.get("TxnId")
        and (str(link.get("TxnType", "")).startswith(txn_type) if prefix else link.get("TxnType") == txn_type)
    )


@dataclass(frozen=True)
class BillDraft:
    """A Bill to create; amounts are Decimal, sent as exact JSON numbers.

    Non-US companies need `global_tax_calculation` ("TaxExcluded", "TaxInclusive" or "NotApplicable") and a tax
    code on every line; US companies must leave it None.
    """

    vendor_id: str
    doc_number: str | None
    txn_date: date | None
    due_date: date | None
    currency: str | None
    exchange_rate: Decimal | None
    private_note: str | None
    lines: list[BillLineDraft] = field(default_factory=list)
    ap_account_id: str | None = None
    global_tax_calculation: str | None = None
    department_id: str | None = None  # the location (DepartmentRef), only sent when the company tracks locations

    @property
    def total(self) -> Decimal:
        """The sum of the lines, as QBO will compute TotalAmt (before any tax added by TaxExcluded)."""
        return sum((line.amount for line in self.lines), Decimal("0"))

    def to_wire(self) -> dict[str, Any]:
        """The QBO JSON object to send."""
        return _purchase_wire(
            vendor_id=self.vendor_id,
            ap_account_id=self.ap_account_id,
            txn_date=self.txn_date,
            due_date=self.due_date,
            doc_number=self.doc_number,
            currency=self.currency,
            exchange_rate=self.exchange_rate,
            private_note=self.private_note,
            global_tax_calculation=self.global_tax_calculation,
            lines=self.lines,
            department_id=self.department_id,
        )


@dataclass(frozen=True)
class Bill:
    """A Bill as QBO holds it; the home amounts are present only in multicurrency companies."""

    id: str
    doc_number: str | None
    vendor_id: str
    total_amt: Decimal
    currency: str | None
    sync_token: str
    txn_date: str | None = None
    private_note: str | None = None
    exchange_rate: Decimal | None = None
    balance: Decimal | None = None
    home_total: Decimal | None = None
    home_balance: Decimal | None = None
    linked_payments: tuple[str, ...] = ()
    ap_account_id: str | None = None  # the A/P account the bill credits (its payment must debit the same one)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Bill:
        """Read the QBO JSON object."""
        return cls(
            id=str(raw["Id"]),
            doc_number=raw.get("DocNumber"),
            vendor_id=_ref_value(raw.get("VendorRef")) or "",
            total_amt=to_decimal(raw.get("TotalAmt", 0)),
            currency=_ref_value(raw.get("CurrencyRef")),
            sync_token=str(raw.get("SyncToken", "0")),
            txn_date=raw.get("TxnDate"),
            private_note=raw.get("PrivateNote"),
            exchange_rate=_optional_decimal(raw.get("ExchangeRate")),
            balance=_optional_decimal(raw.get("Balance")),
            home_total=_optional_decimal(raw.get("HomeTotalAmt")),
            home_balance=_optional_decimal(raw.get("HomeBalance")),
            linked_payments=_linked_ids(raw.get("LinkedTxn"), "BillPayment", prefix=True),
            ap_account_id=_ref_value(raw.get("APAccountRef")),
        )


@dataclass(frozen=True)
class VendorCreditDraft:
    """A VendorCredit to create: money a supplier owes back (a negative invoice), lines as positive amounts."""

    vendor_id: str
    doc_number: str | None
    txn_date: date | None
    currency: str | None
    exchange_rate: Decimal | None
    private_note: str | None
    lines: list[BillLineDraft] = field(default_factory=list)
    ap_account_id: str | None = None
    global_tax_calculation: str | None = None
    department_id: str | None = None  # the location (DepartmentRef), only sent when the company tracks locations

    @property
    def total(self) -> Decimal:
        """The sum of the lines, as QBO will compute TotalAmt (before any tax added by TaxExcluded)."""
        return sum((line.amount for line in self.lines), Decimal("0"))

    def to_wire(self) -> dict[str, Any]:
        """The QBO JSON object to send."""
        return _purchase_wire(
            vendor_id=self.vendor_id,
            ap_account_id=self.ap_account_id,
            txn_date=self.txn_date,
            due_date=None,
            doc_number=self.doc_number,
            currency=self.currency,
            exchange_rate=self.exchange_rate,
            private_note=self.private_note,
            global_tax_calculation=self.global_tax_calculation,
            lines=self.lines,
            department_id=self.department_id,
        )


@dataclass(frozen=True)
class VendorCredit:
    """A VendorCredit as QBO holds it; `balance` is what is left to apply to bills."""

    id: str
    doc_number: str | None
    vendor_id: str
    total_amt: Decimal
    balance: Decimal | None
    currency: str | None
    sync_token: str
    txn_date: str | None = None
    private_note: str | None = None
    exchange_rate: Decimal | None = None
    home_total: Decimal | None = None
    home_balance: Decimal | None = None
    linked_payments: tuple[str, ...] = ()

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> VendorCredit:
        """Read the QBO JSON object."""
        return cls(
            id=str(raw["Id"]),
            doc_number=raw.get("DocNumber"),
            vendor_id=_ref_value(raw.get("VendorRef")) or "",
            total_amt=to_decimal(raw.get("TotalAmt", 0)),
            balance=_optional_decimal(raw.get("Balance")),
            currency=_ref_value(raw.get("CurrencyRef")),
            sync_token=str(raw.get("SyncToken", "0")),
            txn_date=raw.get("TxnDate"),
            private_note=raw.get("PrivateNote"),
            exchange_rate=_optional_decimal(raw.get("ExchangeRate")),
            home_total=_optional_decimal(raw.get("HomeTotalAmt")),
            home_balance=_optional_decimal(raw.get("HomeBalance")),
            linked_payments=_linked_ids(raw.get("LinkedTxn"), "BillPayment", prefix=True),
        )


PayType = Literal["Check", "CreditCard"]
LinkedTxnType = Literal["Bill", "VendorCredit"]


@dataclass(frozen=True)
class BillPaymentLine:
    """One line of a payment: an amount paid to a Bill, or an amount of a VendorCredit applied to the payment."""

    txn_id: str
    amount: Decimal
    txn_type: LinkedTxnType = "Bill"

    def to_wire(self) -> dict[str, Any]:
        """The QBO JSON object to send."""
        return {"Amount": self.amount, "LinkedTxn": [{"TxnId": self.txn_id, "TxnType": self.txn_type}]}


@dataclass(frozen=True)
class BillPaymentDraft:
    """A BillPayment to create, paid from a Bank account (Check) or a Credit Card account (CreditCard).

    In a multicurrency company `currency` is the vendor's and `exchange_rate` is home units per unit of it.
    """

    vendor_id: str
    pay_type: PayType
    account_id: str
    txn_date: date | None
    lines: list[BillPaymentLine] = field(default_factory=list)
    currency: str | None = None
    exchange_rate: Decimal | None = None
    doc_number: str | None = None
    private_note: str | None = None
    ap_account_id: str | None = None

    @property
    def total(self) -> Decimal:
        """TotalAmt: the bills paid less the vendor credits applied (credit lines carry positive amounts)."""
        paid = sum((line.amount for line in self.lines if line.txn_type == "Bill"), Decimal("0"))
        credited = sum((line.amount for line in self.lines if line.txn_type == "VendorCredit"), Decimal("0"))
        return paid - credited

    def to_wire(self) -> dict[str, Any]:
        """The QBO JSON object to send."""
        body: dict[str, Any] = {"VendorRef": {"value": self.vendor_id}, "PayType": self.pay_type}
        if self.pay_type == "Check":
            body["CheckPayment"] = {"BankAccountRef": {"value": self.account_id}, "PrintStatus": "NotSet"}
        else:
            body["CreditCardPayment"] = {"CCAccountRef": {"value": self.account_id}}
        if self.ap_account_id:
            body["APAccountRef"] = {"value": self.ap_account_id}
        if self.txn_date:
            body["TxnDate"] = self.txn_date.isoformat()
        if self.doc_number:
            body["DocNumber"] = self.doc_number
        if self.currency:
            body["CurrencyRef"] = {"value": self.currency}
        if self.exchange_rate is not None:
            body["ExchangeRate"] = self.exchange_rate
        if self.private_note:
            body["PrivateNote"] = self.private_note[:4000]
        body["TotalAmt"] = self.total
        body["Line"] = [line.to_wire() for line in self.lines]
        return body


@dataclass(frozen=True)
class BillPayment:
    """A BillPayment as QBO holds it."""

    id: str
    vendor_id: str
    pay_type: str
    account_id: str | None
    total: Decimal
    currency: str | None
    sync_token: str
    txn_date: str | None = None
    exchange_rate: Decimal | None = None
    home_total: Decimal | None = None
    doc_number: str | None = None
    private_note: str | None = None
    bill_ids: tuple[str, ...] = ()
    vendor_credit_ids: tuple[str, ...] = ()

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> BillPayment:
        """Read the QBO JSON object."""
        links = [link for line in raw.get("Line") or [] for link in (line.get("LinkedTxn") or [])]
        account = (raw.get("CheckPayment") or {}).get("BankAccountRef") or (raw.get("CreditCardPayment") or {}).get(
            "CCAccountRef"
        )
        return cls(
            id=str(raw["Id"]),
            vendor_id=_ref_value(raw.get("VendorRef")) or "",
            pay_type=str(raw.get("PayType", "")),
            account_id=_ref_value(account),
            total=to_decimal(raw.get("TotalAmt", 0)),
            currency=_ref_value(raw.get("CurrencyRef")),
            sync_token=str(raw.get("SyncToken", "0")),
            txn_date=raw.get("TxnDate"),
            exchange_rate=_optional_decimal(raw.get("ExchangeRate")),
            home_total=_optional_decimal(raw.get("HomeTotalAmt")),
            doc_number=raw.get("DocNumber"),
            private_note=raw.get("PrivateNote"),
            bill_ids=_linked_ids(links, "Bill"),
            vendor_credit_ids=_linked_ids(links, "VendorCredit"),
        )


@dataclass(frozen=True)
class TaxCode:
    """A sales/purchase tax code; `rate` is the purchase percent when QBO's TaxRate entities say it."""

    id: str
    name: str
    active: bool
    taxable: bool
    rate: Decimal | None = None
    description: str | None = None

    @classmethod
    def from_wire(cls, raw: dict[str, Any], rates: dict[str, Decimal]) -> TaxCode:
        """Read the QBO JSON object; `rates` maps TaxRate Id -> RateValue (percent)."""
        details = (raw.get("PurchaseTaxRateList") or {}).get("TaxRateDetail") or []
        known = [rates[ref] for ref in (_ref_value(d.get("TaxRateRef")) for d in details) if ref in rates]
        return cls(
            id=str(raw["Id"]),
            name=str(raw.get("Name", "")),
            active=bool(raw.get("Active", True)),
            taxable=bool(raw.get("Taxable", False)),
            rate=sum(known, Decimal("0")) if known and len(known) == len(details) else None,
            description=raw.get("Description"),
        )


@dataclass(frozen=True)
class Attachable:
    """A file attached to a QBO entity."""

    id: str
    file_name: str | None
    content_type: str | None
    size: int | None
    entity_refs: list[tuple[str, str]]
    sync_token: str = "0"

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Attachable:
        """Read the QBO JSON object."""
        refs = []
        for item in raw.get("AttachableRef") or []:
            entity = item.get("EntityRef") or {}
            refs.append((str(entity.get("type", "")), str(entity.get("value", ""))))
        size = raw.get("Size")
        return cls(
            id=str(raw["Id"]),
            file_name=raw.get("FileName"),
            content_type=raw.get("ContentType"),
            size=int(size) if size is not None else None,
            entity_refs=refs,
            sync_token=str(raw.get("SyncToken", "0")),
        )
