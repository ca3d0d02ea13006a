"""A local Ontop: the documented API (Part A) on the wire, the assumed surface (Part B), faults and webhooks.

`create_ontop_emulator(state)` returns a Starlette app; everything it knows lives in `OntopEmulatorState`, which
tests drive directly or through the JSON control endpoints under `/_emulator/`. Invoices come from a streaming
`CompanyGenerator`, so a company with 100,000 invoices costs no more memory than one with 100.
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
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sync.money import dumps, loads
from sync.ontop import assumed
from sync.ontop.generator import CompanyGenerator, GeneratedWorker, timestamp_ms

DEFAULT_ADMIN_EMAIL = "admin@ontop.test"
DEFAULT_ADMIN_PASSWORD = "ontop-demo-password"
DEFAULT_CLIENT_ID = 100
FIRST_PAYLIST_ID = 23
FIRST_PAYMENT_ID = 231
HTTP_REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}
HTTP_REASONS |= {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
PART_B_PREFIXES = (assumed.AGREEMENTS_PATH, assumed.INVOICES_PATH, assumed.WEBHOOKS_PATH)


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
        headers = {"Content-Type": "application/json", assumed.EVENT_ID_HEADER: event_id}
        key = secret if secret is not None else self.webhook_secret
        if key and not unsigned:
            moment = timestamp if timestamp is not None else int(self.wall_clock())
            headers[assumed.SIGNATURE_HEADER] = assumed.signature_header(key, moment, body)
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
        self.deliveries.append(WebhookDelivery(url, dict(event), status, tamper, assumed.SIGNATURE_HEADER in headers))

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
        "event_type": assumed.INVOICE_EVENT,
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


def create_ontop_emulator(state: OntopEmulatorState | None = None) -> Starlette:
    """The Ontop emulator as a Starlette app over `state` (a fresh default company when None)."""
    emu = state or OntopEmulatorState()
    routes = _api_routes(emu) + _control_routes(emu)
    app = Starlette(routes=routes)
    app.state.ontop = emu
    return app


Handler = Callable[[Request], Awaitable[Response]]


def _api_routes(emu: OntopEmulatorState) -> list[Route]:
    def api(handler: Handler, *, authenticated: bool = True, part_b: bool = False) -> Handler:
        """Wrap an API handler with the request log, faults, Part B gating and bearer auth."""

        async def endpoint(request: Request) -> Response:
            path = request.url.path
            emu.requests.append((request.method, path))
            faulted = await _apply_faults(emu, path)
            if faulted is not None:
                return faulted
            if part_b and emu.documented_only:
                return error(404, "Not found", path)
            if authenticated:
                header = request.headers.get("authorization", "")
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer" or not token or not emu.token_valid(token):
                    return error(401, "Full authentication is required to access this resource", path)
            return await handler(request)

        return endpoint

    async def login(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or not body.get("email") or not body.get("password"):
            return error(400, "email and password are required", request.url.path)
        email_ok = hmac.compare_digest(str(body["email"]).lower(), emu.admin_email.lower())
        password_ok = hmac.compare_digest(str(body["password"]), emu.admin_password)
        if not (email_ok and password_ok):
            return error(401, "Bad credentials", request.url.path)
        emu.logins += 1
        return json_response({"token": emu.issue_token()})

    async def workers_list(request: Request) -> Response:
        rows = emu.worker_rows()
        status_id = request.query_params.get("statusId")
        if status_id is not None:
            wanted = WORKER_STATUS_IDS.get(status_id)
            rows = [row for row in rows if row.get("status") == wanted]
        page, size = _paging(request)
        return json_response(spring_page(rows[page * size : (page + 1) * size], page, size, len(rows)))

    async def worker_by_email(request: Request) -> Response:
        email = request.query_params.get("email", "").lower()
        matches = [row for row in emu.worker_rows() if str(row.get("email", "")).lower() == email]
        if not matches:
            return error(404, "Worker not found", request.url.path)
        onboarded = [row for row in matches if row.get("status") in ("ACTIVE", "ENDED")]
        if not onboarded:
            return error(404, "Worker has not started onboarding", request.url.path)
        return json_response(onboarded[0])

    async def invite_workers(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, list):
            return error(400, "a JSON array of workers is required", request.url.path)
        required = ("workerName", "workerSurname", "typeOfWorker", "workerEmail", "countryIso")
        for item in body:
            missing = [name for name in required if not isinstance(item, dict) or not item.get(name)]
            if isinstance(item, dict) and item.get("typeOfWorker") == "Business" and not item.get("workerLegalName"):
                missing.append("workerLegalName")
            if missing:
                return error(400, f"missing required fields: {', '.join(missing)}", request.url.path)
        created = []
        for item in body:
            agreement_id = max(row["agreementId"] for row in emu.worker_rows()) + 1
            row = {
                "agreementId": agreement_id,
                "firstName": None,
                "lastName": None,
                "legalName": None,
                "email": item["workerEmail"],
                "jobTitle": None,
                "country": None,
                "externalId": item.get("externalId"),
                "workerCreationDate": timestamp_ms(emu.tick()),
                "status": "INVITATION_SENT",
            }
            emu.invited_workers.append(row)
            created.append({"agreementId": agreement_id, "workerEmail": item["workerEmail"]})
        return json_response(created)

    async def create_paylist(request: Request) -> Response:
        body = await _json_body(request)
        problem = _paylist_problem(body)
        if problem:
            return error(400, problem, request.url.path)
        return json_response(emu.create_paylist(body))

    async def list_paylists(request: Request) -> Response:
        rows = [emu.paylist_summary(p) for p in emu.paylists.values() if _in_dates(request, p["creation_date"])]
        page, size = _paging(request)
        return json_response(spring_page(rows[page * size : (page + 1) * size], page, size, len(rows)))

    async def get_paylist(request: Request) -> Response:
        paylist = emu.paylists.get(_int_param(request, "paylist_id"))
        return json_response(paylist) if paylist else error(404, "Paylist not found", request.url.path)

    async def paylist_payments(request: Request) -> Response:
        paylist_id = _int_param(request, "paylist_id")
        if paylist_id not in emu.paylists:
            return error(404, "Paylist not found", request.url.path)
        rows = [p for p in emu.payments.values() if p["paylist_id"] == paylist_id]
        page, size = _paging(request)
        return json_response(spring_page(rows[page * size : (page + 1) * size], page, size, len(rows)))

    async def get_payment(request: Request) -> Response:
        payment = emu.payments.get(_int_param(request, "payment_id"))
        return json_response(payment) if payment else error(404, "Payment not found", request.url.path)

    async def list_payments(request: Request) -> Response:
        rows = [p for p in emu.payments.values() if _in_dates(request, p["update_date"])]
        page, size = _paging(request)
        return json_response(spring_page(rows[page * size : (page + 1) * size], page, size, len(rows)))

    async def list_agreements(request: Request) -> Response:
        rows = emu.agreement_rows()
        status_id = request.query_params.get("statusId")
        if status_id is not None:
            rows = [row for row in rows if row["status"] == WORKER_STATUS_IDS.get(status_id)]
        email = request.query_params.get("email")
        if email:
            rows = [row for row in rows if row["workerEmail"].lower() == email.lower()]
        page, size = _paging(request)
        return json_response(spring_page(rows[page * size : (page + 1) * size], page, size, len(rows)))

    async def get_agreement(request: Request) -> Response:
        agreement_id = _int_param(request, "agreement_id")
        row = next((row for row in emu.agreement_rows() if row["agreementId"] == agreement_id), None)
        return json_response(row) if row else error(404, "Agreement not found", request.url.path)

    async def list_invoices(request: Request) -> Response:
        try:
            since = _instant(request.query_params.get("startDate"))
            until = _instant(request.query_params.get("endDate"))
        except ValueError:
            return error(400, "startDate and endDate must be ISO-8601 instants", request.url.path)
        statuses = set(request.query_params.getlist("status")) or None
        agreement = request.query_params.get("agreementId")
        page, size = _paging(request)
        content, total = emu.invoice_page(
            since, until, page, size, statuses, int(agreement) if agreement and agreement.isdigit() else None
        )
        return json_response(spring_page(content, page, size, total))

    async def get_invoice(request: Request) -> Response:
        row = emu.invoice_row(_int_param(request, "invoice_id"))
        return json_response(row) if row else error(404, "Invoice not found", request.url.path)

    async def get_invoice_pdf(request: Request) -> Response:
        row = emu.invoice_row(_int_param(request, "invoice_id"))
        if row is None:
            return error(404, "Invoice not found", request.url.path)
        if not row.get("pdfAvailable"):
            return error(404, "The invoice has no PDF yet", request.url.path)
        number = str(row.get("invoiceNumber", row["invoiceId"]))
        return Response(
            invoice_pdf_bytes(row),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{number}.pdf"'},
        )

    async def set_webhook(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("url"), str):
            return error(400, "url is required", request.url.path)
        emu.webhook_url = body["url"]
        emu.webhook_secret = body.get("secret") or None
        return json_response({"url": emu.webhook_url})

    async def get_webhook(request: Request) -> Response:
        return json_response({"url": emu.webhook_url})

    async def test_webhook(request: Request) -> Response:
        if not emu.webhook_url:
            return error(400, "no webhook configured", request.url.path)
        statuses = await emu.deliver_webhook_async({"event_type": assumed.TEST_EVENT, "data": {}})
        return json_response({"url": emu.webhook_url, "status": statuses[0]})

    return [
        Route("/login/login/v2", api(login, authenticated=False), methods=["POST"]),
        Route("/contract/workers/list", api(workers_list), methods=["GET"]),
        Route("/contract/workers", api(worker_by_email), methods=["GET"]),
        Route("/contract/workers/inviteWorkersBulkLocked", api(invite_workers), methods=["POST"]),
        Route("/payment-agent/paylists", api(create_paylist), methods=["POST"]),
        Route("/payment-agent/paylists", api(list_paylists), methods=["GET"]),
        Route("/payment-agent/paylists/{paylist_id:int}", api(get_paylist), methods=["GET"]),
        Route("/payment-agent/paylists/{paylist_id:int}/payments", api(paylist_payments), methods=["GET"]),
        Route("/payment-agent/payments", api(list_payments), methods=["GET"]),
        Route("/payment-agent/payments/{payment_id:int}", api(get_payment), methods=["GET"]),
        Route(assumed.AGREEMENTS_PATH, api(list_agreements, part_b=True), methods=["GET"]),
        Route(assumed.AGREEMENTS_PATH + "/{agreement_id:int}", api(get_agreement, part_b=True), methods=["GET"]),
        Route(assumed.INVOICES_PATH, api(list_invoices, part_b=True), methods=["GET"]),
        Route(assumed.INVOICES_PATH + "/{invoice_id:int}", api(get_invoice, part_b=True), methods=["GET"]),
        Route(assumed.INVOICES_PATH + "/{invoice_id:int}/pdf", api(get_invoice_pdf, part_b=True), methods=["GET"]),
        Route(assumed.WEBHOOKS_PATH, api(set_webhook, part_b=True), methods=["POST"]),
        Route(assumed.WEBHOOKS_PATH, api(get_webhook, part_b=True), methods=["GET"]),
        Route(assumed.WEBHOOKS_PATH + "/test", api(test_webhook, part_b=True), methods=["POST"]),
    ]


def _control_routes(emu: OntopEmulatorState) -> list[Route]:
    async def summary(request: Request) -> Response:
        return json_response(
            {
                "now": timestamp_ms(emu.clock),
                "logins": emu.logins,
                "requests": len(emu.requests),
                "faults": len(emu.faults),
                "webhook_url": emu.webhook_url,
                "deliveries": [
                    {"url": d.url, "event_type": d.event.get("event_type"), "status": d.status_code}
                    for d in emu.deliveries
                ],
                "workers": len(emu.worker_rows()),
                "invoices": emu.generator.invoice_count,
                "documented_only": emu.documented_only,
            }
        )

    async def reset(request: Request) -> Response:
        emu.reset()
        return json_response({"ok": True})

    async def add_fault(request: Request) -> Response:
        body = await _json_body(request)
        items = body if isinstance(body, list) else [body]
        try:
            emu.faults.extend(Fault.from_json(item) for item in items)
        except (TypeError, ValueError) as exc:
            return json_response({"error": str(exc)}, status=400)
        return json_response({"faults": len(emu.faults)})

    async def clear_faults(request: Request) -> Response:
        emu.faults.clear()
        return json_response({"faults": 0})

    async def advance(request: Request) -> Response:
        body = await _json_body(request)
        seconds = float(body.get("seconds", 0)) if isinstance(body, dict) else 0.0
        events = emu.advance(seconds)
        if emu.webhook_url:
            for event in events:
                await emu.deliver_webhook_async(event)
        return json_response({"now": timestamp_ms(emu.clock), "events": len(events)})

    async def settle(request: Request) -> Response:
        settled = emu.settle_payments()
        if emu.webhook_url:
            for payment in settled:
                await emu.deliver_webhook_async(emu.payment_event(payment))
        return json_response({"settled": [payment["id"] for payment in settled]})

    async def expire_tokens(request: Request) -> Response:
        emu.expire_tokens()
        return json_response({"token_generation": emu.token_generation})

    async def touch_invoice(request: Request) -> Response:
        body = await _json_body(request)
        try:
            event = emu.touch_invoice(_int_param(request, "invoice_id"), **(body if isinstance(body, dict) else {}))
        except KeyError:
            return json_response({"error": "no such invoice"}, status=404)
        if emu.webhook_url:
            await emu.deliver_webhook_async(event)
        return json_response(emu.invoice_row(_int_param(request, "invoice_id")))

    async def patch_invoice(request: Request) -> Response:
        body = await _json_body(request)
        body = body if isinstance(body, dict) else {}
        emu.invoice_patches[_int_param(request, "invoice_id")] = Patch(body.get("set", {}), tuple(body.get("drop", ())))
        return json_response({"ok": True})

    async def patch_worker(request: Request) -> Response:
        body = await _json_body(request)
        body = body if isinstance(body, dict) else {}
        emu.worker_patches[_int_param(request, "agreement_id")] = Patch(
            body.get("set", {}), tuple(body.get("drop", ()))
        )
        return json_response({"ok": True})

    async def activate_worker(request: Request) -> Response:
        event = emu.activate_worker(_int_param(request, "agreement_id"))
        if emu.webhook_url:
            await emu.deliver_webhook_async(event)
        return json_response(event)

    async def fire_webhook(request: Request) -> Response:
        """Body: {"event": {...}} or {"events": [...]}, optional url, duplicates, tamper, unsigned, event_id."""
        body = await _json_body(request)
        if not isinstance(body, dict):
            return json_response({"error": "a JSON object is required"}, status=400)
        events = body.get("events") or [body.get("event") or {"event_type": assumed.TEST_EVENT, "data": {}}]
        statuses = []
        try:
            for event in events:
                statuses += await emu.deliver_webhook_async(
                    event,
                    body.get("url"),
                    duplicates=int(body.get("duplicates", 0)),
                    tamper=bool(body.get("tamper")),
                    unsigned=bool(body.get("unsigned")),
                    event_id=body.get("event_id"),
                )
        except ValueError as exc:
            return json_response({"error": str(exc)}, status=400)
        return json_response({"statuses": statuses})

    prefix = "/_emulator"
    return [
        Route(prefix + "/state", summary, methods=["GET"]),
        Route(prefix + "/reset", reset, methods=["POST"]),
        Route(prefix + "/faults", add_fault, methods=["POST"]),
        Route(prefix + "/faults", clear_faults, methods=["DELETE"]),
        Route(prefix + "/advance", advance, methods=["POST"]),
        Route(prefix + "/settle", settle, methods=["POST"]),
        Route(prefix + "/expire-tokens", expire_tokens, methods=["POST"]),
        Route(prefix + "/invoices/{invoice_id:int}/touch", touch_invoice, methods=["POST"]),
        Route(prefix + "/invoices/{invoice_id:int}/patch", patch_invoice, methods=["POST"]),
        Route(prefix + "/workers/{agreement_id:int}/patch", patch_worker, methods=["POST"]),
        Route(prefix + "/workers/{agreement_id:int}/activate", activate_worker, methods=["POST"]),
        Route(prefix + "/webhooks/fire", fire_webhook, methods=["POST"]),
    ]


WORKER_STATUS_IDS = {"0": "ACTIVE", "1": "INVITATION_SENT", "2": "VERIFICATION_PENDING", "3": "ENDED"}


def spring_page(content: list[Any], page: int, size: int, total: int) -> dict[str, Any]:
    """The full Spring Data Page wrapper (A.3), 0-based."""
    sort = {"empty": True, "sorted": False, "unsorted": True}
    total_pages = -(-total // size) if size else 0
    return {
        "content": content,
        "pageable": {
            "sort": dict(sort),
            "offset": page * size,
            "pageNumber": page,
            "pageSize": size,
            "paged": True,
            "unpaged": False,
        },
        "last": page >= total_pages - 1,
        "totalPages": total_pages,
        "totalElements": total,
        "number": page,
        "sort": dict(sort),
        "size": size,
        "first": page == 0,
        "numberOfElements": len(content),
        "empty": not content,
    }


def error(status: int, message: str, path: str, headers: Mapping[str, str] | None = None) -> Response:
    """The Spring Boot error body (B.2)."""
    body = {
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "status": status,
        "error": HTTP_REASONS.get(status, "Error"),
        "message": message,
        "path": path,
    }
    return json_response(body, status=status, headers=headers)


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json", headers=dict(headers or {}))


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


async def _apply_faults(emu: OntopEmulatorState, path: str) -> Response | None:
    for fault in list(emu.faults):
        if not path.startswith(fault.path):
            continue
        if fault.skip > 0:
            fault.skip -= 1
            continue
        fault.times -= 1
        if fault.times <= 0:
            emu.faults.remove(fault)
        if fault.delay_seconds:
            await asyncio.sleep(fault.delay_seconds)
        for invoice_id in fault.touch_invoices:
            emu.touch_invoice(invoice_id)
        if fault.expire_tokens:
            emu.expire_tokens()
            return None
        if fault.status is not None and fault.status >= 400:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
            return error(fault.status, "Injected fault", path, headers)
        return None
    return None


async def _json_body(request: Request) -> Any:
    try:
        return loads(await request.body())
    except ValueError:
        return None


def _paylist_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "a JSON object is required"
    key = body.get("idempotence_key")
    if not isinstance(key, str) or len(key) != 32:
        return "idempotence_key must be 32 characters"
    if not isinstance(body.get("description"), str):
        return "description is required"
    payments = body.get("payments")
    if not isinstance(payments, list) or not payments:
        return "payments are required"
    for item in payments:
        if not isinstance(item, dict) or not item.get("worker_email") or not item.get("description"):
            return "each payment needs worker_email, amount and description"
        amount = item.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int | Decimal) or amount <= 0:
            return "each payment needs a positive amount"
    return None


def _paging(request: Request) -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        raw = request.query_params.get(name)
        return int(raw) if raw and raw.isdigit() else default

    return number("page", 0), max(1, min(number("size", 20), 1000))


def _int_param(request: Request, name: str) -> int:
    return int(request.path_params[name])


def _instant(raw: str | None) -> datetime | None:
    """ISO-8601 instant; a bare date is midnight UTC (B.4)."""
    if not raw:
        return None
    moment = datetime.fromisoformat(raw if "T" in raw else raw + "T00:00:00+00:00")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _in_dates(request: Request, stamp: str) -> bool:
    try:
        start = _instant(request.query_params.get("startDate"))
        end = _instant(request.query_params.get("endDate"))
    except ValueError:
        return True
    moment = datetime.fromisoformat(stamp)
    return (start is None or moment >= start) and (end is None or moment < end)


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


def run_ontop_emulator(
    host: str = "127.0.0.1",
    port: int = 8766,
    workers: int = 40,
    invoices: int = 400,
    months: int = 6,
    seed: int = 7,
    *,
    admin_email: str = DEFAULT_ADMIN_EMAIL,
    admin_password: str = DEFAULT_ADMIN_PASSWORD,
    documented_only: bool = False,
) -> None:
    """Serve the emulator until interrupted (`qbo-bot emulator ontop --port N`)."""
    state = OntopEmulatorState(
        generator=CompanyGenerator(workers=workers, invoices=invoices, months=months, seed=seed),
        admin_email=admin_email,
        admin_password=admin_password,
        documented_only=documented_only,
        webhook_retry_delays=(1.0, 5.0, 25.0),
    )
    uvicorn.run(create_ontop_emulator(state), host=host, port=port, log_level="info")
