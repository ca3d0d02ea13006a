"""A local Ontop: the documented API (Part A) on the wire, the assumed surface (Part B), faults and webhooks.

`create_ontop_emulator(state)` returns a Starlette app; everything it knows lives in `OntopEmulatorState`, which
tests drive directly or through the JSON control endpoints under `/_emulator/`. Invoices come from a streaming
`CompanyGenerator`, so a company with 100,000 invoices costs no more memory than one with 100.

Like Ontop, one address serves several client companies: each has its own admin login, and the token a login
returns (claim `clientId`) decides whose workers, invoices and webhook every later call sees. The first company
is the one the control endpoints drive; `add_company(app, state)` adds another.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.ontop import wire
from emulators.ontop.control import control_routes
from emulators.ontop.generator import CompanyGenerator, timestamp_ms
from emulators.ontop.http import WORKER_STATUS_IDS, error, int_param, json_body, json_response, paging, spring_page
from emulators.ontop.state import (
    DEFAULT_ADMIN_EMAIL,
    DEFAULT_ADMIN_PASSWORD,
    Fault,
    OntopEmulatorState,
    Patch,
    WebhookDelivery,
    invoice_event,
    invoice_pdf_bytes,
    kyc_event,
    token_client_id,
    wallet_top_up_event,
)

__all__ = [
    "DEFAULT_ADMIN_EMAIL",
    "DEFAULT_ADMIN_PASSWORD",
    "Fault",
    "OntopEmulatorState",
    "Patch",
    "WebhookDelivery",
    "add_company",
    "create_ontop_emulator",
    "invoice_event",
    "kyc_event",
    "run_ontop_emulator",
    "spring_page",
    "wallet_top_up_event",
]


def create_ontop_emulator(state: OntopEmulatorState | None = None, *others: OntopEmulatorState) -> Starlette:
    """The Ontop emulator as a Starlette app over `state` (a fresh default company when None) and, behind the same
    address, the client companies `others` (each with its own admin login and client id)."""
    emu = state or OntopEmulatorState()
    companies = [emu]
    app = Starlette(routes=_api_routes(companies) + control_routes(emu))
    app.state.ontop = emu
    app.state.ontop_companies = companies
    for other in others:
        add_company(app, other)
    return app


def add_company(app: Starlette, state: OntopEmulatorState) -> None:
    """Another client company behind the emulator's address: its admin logs in with its own email and password."""
    companies: list[OntopEmulatorState] = app.state.ontop_companies
    for known in companies:
        if known.admin_email.lower() == state.admin_email.lower() or known.client_id == state.client_id:
            raise ValueError(f"a company with admin {state.admin_email} or client id {state.client_id} exists")
    companies.append(state)


