"""What the sync engine reads from Ontop: workers (contracts) and invoices, as typed, Decimal-exact dataclasses.

Wire names never appear here: the parsers in `sync/ontop/client.py` (documented API) and `sync/ontop/assumed.py`
(the assumed part) translate Ontop's JSON into these types. `RecordReader` is the shared strict/tolerant reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from sync.money import MoneyError, to_decimal

E = TypeVar("E", bound=StrEnum)


class OntopError(Exception):
    """Anything that went wrong talking to Ontop."""


class OntopAuthError(OntopError):
    """Ontop refused our credentials or token; the message can be shown to an admin as is (it holds no secret)."""


class OntopNotFoundError(OntopError):
    """Ontop answered 404 for a record."""


class OntopUnavailableError(OntopError):
    """Ontop kept failing with a transient error (5xx, 429, timeout) after every retry."""


class OntopRequestError(OntopError):
    """Ontop rejected a request with a 4xx other than 401/404/429 (not retried)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"Ontop answered {status_code}: {message}")
        self.status_code = status_code


class OntopDataError(OntopError):
    """A record from Ontop lacks a required field or holds an unreadable value; names the field and the record."""

    def __init__(self, record_kind: str, record_id: object, field_name: str, problem: str = "is missing") -> None:
        super().__init__(f"Ontop {record_kind} {record_id}: field '{field_name}' {problem}")
        self.record_kind = record_kind
        self.record_id = record_id
        self.field_name = field_name


class WorkerStatus(StrEnum):
    ACTIVE = "ACTIVE"
    INVITATION_SENT = "INVITATION_SENT"
    VERIFICATION_PENDING = "VERIFICATION_PENDING"
    ENDED = "ENDED"


class WorkerType(StrEnum):
    WORKER = "Worker"
    BUSINESS = "Business"


class InvoiceStatus(StrEnum):
    DRAFT = "DRAFT"
    PENDING = "PENDING"
    PAID = "PAID"
    CANCELLED = "CANCELLED"


# PAID never changes again; CANCELLED is final too (a correction is a new invoice that points back).
FINAL_INVOICE_STATUSES = frozenset({InvoiceStatus.PAID, InvoiceStatus.CANCELLED})


class Concept(StrEnum):
    """Invoice line concepts the reference knows; unknown codes are kept as plain strings."""

    COMPENSATION = "COMPENSATION"
    BONUS = "BONUS"
    COMMISSION = "COMMISSION"
    REIMBURSEMENT = "REIMBURSEMENT"
    FEE = "FEE"
    DEDUCTION = "DEDUCTION"


# How Ontop labels its concepts (B.5); shown to people, never used for mapping.
CONCEPT_LABELS: dict[str, str] = {
    "COMPENSATION": "Base compensation",
    "BONUS": "Bonus",
    "COMMISSION": "Commission",
    "REIMBURSEMENT": "Reimbursement",
    "FEE": "Client fees",
    "DEDUCTION": "Deduction",
}


def concept_label(concept: str) -> str:
    """Ontop's label for a concept code, or the code made readable ("HOLIDAY_PAY" → "Holiday pay")."""
    return CONCEPT_LABELS.get(concept, concept.replace("_", " ").capitalize())


def known_or_raw(enum: type[E], raw: str) -> E | str:
    """The enum member for `raw`, or `raw` itself when Ontop sent a value we do not know yet."""
    try:
        return enum(raw)
    except ValueError:
        return raw


@dataclass(frozen=True)
class Worker:
    """One Ontop agreement (a worker's contract with the company); one email may hold several."""

    agreement_id: int
    email: str | None
    status: WorkerStatus | str
    first_name: str | None = None
    last_name: str | None = None
    legal_name: str | None = None  # set for Business workers
    job_title: str | None = None
    country: str | None = None  # display name, e.g. "Argentina"
    external_id: str | None = None
    created_at: datetime | None = None
    # From the contract (assumed API); None when only the documented API is available.
    worker_type: WorkerType | str | None = None
    country_iso: str | None = None
    currency: str | None = None
    contract_type: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    # Ontop's webhook `worker_id` is not the agreement id and nothing maps them yet.
    worker_id: int | None = None

    @property
    def display_name(self) -> str | None:
        """Legal name for a business, else "First Last"; None for an invited worker with no name yet."""
        if self.legal_name:
            return self.legal_name
        parts = [part for part in (self.first_name, self.last_name) if part]
        return " ".join(parts) or None

    @property
    def is_ended(self) -> bool:
        return self.status == WorkerStatus.ENDED


