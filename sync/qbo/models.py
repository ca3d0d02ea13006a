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
    """One expense line of a Bill to create."""

    amount: Decimal
    account_id: str
    description: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The QBO JSON object to send."""
        line: dict[str, Any] = {
            "Amount": self.amount,
            "DetailType": "AccountBasedExpenseLineDetail",
            "AccountBasedExpenseLineDetail": {
                "AccountRef": {"value": self.account_id},
                "BillableStatus": "NotBillable",
            },
        }
        if self.description:
            line["Description"] = self.description[:4000]
        return line


@dataclass(frozen=True)
class BillDraft:
    """A Bill to create; amounts are Decimal, sent as exact JSON numbers."""

    vendor_id: str
    doc_number: str | None
    txn_date: date | None
    due_date: date | None
    currency: str | None
    exchange_rate: Decimal | None
    private_note: str | None
    lines: list[BillLineDraft] = field(default_factory=list)
    ap_account_id: str | None = None

    @property
    def total(self) -> Decimal:
        """The sum of the lines, as QBO will compute TotalAmt."""
        return sum((line.amount for line in self.lines), Decimal("0"))

    def to_wire(self) -> dict[str, Any]:
        """The QBO JSON object to send."""
        body: dict[str, Any] = {"VendorRef": {"value": self.vendor_id}}
        if self.ap_account_id:
            body["APAccountRef"] = {"value": self.ap_account_id}
        if self.txn_date:
            body["TxnDate"] = self.txn_date.isoformat()
        if self.due_date:
            body["DueDate"] = self.due_date.isoformat()
        if self.doc_number:
            body["DocNumber"] = self.doc_number
        if self.currency:
            body["CurrencyRef"] = {"value": self.currency}
        if self.exchange_rate is not None:
            body["ExchangeRate"] = self.exchange_rate
        if self.private_note:
            body["PrivateNote"] = self.private_note[:4000]
        body["Line"] = [line.to_wire() for line in self.lines]
        return body


@dataclass(frozen=True)
class Bill:
    """A Bill as QBO holds it."""

    id: str
    doc_number: str | None
    vendor_id: str
    total_amt: Decimal
    currency: str | None
    sync_token: str
    txn_date: str | None = None
    private_note: str | None = None
    exchange_rate: Decimal | None = None

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Bill:
        """Read the QBO JSON object."""
        rate = raw.get("ExchangeRate")
        return cls(
            id=str(raw["Id"]),
            doc_number=raw.get("DocNumber"),
            vendor_id=_ref_value(raw.get("VendorRef")) or "",
            total_amt=to_decimal(raw.get("TotalAmt", 0)),
            currency=_ref_value(raw.get("CurrencyRef")),
            sync_token=str(raw.get("SyncToken", "0")),
            txn_date=raw.get("TxnDate"),
            private_note=raw.get("PrivateNote"),
            exchange_rate=to_decimal(rate) if rate is not None else None,
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
