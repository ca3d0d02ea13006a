"""The emulator reproduces the documented Ontop shapes (Part A) and the assumed surface (Part B) on real HTTP."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devtools.server import BackgroundServer
from emulators.ontop.app import (
    DEFAULT_ADMIN_EMAIL,
    DEFAULT_ADMIN_PASSWORD,
    OntopEmulatorState,
    create_ontop_emulator,
    wallet_top_up_event,
)
from emulators.ontop.generator import CompanyGenerator
from sync.money import loads

# Key orders copied from the reference examples (../shared/reference/ontop-api.md, Part A).
PAGE_KEYS = ["content", "pageable", "last", "totalPages", "totalElements", "number", "sort", "size", "first",
             "numberOfElements", "empty"]  # fmt: skip
PAGEABLE_KEYS = ["sort", "offset", "pageNumber", "pageSize", "paged", "unpaged"]
SORT = {"empty": True, "sorted": False, "unsorted": True}
WORKER_KEYS = ["agreementId", "firstName", "lastName", "legalName", "email", "jobTitle", "country", "externalId",
               "workerCreationDate", "status"]  # fmt: skip
PAYLIST_CREATED_KEYS = ["id", "description", "client_id", "idempotence_key", "creation_date"]
PAYMENT_KEYS = ["id", "description", "amount", "worker_email", "paylist_id", "idempotence_key", "creation_date",
                "update_date", "status", "cause"]  # fmt: skip
PAYLIST_LIST_KEYS = ["paylistId", "flowStage", "description", "total"]
ERROR_KEYS = ["timestamp", "status", "error", "message", "path"]
KYC_DATA_KEYS = ["status", "worker_id", "client_id", "external_id", "worker_email"]
PAYMENT_DATA_KEYS = ["payment_id", "client_id", "worker_id", "paylist_id", "idempotency_key", "email",
                     "transaction_status", "transaction_amount", "transaction_date_time"]  # fmt: skip
TOP_UP_DATA_KEYS = ["transaction_id", "transaction_type", "amount", "reference_id"]
INVOICE_KEYS = ["invoiceId", "invoiceNumber", "agreementId", "workerEmail", "externalId", "status", "periodStart",
                "periodEnd", "issueDate", "dueDate", "paidDate", "currency", "total", "exchangeRate", "totalUsd",
                "pdfAvailable", "notes", "lines", "creationDate", "updateDate"]  # fmt: skip
LINE_KEYS = ["lineNumber", "concept", "conceptLabel", "title", "quantity", "unitAmount", "amount", "amountUsd"]

MILLIS_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")
MICROS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
NANOS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
KEY_32 = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def http(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url) as session:
        yield session


@pytest.fixture
def authed(http: httpx.Client) -> httpx.Client:
    response = http.post("/login/login/v2", json={"email": DEFAULT_ADMIN_EMAIL, "password": DEFAULT_ADMIN_PASSWORD})
    http.headers["Authorization"] = f"Bearer {response.json()['token']}"
    return http


def body(response: httpx.Response) -> Any:
    return loads(response.content)


def test_login_accepts_the_documented_body_and_issues_a_jwt_with_exp(http: httpx.Client) -> None:
    documented = {"email": DEFAULT_ADMIN_EMAIL, "password": DEFAULT_ADMIN_PASSWORD, "rememberMe": False,
                  "recaptchaToken": "", "user": DEFAULT_ADMIN_EMAIL, "ip": "190.236.144.113",
                  "webDeviceInfo": "Backend"}  # fmt: skip
    response = http.post("/login/login/v2", json=documented)
    assert response.status_code == 200
    payload = response.json()["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["exp"] - claims["iat"] == 900 and claims["sub"] == DEFAULT_ADMIN_EMAIL and claims["clientId"] == 100


def test_login_requires_email_and_password_and_refuses_bad_ones(http: httpx.Client) -> None:
    assert http.post("/login/login/v2", json={"email": DEFAULT_ADMIN_EMAIL}).status_code == 400
    refused = http.post("/login/login/v2", json={"email": DEFAULT_ADMIN_EMAIL, "password": "nope"})
    assert refused.status_code == 401 and list(refused.json()) == ERROR_KEYS


def test_calls_without_a_valid_bearer_get_401(http: httpx.Client, state: OntopEmulatorState) -> None:
    assert http.get("/contract/workers/list").status_code == 401
    assert http.get("/contract/workers/list", headers={"Authorization": "Bearer x.y.z"}).status_code == 401
    token = state.issue_token()
    state.expire_tokens()
    assert http.get("/contract/workers/list", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_workers_list_is_the_full_spring_page_with_documented_rows(authed: httpx.Client) -> None:
    response = authed.get("/contract/workers/list", params={"page": 1, "size": 5})
    page = body(response)
    assert list(page) == PAGE_KEYS and list(page["pageable"]) == PAGEABLE_KEYS
    assert page["sort"] == SORT and page["pageable"]["sort"] == SORT
    assert (page["number"], page["size"], page["pageable"]["offset"], page["totalElements"]) == (1, 5, 5, 12)
    assert (page["totalPages"], page["first"], page["last"], page["numberOfElements"]) == (3, False, False, 5)
    assert all(list(row) == WORKER_KEYS for row in page["content"])
    assert all(MILLIS_OFFSET.match(row["workerCreationDate"]) for row in page["content"])
    default = body(authed.get("/contract/workers/list"))
    assert default["size"] == 20 and default["last"] is True and default["number"] == 0


def test_workers_list_filters_by_status_id(authed: httpx.Client) -> None:
    invited = body(authed.get("/contract/workers/list", params={"statusId": 1}))["content"]
    assert invited and all(row["status"] == "INVITATION_SENT" and row["firstName"] is None for row in invited)
    ended = body(authed.get("/contract/workers/list", params={"statusId": 3}))["content"]
    assert ended and all(row["status"] == "ENDED" for row in ended)


def test_worker_lookup_by_email_is_unwrapped_and_404_before_onboarding(
    authed: httpx.Client, state: OntopEmulatorState
) -> None:
    found = authed.get("/contract/workers", params={"email": state.generator.workers[0].email})
    assert found.status_code == 200 and list(found.json()) == WORKER_KEYS
    pending = authed.get("/contract/workers", params={"email": state.generator.workers[5].email})
    assert pending.status_code == 404 and list(pending.json()) == ERROR_KEYS
    assert pending.json()["message"] == "Worker has not started onboarding"


def test_paylist_create_answers_200_with_the_documented_shape(authed: httpx.Client, state: OntopEmulatorState) -> None:
    email = state.generator.workers[0].email
    request = {"description": "Payments september", "idempotence_key": KEY_32, "client_id": 100,
               "payments": [{"description": "Payment 1", "amount": 10, "worker_email": email}]}  # fmt: skip
    created = authed.post("/payment-agent/paylists", json=request)
    assert created.status_code == 200 and list(created.json()) == PAYLIST_CREATED_KEYS
    assert NANOS_Z.match(created.json()["creation_date"])
    again = authed.post("/payment-agent/paylists", json=request)
    assert again.json() == created.json()  # same idempotence_key, same paylist
    short_key = authed.post("/payment-agent/paylists", json={**request, "idempotence_key": "anuniquekey123"})
    assert short_key.status_code == 400


def test_payments_have_documented_shapes_bare_amounts_and_settle(
    authed: httpx.Client, state: OntopEmulatorState
) -> None:
    workers = state.generator.workers
    request = {"description": "Payments october", "idempotence_key": KEY_32, "payments": [
        {"description": "ok", "amount": 10, "worker_email": workers[0].email},
        {"description": "ended", "amount": 30, "worker_email": workers[2].email},
        {"description": "unknown", "amount": 5, "worker_email": "ghost@example.com"}]}  # fmt: skip
    paylist_id = authed.post("/payment-agent/paylists", json=request).json()["id"]
    listed = authed.get(f"/payment-agent/paylists/{paylist_id}/payments", params={"page": 0, "size": 20})
    page = body(listed)
    assert list(page) == PAGE_KEYS and all(list(row) == PAYMENT_KEYS for row in page["content"])
    assert '"amount":10.00' in listed.text  # a bare number, no currency
    assert all(MICROS_Z.match(row["creation_date"]) for row in page["content"])
    assert {row["status"] for row in page["content"]} == {"PENDING"}
    settled = {payment["id"]: payment for payment in state.settle_payments()}
    statuses = sorted((p["status"], p["cause"]) for p in settled.values())
    assert statuses == [("FAILURE", "Worker is not active"), ("REJECTED", "Worker not found"), ("SUCCESS", None)]
    one = authed.get(f"/payment-agent/payments/{page['content'][0]['id']}")
    assert list(one.json()) == PAYMENT_KEYS and one.json()["status"] == "SUCCESS"
    everything = body(authed.get("/payment-agent/payments"))
    assert everything["totalElements"] == len(state.payments)
    paylists = body(authed.get("/payment-agent/paylists"))
    assert all(list(row) == PAYLIST_LIST_KEYS for row in paylists["content"])
    assert paylists["content"][-1]["flowStage"] == "COMPLETED" and paylists["content"][-1]["total"] == Decimal("45.00")


def test_documented_webhook_events_have_the_reference_shapes(state: OntopEmulatorState) -> None:
    payment = state.payments[min(state.payments)]
    payment_event = state.payment_event(payment)
    assert list(payment_event) == ["event_type", "data"] and list(payment_event["data"]) == PAYMENT_DATA_KEYS
    moment = payment_event["data"]["transaction_date_time"]
    assert isinstance(moment, Decimal) and moment.as_tuple().exponent == -9
    assert list(state.activate_worker(17)["data"]) == KYC_DATA_KEYS
    assert list(wallet_top_up_event(7, Decimal(1000), "ref")["data"]) == TOP_UP_DATA_KEYS


def test_invoices_are_sorted_by_update_time_then_id_and_shaped_as_assumed(authed: httpx.Client) -> None:
    rows: list[dict[str, Any]] = []
    for page_number in range(100):
        page = body(authed.get("/contract/invoices", params={"page": page_number, "size": 50}))
        rows += page["content"]
        if page["last"]:
            break
    assert len(rows) == page["totalElements"] == 240
    keys = [(row["updateDate"], row["invoiceId"]) for row in rows]
    assert keys == sorted(keys)
    assert all(list(row)[: len(INVOICE_KEYS)] == INVOICE_KEYS for row in rows if "correctsInvoiceId" not in row)
    assert all(list(line) == LINE_KEYS for row in rows for line in row["lines"])


def test_invoice_date_filters_and_pdf(authed: httpx.Client, state: OntopEmulatorState) -> None:
    since = state.generator.created_at(200)
    page = body(authed.get("/contract/invoices", params={"startDate": since.isoformat(), "size": 500}))
    assert page["content"] and all(
        row["updateDate"] >= since.isoformat(timespec="milliseconds") for row in page["content"]
    )
    assert page["totalElements"] == len(page["content"])
    paid = next(row for row in page["content"] if row["pdfAvailable"])
    pdf = authed.get(f"/contract/invoices/{paid['invoiceId']}/pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-disposition"] == f'attachment; filename="{paid["invoiceNumber"]}.pdf"'
    # A valid file: every xref offset points at its object, startxref at the table.
    offsets = [int(offset) for offset in re.findall(rb"(\d{10}) 00000 n", pdf.content)]
    assert [pdf.content[offset:].split(b" ", 1)[0] for offset in offsets] == [b"1", b"2", b"3", b"4", b"5"]
    start = int(re.findall(rb"startxref\n(\d+)", pdf.content)[0])
    assert pdf.content[start:].startswith(b"xref") and pdf.content.endswith(b"%%EOF\n")


def test_documented_only_mode_answers_404_on_the_assumed_surface(state: OntopEmulatorState) -> None:
    state.documented_only = True
    with BackgroundServer(create_ontop_emulator(state)) as server, httpx.Client(base_url=server.url) as http:
        token = http.post("/login/login/v2", json={"email": DEFAULT_ADMIN_EMAIL, "password": DEFAULT_ADMIN_PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['token']}"}
        missing = http.get("/contract/invoices", headers=headers)
        assert missing.status_code == 404 and list(missing.json()) == ERROR_KEYS
        assert http.get("/contract/workers/list", headers=headers).status_code == 200


def test_control_endpoints_inject_429_with_retry_after(http: httpx.Client, authed: httpx.Client) -> None:
    http.post("/_emulator/faults", json={"status": 429, "path": "/contract/workers/list", "retry_after": 7})
    limited = authed.get("/contract/workers/list")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert authed.get("/contract/workers/list").status_code == 200


def test_advancing_the_clock_changes_invoices_and_pushes_signed_invoice_webhooks(
    http: httpx.Client, authed: httpx.Client, state: OntopEmulatorState
) -> None:
    received: list[tuple[dict[str, Any], str | None]] = []

    async def hook(request: Request) -> Response:
        received.append((json.loads(await request.body()), request.headers.get("x-ontop-signature")))
        return Response(status_code=204)

    state.now = state.generator.created_at(120)
    before = {
        row["invoiceId"]: row["status"]
        for row in body(authed.get("/contract/invoices", params={"size": 500}))["content"]
    }
    with BackgroundServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as receiver:
        assert authed.post("/webhooks", json={"url": receiver.url + "/hook", "secret": "whsec"}).json() == {
            "url": receiver.url + "/hook"
        }
        assert authed.get("/webhooks").json() == {"url": receiver.url + "/hook"}  # never the secret
        events = http.post("/_emulator/advance", json={"seconds": 3 * 86_400}).json()["events"]
    after = {
        row["invoiceId"]: row["status"]
        for row in body(authed.get("/contract/invoices", params={"size": 500}))["content"]
    }
    changed = [invoice_id for invoice_id, status in before.items() if after.get(invoice_id) != status]
    assert changed and events >= len(changed)
    invoice_events = [event for event, _ in received if event["event_type"] == "INVOICE"]
    assert {event["data"]["invoice_id"] for event in invoice_events} >= set(changed)
    assert all(signature and signature.startswith("t=") for _, signature in received)


def test_page_totals_stay_consistent_after_an_invoice_changes(authed: httpx.Client, state: OntopEmulatorState) -> None:
    state.touch_invoice(5003)
    state.touch_invoice(5010, status="PAID")
    served: list[int] = []
    for page_number in range(100):
        page = body(authed.get("/contract/invoices", params={"page": page_number, "size": 40}))
        served += [row["invoiceId"] for row in page["content"]]
        if page["last"]:
            break
    assert page["totalElements"] == len(served) == len(set(served)) == 240
    assert served[-2:] == [5003, 5010]  # changed last, so sorted last


def test_reset_restores_the_generated_company(
    http: httpx.Client, authed: httpx.Client, state: OntopEmulatorState
) -> None:
    original = authed.get("/contract/invoices/5001").json()
    state.touch_invoice(5001, status="CANCELLED")
    http.post("/_emulator/faults", json={"status": 500, "path": "/nowhere", "times": 3})
    assert authed.get("/contract/invoices/5001").json()["status"] == "CANCELLED"
    assert http.post("/_emulator/reset").status_code == 200
    assert state.faults == [] and state.invoice_overrides == {}
    relogin = http.post("/login/login/v2", json={"email": DEFAULT_ADMIN_EMAIL, "password": DEFAULT_ADMIN_PASSWORD})
    fresh = http.get("/contract/invoices/5001", headers={"Authorization": f"Bearer {relogin.json()['token']}"})
    assert fresh.json() == original


def test_fired_webhooks_arrive_in_the_requested_order_and_are_retried_until_accepted(
    http: httpx.Client, state: OntopEmulatorState
) -> None:
    answers = iter([503, 200, 200])
    received: list[str] = []

    async def hook(request: Request) -> Response:
        received.append(json.loads(await request.body())["data"]["invoice_status"])
        return Response(status_code=next(answers))

    state.webhook_retry_delays = (0.0,)
    events = [{"event_type": "INVOICE", "data": {"invoice_id": 1, "invoice_status": s}} for s in ("PAID", "PENDING")]
    with BackgroundServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as receiver:
        fired = http.post("/_emulator/webhooks/fire", json={"url": receiver.url + "/hook", "events": events})
    assert fired.json() == {"statuses": [503, 200, 200]}
    assert received == ["PAID", "PAID", "PENDING"]  # out of order on purpose, the first one retried


def test_each_client_company_logs_in_with_its_own_admin_and_sees_only_its_own_data() -> None:
    first = OntopEmulatorState(generator=CompanyGenerator(workers=8, invoices=10, months=1, seed=1))
    second = OntopEmulatorState(
        generator=CompanyGenerator(workers=9, invoices=12, months=1, seed=2),
        admin_email="finance@acme-europe.test",
        admin_password="another-password",
        client_id=200,
    )
    with BackgroundServer(create_ontop_emulator(first, second)) as server, httpx.Client(base_url=server.url) as http:

        def workers(email: str, password: str) -> int:
            token = http.post("/login/login/v2", json={"email": email, "password": password}).json()["token"]
            answer = http.get("/contract/workers/list", headers={"Authorization": f"Bearer {token}"})
            return int(answer.json()["totalElements"])

        assert workers(DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD) == 8
        assert workers("finance@acme-europe.test", "another-password") == 9
        refused = http.post(
            "/login/login/v2", json={"email": "finance@acme-europe.test", "password": "ontop-demo-password"}
        )
        assert refused.status_code == 401  # one company's password does not open another's
    with pytest.raises(ValueError, match="client id 200"):
        create_ontop_emulator(first, second, OntopEmulatorState(admin_email="x@y.test", client_id=200))
