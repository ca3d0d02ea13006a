"""QBO errors as a small hierarchy the sync engine can act on, parsed from both of QBO's error envelopes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, ClassVar

from sync import money


class QboError(Exception):
    """One QBO fault: its code (a string, as on the wire), message, detail, element, HTTP status and intuit_tid."""

    is_transient: ClassVar[bool] = False

    def __init__(
        self,
        code: str,
        message: str,
        detail: str = "",
        element: str = "",
        status: int | None = None,
        intuit_tid: str | None = None,
        *,
        errors: list[FaultEntry] | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(f"QBO {code}: {message}" + (f" ({detail})" if detail else ""))
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.intuit_tid = intuit_tid
        self.errors = errors or [FaultEntry(code, message, detail, element)]
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, status={self.status!r})"


class QboAuthError(QboError):
    """401 / 3200: the access token was refused even after one refresh."""


class QboForbidden(QboError):
    """403 / 3100: wrong realm, missing scope or removed connection; needs reconnect, never retried."""


class QboThrottled(QboError):
    """429 / 3001: over a rate limit; wait (Retry-After or 60 s) and retry with the same requestid."""

    is_transient = True


class QboStaleObject(QboError):
    """5010: the SyncToken was stale; re-read, re-apply, retry once."""


class QboDuplicateName(QboError):
    """6240: the DisplayName is used by a Vendor, Customer or Employee (inactive ones included)."""


class QboDuplicateDocNumber(QboError):
    """6140: a Bill with this DocNumber already exists."""


class QboValidationError(QboError):
    """2020, 2050, 2500, 610, 4000... : the request is wrong; user-fixable, not retried."""


class QboNotFound(QboValidationError):
    """610: the object does not exist or is inactive."""


class QboCurrencyError(QboError):
    """6000 (and currency business rules): a currency mismatch, never silently converted."""


class QboServiceError(QboError):
    """5xx, 10000, timeouts and connection resets: retried with back-off and the same requestid."""

    is_transient = True


class QboInvalidGrant(QboError):
    """The refresh token is dead (invalid_grant / invalid_client): the connection needs re-authorisation."""


class QboDuplicateRequest(QboError):
    """600: the requestid was used already; the write is done, look the record up."""


@dataclass(frozen=True)
class FaultEntry:
    """One entry of a Fault's Error[] list."""

    code: str
    message: str
    detail: str = ""
    element: str = ""


_CLASS_BY_CODE: dict[str, type[QboError]] = {
    "3200": QboAuthError,
    "100": QboAuthError,
    "120": QboAuthError,
    "130": QboAuthError,
    "3100": QboForbidden,
    "3001": QboThrottled,
    "5010": QboStaleObject,
    "6240": QboDuplicateName,
    "6140": QboDuplicateDocNumber,
    "610": QboNotFound,
    "600": QboDuplicateRequest,
    "10000": QboServiceError,
}
_CURRENCY_WORDS = re.compile(r"currenc|exchange ?rate", re.IGNORECASE)


def error_class_for(code: str, status: int | None, detail: str = "") -> type[QboError]:
    """The exception class for a fault code, falling back on the HTTP status."""
    if code in _CLASS_BY_CODE:
        return _CLASS_BY_CODE[code]
    # 6000 is QBO's catch-all business error; only its currency variants are currency errors.
    if code == "2410" or (code == "6000" and _CURRENCY_WORDS.search(detail)):
        return QboCurrencyError
    if status == 401:
        return QboAuthError
    if status == 403:
        return QboForbidden
    if status == 429:
        return QboThrottled
    if status is not None and status >= 500:
        return QboServiceError
    return QboValidationError


def fault_entries(body: Any) -> tuple[list[FaultEntry], str] | None:
    """Read Fault/fault (either casing) from a parsed JSON body: (entries, fault type), or None when absent."""
    if not isinstance(body, dict):
        return None
    fault = body.get("Fault") or body.get("fault")
    if not isinstance(fault, dict):
        return None
    raw_errors = fault.get("Error") or fault.get("error") or []
    entries = []
    for raw in raw_errors if isinstance(raw_errors, list) else []:
        if not isinstance(raw, dict):
            continue
        entries.append(
            FaultEntry(
                code=str(raw.get("code") or raw.get("Code") or ""),
                message=str(raw.get("Message") or raw.get("message") or ""),
                detail=str(raw.get("Detail") or raw.get("detail") or ""),
                element=str(raw.get("element") or raw.get("Element") or ""),
            )
        )
    return entries, str(fault.get("type") or "")


