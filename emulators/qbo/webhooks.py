"""Webhooks from the QBO emulator (reference §11): legacy or CloudEvents bodies, intuit-signature, retries.

Writes to Vendor and Bill queue events; after each write response the emulator POSTs them to the configured URL.
A non-200 answer (or none within the timeout) is retried; switches inject duplicate and out-of-order delivery.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

OPERATION_VERBS = {"Create": "created", "Update": "updated", "Delete": "deleted", "Merge": "merged", "Void": "voided"}


@dataclass
class WebhookConfig:
    """Where and how to deliver; `retry_delays_seconds` are Intuit's 10 s, 20 s, 30 s... scaled for tests."""

    url: str | None = None
    verifier_token: str = "emulator-verifier-token"
    format: str = "legacy"  # or "cloudevents"
    entities: set[str] = field(default_factory=lambda: {"Vendor", "Bill"})
    duplicate: bool = False
    out_of_order: bool = False
    timeout_seconds: float = 3.0
    retry_delays_seconds: list[float] = field(default_factory=lambda: [10.0, 20.0, 30.0, 300.0])


@dataclass(frozen=True)
class WebhookEvent:
    """One entity change to notify."""

    realm_id: str
    entity: str
    entity_id: str
    operation: str  # Create, Update, Delete
    last_updated: datetime


@dataclass
class Delivery:
    """One POST attempt, for inspection."""

    status: int | None
    body: str
    attempt: int


def sign(verifier_token: str, body: bytes) -> str:
    """intuit-signature: base64(HMAC-SHA256(verifier token, raw body))."""
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


def legacy_body(events: list[WebhookEvent]) -> dict[str, Any]:
    """The legacy eventNotifications body."""
    by_realm: dict[str, list[dict[str, str]]] = {}
    for event in events:
        by_realm.setdefault(event.realm_id, []).append(
            {
                "name": event.entity,
                "id": event.entity_id,
                "operation": event.operation,
                "lastUpdated": _zulu(event.last_updated),
            }
        )
    return {
        "eventNotifications": [
            {"realmId": realm_id, "dataChangeEvent": {"entities": entities}} for realm_id, entities in by_realm.items()
        ]
    }


def cloudevents_body(events: list[WebhookEvent]) -> list[dict[str, Any]]:
    """The CloudEvents 1.0 array body."""
    return [
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "intuit.emulator",
            "type": f"qbo.{event.entity.lower()}.{OPERATION_VERBS[event.operation]}.v1",
            "datacontenttype": "application/json",
            "time": _zulu(event.last_updated),
            "intuitentityid": event.entity_id,
            "intuitaccountid": event.realm_id,
            "data": {},
        }
        for event in events
    ]


def _zulu(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WebhookOutbox:
    """Pending events and the delivery log; thread-safe so tests can configure it from their own thread."""

    def __init__(self) -> None:
        self.config = WebhookConfig()
        self._lock = threading.Lock()
        self._pending: list[WebhookEvent] = []
        self.deliveries: list[Delivery] = []

    def configure(self, **values: Any) -> None:
        """Set webhook options by name; unknown names raise KeyError."""
        with self._lock:
            for key, value in values.items():
                if not hasattr(self.config, key):
                    raise KeyError(key)
                setattr(self.config, key, set(value) if key == "entities" else value)

    def record(self, event: WebhookEvent) -> None:
        """Queue an event when a URL is configured and the entity is subscribed."""
        with self._lock:
            if self.config.url and event.entity in self.config.entities:
                self._pending.append(event)

    def _take(self) -> list[WebhookEvent]:
        with self._lock:
            events, self._pending = self._pending, []
        if self.config.out_of_order:
            events.reverse()
        return events

    async def flush(self) -> None:
        """Deliver everything pending (one POST per event, like separate notifications), retrying failures."""
        events = self._take()
        config = self.config
        if not events or not config.url:
            return
        async with httpx.AsyncClient(timeout=config.timeout_seconds) as http:
            for event in events:
                copies = 2 if config.duplicate else 1
                for _ in range(copies):
                    await self._deliver(http, config, [event])

    async def _deliver(self, http: httpx.AsyncClient, config: WebhookConfig, events: list[WebhookEvent]) -> None:
        payload: Any = cloudevents_body(events) if config.format == "cloudevents" else legacy_body(events)
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "intuit-signature": sign(config.verifier_token, body),
            "intuit-created-time": _zulu(datetime.now(UTC)),
            "intuit-t-id": secrets.token_hex(16),
            "intuit-notification-schema-version": "0.1",
            "content-type": "application/json; charset=utf-8",
            "user-agent": "intuit_notification_server/0.1",
        }
        delays = [0.0, *config.retry_delays_seconds]
        for attempt, delay in enumerate(delays, start=1):
            if delay:
                await asyncio.sleep(delay)
            status: int | None
            try:
                response = await http.post(str(config.url), content=body, headers=headers)
                status = response.status_code
            except httpx.HTTPError:
                status = None
            with self._lock:
                self.deliveries.append(Delivery(status, body.decode(), attempt))
            if status == 200:
                return