Handler = Callable[[Request, OntopEmulatorState], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


async def _company_of(request: Request, companies: list[OntopEmulatorState], login: bool) -> OntopEmulatorState:
    """The client company a request is for: the login's email, else the bearer token's clientId (the first company
    when neither names one: it then answers 400 or 401 as usual)."""
    if login:
        body = await json_body(request)  # Starlette keeps the body: the handler reads it again
        email = str(body.get("email", "")).lower() if isinstance(body, dict) else ""
        return next((company for company in companies if company.admin_email.lower() == email), companies[0])
    _, _, token = request.headers.get("authorization", "").partition(" ")
    client_id = token_client_id(token)
    return next((company for company in companies if company.client_id == client_id), companies[0])


def _api_routes(companies: list[OntopEmulatorState]) -> list[Route]:
    def api(handler: Handler, *, authenticated: bool = True, part_b: bool = False) -> Endpoint:
        """Wrap an API handler with the company it is for, the request log, faults, Part B gating and bearer auth."""

        async def endpoint(request: Request) -> Response:
            path = request.url.path
            emu = await _company_of(request, companies, login=not authenticated)
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
            return await handler(request, emu)

        return endpoint

    async def login(request: Request, emu: OntopEmulatorState) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict) or not body.get("email") or not body.get("password"):
            return error(400, "email and password are required", request.url.path)
        email_ok = hmac.compare_digest(str(body["email"]).lower(), emu.admin_email.lower())
        password_ok = hmac.compare_digest(str(body["password"]), emu.admin_password)
        if not (email_ok and password_ok):
            return error(401, "Bad credentials", request.url.path)
        emu.logins += 1
        return json_response({"token": emu.issue_token()})

    async def workers_list(request: Request, emu: OntopEmulatorState) -> Response:
        rows = emu.worker_rows()
        status_id = request.query_params.get("statusId")
        if status_id is not None:
            wanted = WORKER_STATUS_IDS.get(status_id)
            rows = [row for row in rows if row.get("status") == wanted]
        page, size = paging(request)
        return json_response(spring_page(rows[page * size : (page + 1) * size], page, size, len(rows)))

    async def worker_by_email(request: Request, emu: OntopEmulatorState) -> Response:
        email = request.query_params.get("email", "").lower()
        matches = [row for row in emu.worker_rows() if str(row.get("email", "")).lower() == email]
        if not matches:
            return error(404, "Worker not found", request.url.path)
        onboarded = [row for row in matches if row.get("status") in ("ACTIVE", "ENDED")]
        if not onboarded:
            return error(404, "Worker has not started onboarding", request.url.path)
        return json_response(onboarded[0])

    async def invite_workers(request: Request, emu: OntopEmulatorState) -> Response:
        body = await json_body(request)
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

    async def create_paylist(request: Request, emu: OntopEmulatorState) -> Response:
        body = await json_body(request)
        problem = _paylist_problem(body)
        if problem:
            return error(400, problem, request.url.path)
        return json_response(emu.create_paylist(body))

    async def list_paylists(request: Request, emu: OntopEmulatorState) -> Response:
        rows = [emu.paylist_summary(p) for p in emu.paylists.values() if _in_dates(request, p["creation_date"])]
        page, size = paging(request)
        return json_response(spring_page(rows[page * size : (page + 1) * size], page, size, len(rows)))

    async def get_paylist(request: Request, emu: OntopEmulatorState) -> Response:
        paylist = emu.paylists.get(int_param(request, "paylist_id"))
        return json_response(paylist) if paylist else error(404, "Paylist not found", request.url.path)

    async def paylist_payments(request: Request, emu: OntopEmulatorState) -> Response:
        paylist_id = int_param(request, "paylist_id")
        if paylist_id not in emu.paylists:
            return error(404, "Paylist not found", request.url.path)
        rows = [p for p in emu.payments.values() if p["paylist_id"] == paylist_id]
        page, size = paging(request)
        return json_response(spring_page(rows[page * size : (page + 1) * size], page, size, len(rows)))

    async def get_payment(request: Request, emu: OntopEmulatorState) -> Response:
        payment = emu.payments.get(int_param(request, "payment_id"))
        return json_response(payment) if payment else error(404, "Payment not found", request.url.path)

    async def list_payments(request: Request, emu: OntopEmulatorState) -> Response:
        rows = [p for p in emu.payments.values() if _in_dates(request, p["update_date"])]
        page, size = paging(request)
        return json_response(spring_page(rows[page * size : (page + 1) * size], page, size, len(rows)))

    async def list_agreements(request: Request, emu: OntopEmulatorState) -> Response:
        rows = emu.agreement_rows()
        status_id = request.query_params.get("statusId")
        if status_id is not None:
            rows = [row for row in rows if row["status"] == WORKER_STATUS_IDS.get(status_id)]
        email = request.query_params.get("email")
        if email:
            rows = [row for row in rows if row["workerEmail"].lower() == email.lower()]
        page, size = paging(request)
        return json_response(spring_page(rows[page * size : (page + 1) * size], page, size, len(rows)))

    async def get_agreement(request: Request, emu: OntopEmulatorState) -> Response:
        agreement_id = int_param(request, "agreement_id")
        row = next((row for row in emu.agreement_rows() if row["agreementId"] == agreement_id), None)
        return json_response(row) if row else error(404, "Agreement not found", request.url.path)

    async def list_invoices(request: Request, emu: OntopEmulatorState) -> Response:
        try:
            since = _instant(request.query_params.get("startDate"))
            until = _instant(request.query_params.get("endDate"))
        except ValueError:
            return error(400, "startDate and endDate must be ISO-8601 instants", request.url.path)
        statuses = set(request.query_params.getlist("status")) or None
        agreement = request.query_params.get("agreementId")
        page, size = paging(request)
        content, total = emu.invoice_page(
            since, until, page, size, statuses, int(agreement) if agreement and agreement.isdigit() else None
        )
        return json_response(spring_page(content, page, size, total))

    async def get_invoice(request: Request, emu: OntopEmulatorState) -> Response:
        row = emu.invoice_row(int_param(request, "invoice_id"))
        return json_response(row) if row else error(404, "Invoice not found", request.url.path)

    async def get_invoice_pdf(request: Request, emu: OntopEmulatorState) -> Response:
        row = emu.invoice_row(int_param(request, "invoice_id"))
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

    async def set_webhook(request: Request, emu: OntopEmulatorState) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("url"), str):
            return error(400, "url is required", request.url.path)
        emu.webhook_url = body["url"]
        emu.webhook_secret = body.get("secret") or None
        return json_response({"url": emu.webhook_url})

    async def get_webhook(request: Request, emu: OntopEmulatorState) -> Response:
        return json_response({"url": emu.webhook_url})

    async def test_webhook(request: Request, emu: OntopEmulatorState) -> Response:
        if not emu.webhook_url:
            return error(400, "no webhook configured", request.url.path)
        statuses = await emu.deliver_webhook_async({"event_type": wire.TEST_EVENT, "data": {}})
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
        Route(wire.AGREEMENTS_PATH, api(list_agreements, part_b=True), methods=["GET"]),
        Route(wire.AGREEMENTS_PATH + "/{agreement_id:int}", api(get_agreement, part_b=True), methods=["GET"]),
        Route(wire.INVOICES_PATH, api(list_invoices, part_b=True), methods=["GET"]),
        Route(wire.INVOICES_PATH + "/{invoice_id:int}", api(get_invoice, part_b=True), methods=["GET"]),
        Route(wire.INVOICES_PATH + "/{invoice_id:int}/pdf", api(get_invoice_pdf, part_b=True), methods=["GET"]),
        Route(wire.WEBHOOKS_PATH, api(set_webhook, part_b=True), methods=["POST"]),
        Route(wire.WEBHOOKS_PATH, api(get_webhook, part_b=True), methods=["GET"]),
        Route(wire.WEBHOOKS_PATH + "/test", api(test_webhook, part_b=True), methods=["POST"]),
    ]


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