@dataclass(frozen=True)
class InvoiceLine:
    concept: Concept | str
    description: str
    amount: Decimal
    concept_label: str | None = None
    amount_usd: Decimal | None = None
    quantity: Decimal | None = None
    unit_amount: Decimal | None = None
    line_number: int | None = None


@dataclass(frozen=True)
class Invoice:
    id: int
    number: str
    agreement_id: int | None
    worker_email: str | None
    status: InvoiceStatus | str
    currency: str
    total: Decimal
    lines: list[InvoiceLine]
    updated_at: datetime
    issue_date: date | None = None
    due_date: date | None = None
    paid_date: date | None = None
    period_start: date | None = None
    period_end: date | None = None
    external_id: str | None = None
    exchange_rate: Decimal | None = None  # units of `currency` per 1 USD
    usd_equivalent: Decimal | None = None  # null until PAID for non-USD invoices
    created_at: datetime | None = None
    notes: str | None = None
    corrects: int | None = None  # the invoice id this one replaces
    corrected_by: int | None = None  # the invoice id that replaced this one
    pdf_available: bool = False

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_INVOICE_STATUSES

    @property
    def is_billable(self) -> bool:
        """PAID or PENDING invoices become Bills; drafts and cancelled ones do not."""
        return self.status in (InvoiceStatus.PAID, InvoiceStatus.PENDING)


@dataclass
class RecordReader:
    """Reads one JSON object: unknown fields are ignored, a missing required one raises OntopDataError."""

    kind: str
    data: Mapping[str, Any]
    record_id: object = field(default="(no id)")

    def _present(self, name: str) -> Any:
        value = self.data.get(name)
        if value is None or value == "":
            raise OntopDataError(self.kind, self.record_id, name)
        return value

    def required_int(self, name: str) -> int:
        value = self._present(name)
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise OntopDataError(self.kind, self.record_id, name, f"is not an integer: {value!r}")
        try:
            return int(value)
        except ValueError as exc:
            raise OntopDataError(self.kind, self.record_id, name, f"is not an integer: {value!r}") from exc

    def optional_int(self, name: str) -> int | None:
        return None if self.data.get(name) is None else self.required_int(name)

    def required_str(self, name: str) -> str:
        return str(self._present(name))

    def optional_str(self, name: str) -> str | None:
        value = self.data.get(name)
        return None if value is None or value == "" else str(value)

    def required_decimal(self, name: str) -> Decimal:
        value = self._present(name)
        try:
            return to_decimal(value)
        except MoneyError as exc:
            raise OntopDataError(self.kind, self.record_id, name, f"is not a decimal amount: {value!r}") from exc

    def optional_decimal(self, name: str) -> Decimal | None:
        value = self.data.get(name)
        return None if value is None or value == "" else self.required_decimal(name)

    def required_datetime(self, name: str) -> datetime:
        value = self._present(name)
        try:
            return datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise OntopDataError(self.kind, self.record_id, name, f"is not a timestamp: {value!r}") from exc

    def optional_datetime(self, name: str) -> datetime | None:
        return None if not self.data.get(name) else self.required_datetime(name)

    def optional_date(self, name: str) -> date | None:
        value = self.data.get(name)
        if not value:
            return None
        try:
            return date.fromisoformat(str(value)[:10])
        except ValueError as exc:
            raise OntopDataError(self.kind, self.record_id, name, f"is not a date: {value!r}") from exc

    def optional_bool(self, name: str) -> bool:
        return bool(self.data.get(name))

    def required_list(self, name: str) -> list[Any]:
        value = self.data.get(name)
        if not isinstance(value, list):
            raise OntopDataError(self.kind, self.record_id, name, "is missing" if value is None else "is not a list")
        return value