def error_from_entries(
    entries: list[FaultEntry], status: int | None, intuit_tid: str | None, retry_after: str | None = None
) -> QboError:
    """Build the typed error for a list of fault entries (the first decides the class; all are kept)."""
    if not entries:
        entries = [FaultEntry(str(status or ""), f"HTTP {status}")]
    entries = [_redacted(entry) for entry in entries]
    first = entries[0]
    code = _gateway_code(first)
    cls = error_class_for(code, status, first.detail)
    return cls(
        code,
        first.message,
        first.detail,
        first.element,
        status,
        intuit_tid,
        errors=entries,
        retry_after=retry_after,
    )


def _redacted(entry: FaultEntry) -> FaultEntry:
    # Auth faults echo part of the bearer token ("Token expired: AB0173..."): keep only the reason.
    if _gateway_code(entry) in ("3200", "100", "120", "130") and ":" in entry.detail:
        return FaultEntry(entry.code, entry.message, entry.detail.split(":", 1)[0], entry.element)
    return entry


def _gateway_code(entry: FaultEntry) -> str:
    # Gateway faults say "errorCode=003200" in the message; the code field carries "3200" already.
    if entry.code:
        return entry.code
    found = re.search(r"errorCode=0*(\d+)", entry.message)
    return found.group(1) if found else ""


def error_from_response(
    status: int, text: str, intuit_tid: str | None, retry_after: str | None = None
) -> QboError | None:
    """The error carried by a response (any status, 200 included), or None when it carries none.

    Branches on the status first, then reads JSON Fault/fault, then XML, then the raw text; never crashes.
    """
    return read_response(status, text, intuit_tid, retry_after)[1]


def read_response(
    status: int, text: str, intuit_tid: str | None, retry_after: str | None = None
) -> tuple[Any, QboError | None]:
    """A response's JSON body (None when it has none or it is not JSON) and the error it carries, parsed once: a
    batch answer is the largest thing the bot reads, and reading it twice was a tenth of a sync's CPU."""
    body: Any = None
    try:
        body = money.loads(text) if text else None
    except ValueError:
        body = None
    return body, _error_of(status, text, body, intuit_tid, retry_after)


def _error_of(status: int, text: str, body: Any, intuit_tid: str | None, retry_after: str | None) -> QboError | None:
    parsed = fault_entries(body)
    if parsed is not None:
        entries, _fault_type = parsed
        return error_from_entries(entries, status, intuit_tid, retry_after)
    if status < 400 and text and body is None:  # a proxy's page, a truncated body: try again
        return QboServiceError(
            "invalid_response", "QBO answered with something other than JSON", status=status, intuit_tid=intuit_tid
        )
    if status < 400:
        return None
    entries = _xml_entries(text)
    if entries:
        return error_from_entries(entries, status, intuit_tid, retry_after)
    if isinstance(body, dict) and "error" in body:  # OAuth-style {"error": "..."}
        return error_from_entries(
            [FaultEntry(str(status), str(body["error"]), str(body.get("error_description") or ""))],
            status,
            intuit_tid,
            retry_after,
        )
    snippet = text[:200] if text else ""
    return error_from_entries([FaultEntry(str(status), f"HTTP {status}", snippet)], status, intuit_tid, retry_after)


def _xml_entries(text: str) -> list[FaultEntry]:
    if not text or "<" not in text:
        return []
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return []
    entries = []
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] != "Error":
            continue
        children = {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in element}
        entries.append(
            FaultEntry(
                code=element.get("code", ""),
                message=children.get("Message", ""),
                detail=children.get("Detail", ""),
                element=element.get("element", ""),
            )
        )
    return entries
