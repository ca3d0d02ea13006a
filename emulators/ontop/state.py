"""The Ontop emulator's state: the generated company, edits, tokens, faults, payments and outgoing webhooks.

Tests drive it directly; `sync/ontop/emulator.py` serves it over HTTP and `emulator_control.py` exposes it as JSON
control endpoints under `/_emulator/`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import heapq
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from emulators.ontop import wire
from emulators.ontop.generator import CompanyGenerator, GeneratedWorker, timestamp_ms
from emulators.wire import dumps

DEFAULT_ADMIN_EMAIL = "admin@ontop.test"
DEFAULT_ADMIN_PASSWORD = "ontop-demo-password"
DEFAULT_CLIENT_ID = 100
FIRST_PAYLIST_ID = 23
FIRST_PAYMENT_ID = 231


@dataclass
class Fault:
    """One injected failure for requests whose path starts with `path` (all requests when empty).

    `skip` matching requests pass first; the next `times` get the fault. Besides an HTTP `status` (with an optional
    `Retry-After`), a fault can delay the answer, expire every token (the request then gets 401, as on a real expiry),
    or change invoices just before answering (pages changing while a client reads them).
    """

    status: int | None = 503
    path: str = ""
    times: int = 1
    skip: int = 0
    retry_after: str | None = None
    delay_seconds: float = 0.0
    expire_tokens: bool = False
    touch_invoices: tuple[int, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        known = {item.name for item in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        if "touch_invoices" in values:
            values["touch_invoices"] = tuple(int(item) for item in values["touch_invoices"])
        if "retry_after" in values and values["retry_after"] is not None:
            values["retry_after"] = str(values["retry_after"])
        return cls(**values)


@dataclass
class Patch:
    """Changes applied to a row on the way out: `set` adds or replaces fields, `drop` removes them."""

    set: dict[str, Any] = field(default_factory=dict)
    drop: tuple[str, ...] = ()

    def apply(self, row: dict[str, Any]) -> dict[str, Any]:
        patched = {key: value for key, value in row.items() if key not in self.drop}
        patched.update(self.set)
        return patched


@dataclass
class WebhookDelivery:
    url: str
    event: dict[str, Any]
    status_code: int | None
    tampered: bool = False
    signed: bool = False


@dataclass
class OntopEmulatorState:
    """Everything the emulator knows; tests may read and change it directly."""

    generator: CompanyGenerator = field(default_factory=CompanyGenerator)
    admin_email: str = DEFAULT_ADMIN_EMAIL
    admin_password: str = field(default=DEFAULT_ADMIN_PASSWORD, repr=False)
    client_id: int = DEFAULT_CLIENT_ID
    token_ttl_seconds: int = 900
    documented_only: bool = False
    now: datetime | None = None  # the company's clock; defaults to the end of the generated period
    wall_clock: Callable[[], float] = time.time  # token expiry and webhook signature times
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    signing_key: bytes = field(default=b"ontop-emulator-jwt-key", repr=False)
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    logins: int = 0
    token_generation: int = 0
    invoice_overrides: dict[int, dict[str, Any]] = field(default_factory=dict)
    invoice_patches: dict[int, Patch] = field(default_factory=dict)
    worker_patches: dict[int, Patch] = field(default_factory=dict)
    invited_workers: list[dict[str, Any]] = field(default_factory=list)
    paylists: dict[int, dict[str, Any]] = field(default_factory=dict)
    payments: dict[int, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[WebhookDelivery] = field(default_factory=list)
    # Pauses before re-delivering a webhook the receiver did not accept with a 2xx (the demo uses 1, 5, 25 s).
    webhook_retry_delays: tuple[float, ...] = ()
    webhook_sequence: int = 0

    def __post_init__(self) -> None:
        if self.now is None:
            self.now = self.generator.end
        self._initial_now = self.now
        self._seed_paylist()

    # ---- clock ----

    @property
    def clock(self) -> datetime:
        assert self.now is not None
        return self.now

    def tick(self) -> datetime:
        """Move the company clock a hair forward so that successive writes get distinct, ordered timestamps."""
        self.now = self.clock + timedelta(microseconds=1_234)
        return self.now

    def advance(self, seconds: float) -> list[dict[str, Any]]:
        """Move the company clock; settles pending payments and returns the webhook events that this caused."""
        before = self.clock
        self.now = before + timedelta(seconds=seconds)
        events = [self.payment_event(payment) for payment in self.settle_payments()]
        for change in self.generator.changes_between(self.clock, before + timedelta(microseconds=1), self.clock):
            row = self.invoice_row(change.invoice_id)
            if row is not None:
                events.append(invoice_event(row, self.client_id))
        return events

    def reset(self) -> None:
        """Back to the freshly generated company (same seed), with no faults, edits, payments or deliveries."""
        fresh = OntopEmulatorState(
            generator=self.generator,
            admin_email=self.admin_email,
            admin_password=self.admin_password,
            client_id=self.client_id,
            token_ttl_seconds=self.token_ttl_seconds,
            documented_only=self.documented_only,
            now=self._initial_now,
            wall_clock=self.wall_clock,
            signing_key=self.signing_key,
            webhook_retry_delays=self.webhook_retry_delays,
        )
        for item in fields(self):
            setattr(self, item.name, getattr(fresh, item.name))

    # ---- tokens ----

    def issue_token(self) -> str:
        issued = int(self.wall_clock())
        claims = {
            "sub": self.admin_email,
            "clientId": self.client_id,
            "iat": issued,
            "exp": issued + self.token_ttl_seconds,
            "gen": self.token_generation,
        }
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims).encode())
        signature = _b64(hmac.new(self.signing_key, f"{header}.{body}".encode(), hashlib.sha256).digest())
        return f"{header}.{body}.{signature}"

    def token_valid(self, token: str) -> bool:
        parts = token.split(".")
        if len(parts) != 3:
            return False
        expected = _b64(hmac.new(self.signing_key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            return False
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return bool(claims.get("gen") == self.token_generation and claims.get("exp", 0) > self.wall_clock())

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (an early expiry)."""
        self.token_generation += 1

    # ---- workers ----

    def worker_rows(self) -> list[dict[str, Any]]:
        rows = [worker.worker_row() for worker in self.generator.workers] + list(self.invited_workers)
        return [self._patched_worker(row) for row in rows]

    def _patched_worker(self, row: dict[str, Any]) -> dict[str, Any]:
        patch = self.worker_patches.get(row["agreementId"])
        return patch.apply(row) if patch else row

    def agreement_rows(self) -> list[dict[str, Any]]:
        return [worker.agreement_row() for worker in self.generator.workers]

    def activate_worker(self, agreement_id: int) -> dict[str, Any]:
        """An invited worker finishes onboarding (INVITATION_SENT -> ACTIVE); returns the KYC webhook event."""
        worker = next((w for w in self.generator.workers if w.agreement_id == agreement_id), None)
        names: dict[str, Any] = {"status": "ACTIVE"}
        if worker is not None:
            names |= {"firstName": worker.first_name, "lastName": worker.last_name, "legalName": worker.legal_name}
            names |= {"jobTitle": worker.job_title, "country": worker.place.country}
        self.worker_patches[agreement_id] = Patch(set=names)
        row = next(row for row in self.worker_rows() if row["agreementId"] == agreement_id)
        return kyc_event(row, self.client_id)

    # ---- invoices ----

    def invoice_row(self, invoice_id: int) -> dict[str, Any] | None:
        """The invoice as it reads now (generated, or overridden by a later edit), with patches applied."""
        row = self._current_row(invoice_id)
        patch = self.invoice_patches.get(invoice_id)
        return patch.apply(row) if row is not None and patch else row

    def _current_row(self, invoice_id: int) -> dict[str, Any] | None:
        index = self.generator.index_of(invoice_id)
        generated = self.generator.version_at(index, self.clock) if index is not None else None
        override = self.invoice_overrides.get(invoice_id)
        if override is not None and (generated is None or _updated(override) >= generated.updated_at):
            return override
        return generated.row if generated else None

    def touch_invoice(self, invoice_id: int, **changes: Any) -> dict[str, Any]:
        """Change an invoice now (a new updateDate, plus `changes`); returns the INVOICE webhook event."""
        row = self._current_row(invoice_id)
        if row is None:
            raise KeyError(invoice_id)
        self.invoice_overrides[invoice_id] = {**row, **changes, "updateDate": timestamp_ms(self.tick())}
        return invoice_event(self.invoice_row(invoice_id) or row, self.client_id)

    def _overrides_winning(self) -> dict[int, dict[str, Any]]:
        return {
            invoice_id: row
            for invoice_id, row in self.invoice_overrides.items()
            if self._current_row(invoice_id) is row
        }

    def invoice_page(
        self,
        since: datetime | None,
        until: datetime | None,
        page: int,
        size: int,
        statuses: set[str] | None = None,
        agreement_id: int | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of invoices changed in [since, until), sorted by (updateDate, invoiceId), and the total."""
        overrides = self._overrides_winning()
        filtered = bool(statuses) or agreement_id is not None

        def wanted(row: dict[str, Any]) -> bool:
            if statuses and row["status"] not in statuses:
                return False
            return agreement_id is None or row["agreementId"] == agreement_id

        def in_window(moment: datetime) -> bool:
            return (since is None or moment >= since) and (until is None or moment < until)

        extra = sorted(
            ((_updated(row), invoice_id) for invoice_id, row in overrides.items() if in_window(_updated(row))),
        )

        def merged() -> Iterator[tuple[datetime, int]]:
            generated = (
                (change.updated_at, change.invoice_id)
                for change in self.generator.changes_between(self.clock, since, until)
                if change.invoice_id not in overrides
            )
            yield from heapq.merge(generated, iter(extra))

        if filtered:
            rows_all = (self.invoice_row(invoice_id) for _, invoice_id in merged())
            matching = [row for row in rows_all if row is not None and wanted(row)]
            return matching[page * size : (page + 1) * size], len(matching)
        total = self.generator.count_changed_between(self.clock, since, until)
        for invoice_id in overrides:
            index = self.generator.index_of(invoice_id)
            generated_at = self.generator.updated_at(index, self.clock) if index is not None else None
            if generated_at is not None and in_window(generated_at):
                total -= 1
        total += len(extra)
        content: list[dict[str, Any]] = []
        for position, (_, invoice_id) in enumerate(merged()):
            if position >= (page + 1) * size:
                break
            if position >= page * size:
                row = self.invoice_row(invoice_id)
                if row is not None:
                    content.append(row)
        return content, total

    # ---- paylists and payments ----

    def _seed_paylist(self) -> None:
        """One settled paylist so the documented payments endpoints have data from the start."""
        active = [worker for worker in self.generator.workers if worker.status == "ACTIVE"][:3]
        payments = [
            {
                "description": f"Payment {n} {self.generator.start:%B %Y}",
                "amount": Decimal(1000 * n),
                "worker_email": w.email,
            }
            for n, w in enumerate(active, 1)
        ]
        key = hashlib.md5(f"seed-{self.generator.seed}".encode()).hexdigest()
        self.create_paylist({"description": "Seed paylist", "idempotence_key": key, "payments": payments})
        self.settle_payments()

    def create_paylist(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A paylist from an already validated body; a repeated idempotence_key returns the original."""
        key = body["idempotence_key"]
        for paylist in self.paylists.values():
            if paylist["idempotence_key"] == key:
                return paylist
        paylist_id = max(self.paylists, default=FIRST_PAYLIST_ID - 1) + 1
        created = self.tick()
        paylist = {
            "id": paylist_id,
            "description": body["description"],
            "client_id": body.get("client_id", self.client_id),
            "idempotence_key": key,
            "creation_date": _nanos_z(created),
        }
        self.paylists[paylist_id] = paylist
        for item in body["payments"]:
            payment_id = max(self.payments, default=FIRST_PAYMENT_ID - 1) + 1
            moment = _micros_z(self.tick())
            self.payments[payment_id] = {
                "id": payment_id,
                "description": item["description"],
                "amount": _two_places(item["amount"]),
                "worker_email": item["worker_email"],
                "paylist_id": paylist_id,
                "idempotence_key": hashlib.md5(
                    f"{item['amount']}{item['worker_email']}{item['description']}".encode()
                ).hexdigest(),
                "creation_date": moment,
                "update_date": moment,
                "status": "PENDING",
                "cause": None,
            }
        return paylist

    def settle_payments(self) -> list[dict[str, Any]]:
        """PENDING payments reach their final status: SUCCESS, FAILURE (worker not active) or REJECTED (unknown)."""
        statuses = {row["email"]: row["status"] for row in self.worker_rows()}
        settled = []
        for payment in self.payments.values():
            if payment["status"] != "PENDING":
                continue
            worker_status = statuses.get(payment["worker_email"])
            if worker_status is None:
                payment["status"], payment["cause"] = "REJECTED", "Worker not found"
            elif worker_status != "ACTIVE":
                payment["status"], payment["cause"] = "FAILURE", "Worker is not active"
            else:
                payment["status"] = "SUCCESS"
            payment["update_date"] = _micros_z(self.tick())
            settled.append(payment)
        return settled

    def paylist_summary(self, paylist: Mapping[str, Any]) -> dict[str, Any]:
        """The camelCase paylist list element."""
        items = [p for p in self.payments.values() if p["paylist_id"] == paylist["id"]]
        done = all(p["status"] != "PENDING" for p in items)
        return {
            "paylistId": paylist["id"],
            "flowStage": "COMPLETED" if done else "IN_PROGRESS",
            "description": paylist["description"],
            "total": sum((p["amount"] for p in items), Decimal("0.00")),
        }

    def payment_event(self, payment: Mapping[str, Any]) -> dict[str, Any]:
        worker = self._worker_by_email(payment["worker_email"])
        moment = datetime.fromisoformat(payment["update_date"])
        return {
            "event_type": "PAYMENT",
            "data": {
                "payment_id": payment["id"],
                "client_id": self.client_id,
                "worker_id": 100_000 + worker.agreement_id if worker else None,
                "paylist_id": payment["paylist_id"],
                "idempotency_key": payment["idempotence_key"],
                "email": payment["worker_email"],
                "transaction_status": payment["status"],
                "transaction_amount": payment["amount"],
                "transaction_date_time": _epoch_nanos(moment),
            },
        }

    def _worker_by_email(self, email: str) -> GeneratedWorker | None:
        return next((worker for worker in self.generator.workers if worker.email == email), None)

    # ---- webhooks out ----

    def webhook_request(
        self,
        event: Mapping[str, Any],
        *,
        tamper: bool = False,
        unsigned: bool = False,
        event_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers Ontop would POST; signed (B.6) when a secret is set, unless `unsigned`."""
        body = dumps(event).encode()
        self.webhook_sequence += 1
        digest = hashlib.sha256(f"{self.generator.seed}:{self.webhook_sequence}".encode()).digest()
        event_id = event_id or str(uuid.UUID(bytes=digest[:16], version=4))  # deterministic per seed and order
        headers = {"Content-Type": "application/json", wire.EVENT_ID_HEADER: event_id}
        key = secret if secret is not None else self.webhook_secret
        if key and not unsigned:
            moment = timestamp if timestamp is not None else int(self.wall_clock())
            headers[wire.SIGNATURE_HEADER] = wire.signature_header(key, moment, body)
        if tamper:
            body = body.replace(b"}", b',"tampered":true}', 1) if body.endswith(b"}") else body + b" "
        return body, headers

    def deliver_webhook(
        self,
        event: Mapping[str, Any],
        url: str | None = None,
        *,
        duplicates: int = 0,
        tamper: bool = False,
        unsigned: bool = False,
        event_id: str | None = None,
        timestamp: int | None = None,
    ) -> list[int | None]:
        """POST one event (1 + `duplicates` times, same event id) to `url` or the configured URL; blocking.

        A delivery that does not get a 2xx is retried after each of `webhook_retry_delays`. Returns every attempt's
        status code (None when the receiver could not be reached).
        """
        target = url or self.webhook_url
        if not target:
            raise ValueError("no webhook URL: pass one or configure it with POST /webhooks")
        body, headers = self.webhook_request(
            event, tamper=tamper, unsigned=unsigned, event_id=event_id, timestamp=timestamp
        )
        statuses: list[int | None] = []
        with httpx.Client(timeout=10.0) as http:
            for _ in range(1 + duplicates):
                for pause in (0.0, *self.webhook_retry_delays):
                    time.sleep(pause)
                    try:
                        status: int | None = http.post(target, content=body, headers=headers).status_code
                    except httpx.HTTPError:
                        status = None
                    statuses.append(status)
                    self._record_delivery(target, event, status, tamper, headers)
                    if status is not None and 200 <= status < 300:
                        break
        return statuses

    def _record_delivery(
        self, url: str, event: Mapping[str, Any], status: int | None, tamper: bool, headers: Mapping[str, str]
    ) -> None:
        self.deliveries.append(WebhookDelivery(url, dict(event), status, tamper, wire.SIGNATURE_HEADER in headers))

    async def deliver_webhook_async(
        self,
        event: Mapping[str, Any],
        url: str | None = None,
        *,
        duplicates: int = 0,
        tamper: bool = False,
        unsigned: bool = False,
        event_id: str | None = None,
    ) -> list[int | None]:
        """`deliver_webhook` for use inside an event loop (the control endpoints use it)."""
        target = url or self.webhook_url
        if not target:
            raise ValueError("no webhook URL: pass one or configure it with POST /webhooks")
        body, headers = self.webhook_request(event, tamper=tamper, unsigned=unsigned, event_id=event_id)
        statuses: list[int | None] = []
        async with httpx.AsyncClient(timeout=10.0) as http:
            for _ in range(1 + duplicates):
                for pause in (0.0, *self.webhook_retry_delays):
                    await asyncio.sleep(pause)
                    try:
                        status: int | None = (await http.post(target, content=body, headers=headers)).status_code
                    except httpx.HTTPError:
                        status = None
                    statuses.append(status)
                    self._record_delivery(target, event, status, tamper, headers)
                    if status is not None and 200 <= status < 300:
                        break
        return statuses


def token_client_id(token: str) -> int | None:
    """The `clientId` claim of a token this emulator issued, unverified (None when it is not one): which company's
    state then checks it."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    client_id = claims.get("clientId") if isinstance(claims, dict) else None
    return client_id if isinstance(client_id, int) else None


def kyc_event(worker_row: Mapping[str, Any], client_id: int) -> dict[str, Any]:
    return {
        "event_type": "KYC",
        "data": {
            "status": worker_row["status"],
            "worker_id": 100_000 + int(worker_row["agreementId"]),
            "client_id": client_id,
            "external_id": worker_row.get("externalId"),
            "worker_email": worker_row.get("email"),
        },
    }


def invoice_event(row: Mapping[str, Any], client_id: int) -> dict[str, Any]:
    return {
        "event_type": wire.INVOICE_EVENT,
        "data": {
            "invoice_id": row["invoiceId"],
            "invoice_number": row.get("invoiceNumber"),
            "agreement_id": row.get("agreementId"),
            "client_id": client_id,
            "worker_email": row.get("workerEmail"),
            "external_id": row.get("externalId"),
            "invoice_status": row.get("status"),
        },
    }


def wallet_top_up_event(transaction_id: int, amount: Decimal, reference_id: str) -> dict[str, Any]:
    return {
        "event_type": "CLIENT_WALLET_TOP_UP",
        "data": {
            "transaction_id": transaction_id,
            "transaction_type": "TRANSFER",
            "amount": amount,
            "reference_id": reference_id,
        },
    }


def invoice_pdf_bytes(row: Mapping[str, Any]) -> bytes:
    """A small but valid one-page PDF naming the invoice (correct xref offsets)."""
    text = f"Ontop invoice {row.get('invoiceNumber')} - {row.get('currency')} {row.get('total')}"
    safe = text.encode("latin-1", "replace").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    stream = b"BT /F1 12 Tf 72 720 Td (" + safe + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _updated(row: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(row["updateDate"]))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _micros_z(moment: datetime) -> str:
    """`2023-09-28T14:48:46.771546Z` (payments)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _nanos_z(moment: datetime) -> str:
    """`2023-09-29T14:01:37.151862380Z` (paylist create): nine fractional digits."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{(moment.microsecond * 7) % 1000:03d}Z"


def _epoch_nanos(moment: datetime) -> Decimal:
    """Webhook `transaction_date_time`: epoch seconds with 9 decimals."""
    micros = int(moment.timestamp()) * 1_000_000 + moment.microsecond
    return (Decimal(micros) / Decimal(1_000_000) + Decimal("0.000000693")).quantize(Decimal("0.000000001"))


def _two_places(amount: Any) -> Decimal:
    return Decimal(amount).quantize(Decimal("0.01"))
