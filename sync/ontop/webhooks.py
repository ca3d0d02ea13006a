"""Ontop webhook intake: verify, parse, deduplicate, and decide (no database, no HTTP framework).

The web layer looks up the connection by the URL's path token, then calls `receive_webhook(...)` and answers with
`outcome.status_code` (401 for anything unauthenticated or tampered). Events are untrusted hints (A.7): a new
PAYMENT success or INVOICE change becomes `SyncSoon`, everything else is acknowledged and ignored; polling stays the
source of truth. Deduplication goes through the `WebhookSeenStore` protocol, which the lead backs with the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

import structlog

from sync.money import MoneyError, loads, to_decimal
from sync.ontop import assumed

logger = structlog.get_logger(__name__)

FINAL_PAYMENT_STATUSES = frozenset({"SUCCESS", "FAILURE", "REJECTED"})
# Later states rank higher, so a delivery that arrives after a newer one is recognisably stale.
INVOICE_STATUS_RANK = {"DRAFT": 1, "PENDING": 2, "PAID": 3, "CANCELLED": 3}
WORKER_STATUS_RANK = {"INVITATION_SENT": 0, "VERIFICATION_PENDING": 1, "ACTIVE": 2, "ENDED": 3}
DEFAULT_SYNC_DELAY_SECONDS = 30


class WebhookPayloadError(ValueError):
    """An authenticated webhook whose body is not a readable Ontop event."""


@dataclass(frozen=True)
class WebhookVerification:
    ok: bool
    reason: str

    @property
    def status_code(self) -> int:
        return 200 if self.ok else 401


def verify_webhook(
    *,
    path_token: str,
    expected_path_token: str,
    body: bytes,
    headers: Mapping[str, str],
    secret: str | None,
    now: float | None = None,
) -> WebhookVerification:
    """The path token always (A.7); plus the B.6 signature (constant time, 300 s skew) when a secret is set."""
    if not expected_path_token or not hmac.compare_digest(path_token.encode(), expected_path_token.encode()):
        return WebhookVerification(False, "unknown webhook address")
    if not secret:
        return WebhookVerification(True, "ok")
    signature = _header(headers, assumed.SIGNATURE_HEADER)
    ok, reason = assumed.signature_valid(secret, signature, body, time.time() if now is None else now)
    return WebhookVerification(ok, reason)


@dataclass(frozen=True)
class WebhookEvent:
    """A parsed event. `subject` names what it is about and `order` how new it is for that subject."""

    event_type: str
    subject: str
    order: Decimal
    event_id: str | None
    data: Mapping[str, Any]

    @property
    def status(self) -> str | None:
        for key in ("transaction_status", "invoice_status", "status"):
            value = self.data.get(key)
            if isinstance(value, str):
                return value
        return None


def parse_webhook(body: bytes, headers: Mapping[str, str] | None = None) -> WebhookEvent:
    """Read `{"event_type": ..., "data": {...}}`; raises WebhookPayloadError naming what is wrong, whatever the body.

    A signed but unreadable delivery must be answered 400 (Ontop stops retrying), never 500: so every way reading
    can fail ends here as WebhookPayloadError, with a reason that never quotes the body.
    """
    try:
        return _parse_webhook(body, headers)
    except RecursionError:
        raise WebhookPayloadError("webhook body is nested too deeply") from None
    except MoneyError:
        raise WebhookPayloadError("webhook body has a number that cannot be read") from None


def _parse_webhook(body: bytes, headers: Mapping[str, str] | None) -> WebhookEvent:
    try:
        payload = loads(body)
    except RecursionError:
        raise
    except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
        raise WebhookPayloadError("webhook body is not JSON") from None
    if not isinstance(payload, Mapping) or not isinstance(payload.get("event_type"), str):
        raise WebhookPayloadError("webhook body has no event_type")
    event_type: str = payload["event_type"]
    data = payload.get("data") if isinstance(payload.get("data"), Mapping) else {}
    assert isinstance(data, Mapping)
    event_id = _header(headers or {}, assumed.EVENT_ID_HEADER)

    def required(name: str) -> Any:
        value = data.get(name)
        if value is None or value == "":
            raise WebhookPayloadError(f"{event_type} webhook lacks data.{name}")
        return value

    if event_type == "PAYMENT":
        moment = data.get("transaction_date_time")
        status = str(required("transaction_status"))
        order = to_decimal(moment) if isinstance(moment, int | str | Decimal) else Decimal(int(status != "PENDING"))
        subject = f"PAYMENT:{required('payment_id')}"
    elif event_type == assumed.INVOICE_EVENT:
        subject = f"INVOICE:{required('invoice_id')}"
        order = Decimal(INVOICE_STATUS_RANK.get(str(data.get("invoice_status")), 2))
    elif event_type == "KYC":
        who = data.get("worker_id") or data.get("worker_email") or required("external_id")
        subject = f"KYC:{who}"
        order = Decimal(WORKER_STATUS_RANK.get(str(data.get("status")), 2))
    elif event_type == "CLIENT_WALLET_TOP_UP":
        subject = f"CLIENT_WALLET_TOP_UP:{required('transaction_id')}"
        order = Decimal(0)
    else:  # TEST and events Ontop may add later: the same body twice is a duplicate
        subject = f"{event_type}:{hashlib.sha256(body).hexdigest()[:32]}"
        order = Decimal(0)
    return WebhookEvent(event_type=event_type, subject=subject, order=order, event_id=event_id, data=data)


class DeliveryVerdict(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"  # the same delivery again
    STALE = "stale"  # older than something already seen for the same subject (out of order)


class WebhookSeenStore(Protocol):
    """Remembers the newest `order` seen per key. The database version must do this atomically (an upsert)."""

    async def remember(self, key: str, order: Decimal) -> Decimal | None:
        """Store max(order, stored) under `key` and return what was stored before (None the first time)."""
        ...


class InMemoryWebhookSeenStore:
    """`WebhookSeenStore` in a dict, for tests and the demo (one process only)."""

    def __init__(self) -> None:
        self._orders: dict[str, Decimal] = {}
        self._lock = asyncio.Lock()

    async def remember(self, key: str, order: Decimal) -> Decimal | None:
        async with self._lock:
            previous = self._orders.get(key)
            self._orders[key] = order if previous is None else max(previous, order)
            return previous


async def classify_delivery(event: WebhookEvent, store: WebhookSeenStore) -> DeliveryVerdict:
    """NEW the first time; DUPLICATE for a repeated event id or the same subject+order; STALE when out of order."""
    if event.event_id and await store.remember(f"event-id:{event.event_id}", Decimal(0)) is not None:
        return DeliveryVerdict.DUPLICATE
    previous = await store.remember(event.subject, event.order)
    if previous is None or event.order > previous:
        return DeliveryVerdict.NEW
    return DeliveryVerdict.DUPLICATE if event.order == previous else DeliveryVerdict.STALE


@dataclass(frozen=True)
class SyncSoon:
    """Enqueue a webhook-triggered sync of this connection (deduplicated by the job queue)."""

    connection_id: int
    reason: str
    delay_seconds: int = DEFAULT_SYNC_DELAY_SECONDS


@dataclass(frozen=True)
class Ignore:
    reason: str


WebhookDecision = SyncSoon | Ignore


def decide(
    event: WebhookEvent,
    verdict: DeliveryVerdict,
    connection_id: int,
    *,
    delay_seconds: int = DEFAULT_SYNC_DELAY_SECONDS,
) -> WebhookDecision:
    """What a delivery means for the connection: a paid payment or a changed invoice means "sync soon"."""
    if verdict != DeliveryVerdict.NEW:
        return Ignore(f"{verdict.value} delivery of {event.subject}")
    if event.event_type == "PAYMENT":
        if event.status == "SUCCESS":
            return SyncSoon(connection_id, f"Ontop payment {event.data.get('payment_id')} succeeded", delay_seconds)
        return Ignore(f"payment {event.data.get('payment_id')} is {event.status}")
    if event.event_type == assumed.INVOICE_EVENT:
        reason = f"Ontop invoice {event.data.get('invoice_number') or event.data.get('invoice_id')} is {event.status}"
        return SyncSoon(connection_id, reason, delay_seconds)
    return Ignore(f"{event.event_type} events need no sync")


@dataclass(frozen=True)
class WebhookOutcome:
    """What to answer (`status_code`) and what to do (`decision`, None when rejected)."""

    status_code: int
    reason: str
    event: WebhookEvent | None = None
    verdict: DeliveryVerdict | None = None
    decision: WebhookDecision | None = None


async def receive_webhook(
    *,
    connection_id: int,
    path_token: str,
    expected_path_token: str,
    body: bytes,
    headers: Mapping[str, str],
    secret: str | None,
    store: WebhookSeenStore,
    now: float | None = None,
    delay_seconds: int = DEFAULT_SYNC_DELAY_SECONDS,
) -> WebhookOutcome:
    """Verify, parse, deduplicate and decide. 401 when unauthenticated, 400 when unreadable, else 200."""
    verification = verify_webhook(
        path_token=path_token,
        expected_path_token=expected_path_token,
        body=body,
        headers=headers,
        secret=secret,
        now=now,
    )
    if not verification.ok:
        logger.warning("ontop_webhook_rejected", connection_id=connection_id, reason=verification.reason)
        return WebhookOutcome(401, verification.reason)
    try:
        event = parse_webhook(body, headers)
    except WebhookPayloadError as exc:
        logger.warning("ontop_webhook_unreadable", connection_id=connection_id, reason=str(exc))
        return WebhookOutcome(400, str(exc))
    verdict = await classify_delivery(event, store)
    decision = decide(event, verdict, connection_id, delay_seconds=delay_seconds)
    logger.info(
        "ontop_webhook_received",
        connection_id=connection_id,
        event_type=event.event_type,
        subject=event.subject,
        verdict=verdict.value,
        decision=type(decision).__name__,
    )
    return WebhookOutcome(200, "ok", event, verdict, decision)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value
