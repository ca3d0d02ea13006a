"""Part B of the Ontop reference: everything this project ASSUMES because Ontop does not publish it.

Paths, JSON names, enums and the webhook signature of the assumed surface live here and nowhere else, so adopting
Ontop's real endpoints later touches this one file. See ../shared/reference/ontop-api.md, Part B.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sync.ontop.models import (
    Concept,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    OntopDataError,
    RecordReader,
    WorkerType,
    known_or_raw,
)

# B.3 / B.4 / B.6 paths.
AGREEMENTS_PATH = "/contract/agreements"
INVOICES_PATH = "/contract/invoices"
WEBHOOKS_PATH = "/webhooks"


def webhook_config_body(url: str, secret: str) -> bytes:
    """B.6: `POST /webhooks` with the receiver URL and the signing secret."""
    return json.dumps({"url": url, "secret": secret}).encode()


def invoice_path(invoice_id: int) -> str:
    return f"{INVOICES_PATH}/{invoice_id}"


def invoice_pdf_path(invoice_id: int) -> str:
    return f"{INVOICES_PATH}/{invoice_id}/pdf"


def instant(moment: datetime) -> str:
    """An ISO-8601 UTC instant with milliseconds, the form B.4 filters take."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def invoices_query(since: datetime | None, until: datetime | None, page: int, size: int) -> dict[str, str | int]:
    """Query for invoices whose updateDate is in [since, until), sorted by updateDate then id."""
    query: dict[str, str | int] = {"page": page, "size": size}
    if since is not None:
        query["startDate"] = instant(since)
    if until is not None:
        query["endDate"] = instant(until)
    return query


# B.5: REFUND is Ontop's UI word for a reimbursement.
CONCEPT_ALIASES = {"REFUND": Concept.REIMBURSEMENT}


def parse_concept(raw: str) -> Concept | str:
    code = raw.strip().upper()
    return CONCEPT_ALIASES.get(code) or known_or_raw(Concept, code)


def parse_invoice(data: Mapping[str, Any]) -> Invoice:
    """One B.4 invoice; raises OntopDataError naming the field and invoice when a required one is missing."""
    if not isinstance(data, Mapping):
        raise OntopDataError("invoice", "(unknown)", "(record)", "is not a JSON object")
    record = RecordReader("invoice", data, data.get("invoiceId") or "(no id)")
    invoice_id = record.required_int("invoiceId")
    lines = [_parse_line(invoice_id, index, line) for index, line in enumerate(record.required_list("lines"), 1)]
    return Invoice(
        id=invoice_id,
        number=record.required_str("invoiceNumber"),
        agreement_id=record.required_int("agreementId"),
        worker_email=record.optional_str("workerEmail"),
        external_id=record.optional_str("externalId"),
        status=known_or_raw(InvoiceStatus, record.required_str("status")),
        currency=record.required_str("currency").upper(),
        total=record.required_decimal("total"),
        lines=lines,
        updated_at=record.required_datetime("updateDate"),
        created_at=record.optional_datetime("creationDate"),
        issue_date=record.optional_date("issueDate"),
        due_date=record.optional_date("dueDate"),
        paid_date=record.optional_date("paidDate"),
        period_start=record.optional_date("periodStart"),
        period_end=record.optional_date("periodEnd"),
        exchange_rate=record.optional_decimal("exchangeRate"),
        usd_equivalent=record.optional_decimal("totalUsd"),
        notes=record.optional_str("notes"),
        corrects=record.optional_int("correctsInvoiceId"),
        corrected_by=record.optional_int("correctedByInvoiceId"),
        pdf_available=record.optional_bool("pdfAvailable"),
    )


def _parse_line(invoice_id: int, index: int, data: Any) -> InvoiceLine:
    if not isinstance(data, Mapping):
        raise OntopDataError("invoice", invoice_id, f"lines[{index}]", "is not a JSON object")
    record = RecordReader(f"invoice {invoice_id} line", data, data.get("lineNumber", index))
    concept = record.required_str("concept")
    return InvoiceLine(
        concept=parse_concept(concept),
        description=record.optional_str("title") or record.optional_str("conceptLabel") or concept,
        amount=record.required_decimal("amount"),
        concept_label=record.optional_str("conceptLabel"),
        amount_usd=record.optional_decimal("amountUsd"),
        quantity=record.optional_decimal("quantity"),
        unit_amount=record.optional_decimal("unitAmount"),
        line_number=record.optional_int("lineNumber"),
    )


@dataclass(frozen=True)
class ContractTerms:
    """The B.3 fields a worker row lacks."""

    agreement_id: int
    worker_type: WorkerType | str | None
    country_iso: str | None
    currency: str | None
    contract_type: str | None
    start_date: date | None
    end_date: date | None


def parse_contract(data: Mapping[str, Any]) -> ContractTerms:
    record = RecordReader("agreement", data, data.get("agreementId") or "(no id)")
    worker_type = record.optional_str("typeOfWorker")
    return ContractTerms(
        agreement_id=record.required_int("agreementId"),
        worker_type=known_or_raw(WorkerType, worker_type) if worker_type else None,
        country_iso=record.optional_str("countryIso"),
        currency=record.optional_str("currency"),
        contract_type=record.optional_str("contractType"),
        start_date=record.optional_date("startDate"),
        end_date=record.optional_date("endDate"),
    )


# B.2 login response: the first non-empty string under one of these keys, at the root or one level down.
_TOKEN_KEYS = ("token", "access_token", "accessToken", "jwt", "id_token", "idToken")
_TOKEN_CONTAINERS = ("data", "result", "payload")
DEFAULT_TOKEN_SECONDS = 900


def token_from_login(body: Any) -> str | None:
    """The bearer token in a login response, or None when the body holds none."""
    if not isinstance(body, Mapping):
        return None
    places: list[Any] = [body] + [body.get(container) for container in _TOKEN_CONTAINERS]
    for place in places:
        if not isinstance(place, Mapping):
            continue
        for key in _TOKEN_KEYS:
            value = place.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def token_expiry(token: str) -> datetime | None:
    """The JWT's `exp` claim read WITHOUT verifying the token (we only need to know when to renew)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None


def error_message(body: Any, fallback: str) -> str:
    """The human message of a B.2 Spring Boot error body, or `fallback` (for text or unknown bodies)."""
    if isinstance(body, Mapping):
        message = body.get("message") or body.get("error")
        if isinstance(message, str) and message:
            return message
    return fallback


# B.6 webhook additions.
SIGNATURE_HEADER = "X-Ontop-Signature"
EVENT_ID_HEADER = "X-Ontop-Event-Id"
MAX_SIGNATURE_SKEW_SECONDS = 300
INVOICE_EVENT = "INVOICE"
TEST_EVENT = "TEST"


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`."""
    return f"t={timestamp},v1={_signature(secret, timestamp, body)}"


def signature_valid(secret: str, header: str | None, body: bytes, now: float) -> tuple[bool, str]:
    """Check a signature header in constant time; returns (ok, reason) where reason never holds secret material."""
    if not header:
        return False, "missing signature"
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False, "malformed signature"
    if abs(now - timestamp) > MAX_SIGNATURE_SKEW_SECONDS:
        return False, "signature timestamp outside the allowed window"
    # Bytes on both sides: compare_digest is constant time for bytes, and raises on non-ASCII str.
    expected = _signature(secret, timestamp, body).encode()
    candidates = [candidate.encode("utf-8", "replace") for candidate in fields.get("v1", [])]
    if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        return True, "ok"
    return False, "signature mismatch"


def _signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


PDF_MAGIC = b"%PDF-"
