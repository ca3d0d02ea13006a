"""Webhook intake: authentication, parsing, deduplication, ordering and the sync decision."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devtools.server import BackgroundServer
from emulators.ontop.app import OntopEmulatorState, invoice_event
from sync.ontop.webhooks import (
    DeliveryVerdict,
    Ignore,
    InMemoryWebhookSeenStore,
    SyncSoon,
    WebhookOutcome,
    parse_webhook,
    receive_webhook,
    verify_webhook,
)

PATH_TOKEN = "p4th-t0ken-unguessable"
SECRET = "whsec_test_secret"
CONNECTION = 7

PAYMENT: dict[str, Any] = {
    "event_type": "PAYMENT",
    "data": {
        "payment_id": 20,
        "client_id": 999,
        "worker_id": 111,
        "paylist_id": 24,
        "idempotency_key": "bea3502a2a5a1f776bce4d7c2ce6f267",
        "email": "john.doe@example.com",
        "transaction_status": "SUCCESS",
        "transaction_amount": Decimal("100.00"),
        "transaction_date_time": Decimal("1698708987.544633693"),
    },
}
KYC = {"event_type": "KYC", "data": {"status": "ACTIVE", "worker_id": 888, "client_id": 999,
       "external_id": "abc123", "worker_email": "john.doe@example.com"}}  # fmt: skip


def invoice(status: str) -> dict[str, Any]:
    return {"event_type": "INVOICE", "data": {"invoice_id": 5012, "invoice_number": "INV-2024-05-000512",
            "agreement_id": 17, "client_id": 100, "worker_email": "maria.souza@example.com",
            "external_id": "SFK006", "invoice_status": status}}  # fmt: skip


@pytest.fixture
def store() -> InMemoryWebhookSeenStore:
    return InMemoryWebhookSeenStore()


async def receive(
    state: OntopEmulatorState,
    store: InMemoryWebhookSeenStore,
    event: dict[str, Any],
    *,
    secret: str | None = SECRET,
    path_token: str = PATH_TOKEN,
    **request_options: Any,
) -> WebhookOutcome:
    """Build the request exactly as the emulator would send it (signed with SECRET) and receive it."""
    body, headers = state.webhook_request(event, secret=SECRET, **request_options)
    return await receive_webhook(
        connection_id=CONNECTION,
        path_token=path_token,
        expected_path_token=PATH_TOKEN,
        body=body,
        headers=headers,
        secret=secret,
        store=store,
    )


async def test_a_signed_payment_success_means_sync_this_connection_soon(
    state: OntopEmulatorState, store: InMemoryWebhookSeenStore
) -> None:
    outcome = await receive(state, store, PAYMENT)
    assert outcome.status_code == 200 and outcome.verdict == DeliveryVerdict.NEW
    assert isinstance(outcome.decision, SyncSoon) and outcome.decision.connection_id == CONNECTION
    assert outcome.event is not None and outcome.event.data["transaction_amount"] == Decimal("100.00")


async def test_without_a_secret_the_path_token_alone_authenticates(
    state: OntopEmulatorState, store: InMemoryWebhookSeenStore
) -> None:
    accepted = await receive(state, store, KYC, secret=None, unsigned=True)
    assert accepted.status_code == 200 and isinstance(accepted.decision, Ignore)
    wrong_path = await receive(state, store, KYC, secret=None, unsigned=True, path_token="guess")
    assert wrong_path.status_code == 401 and wrong_path.decision is None


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"unsigned": True}, "missing signature"),
        ({"tamper": True}, "signature mismatch"),
        ({"timestamp": int(time.time()) - 301}, "signature timestamp outside the allowed window"),
    ],
)
async def test_unsigned_tampered_or_replayed_deliveries_get_401(
    state: OntopEmulatorState, store: InMemoryWebhookSeenStore, options: dict[str, Any], reason: str
) -> None:
    outcome = await receive(state, store, PAYMENT, **options)
    assert (outcome.status_code, outcome.reason, outcome.decision) == (401, reason, None)


def test_a_signature_made_with_another_secret_is_rejected(state: OntopEmulatorState) -> None:
    body, headers = state.webhook_request(PAYMENT, secret="someone-else")
    verdict = verify_webhook(
        path_token=PATH_TOKEN, expected_path_token=PATH_TOKEN, body=body, headers=headers, secret=SECRET
    )
    assert not verdict.ok and verdict.status_code == 401


async def test_a_repeated_delivery_is_a_duplicate_and_ignored(
    state: OntopEmulatorState, store: InMemoryWebhookSeenStore
) -> None:
    first = await receive(state, store, PAYMENT, event_id="evt-1")
    again_same_id = await receive(state, store, PAYMENT, event_id="evt-1")
    again_new_id = await receive(state, store, PAYMENT, event_id="evt-2")  # a retry Ontop numbered anew
    assert first.verdict == DeliveryVerdict.NEW
    assert again_same_id.verdict == again_new_id.verdict == DeliveryVerdict.DUPLICATE
    assert isinstance(again_same_id.decision, Ignore) and again_same_id.status_code == 200


async def test_an_older_status_arriving_late_is_stale(
    state: OntopEmulatorState, store: InMemoryWebhookSeenStore
) -> None:
    paid = await receive(state, store, invoice("PAID"))
    late_pending = await receive(state, store, invoice("PENDING"))
    assert paid.verdict == DeliveryVerdict.NEW and isinstance(paid.decision, SyncSoon)
    assert late_pending.verdict == DeliveryVerdict.STALE and isinstance(late_pending.decision, Ignore)


async def test_in_order_status_changes_are_each_new(state: OntopEmulatorState, store: InMemoryWebhookSeenStore) -> None:
    verdicts = [(await receive(state, store, invoice(status))).verdict for status in ("DRAFT", "PENDING", "PAID")]
    assert verdicts == [DeliveryVerdict.NEW] * 3


async def test_failed_payments_kyc_top_ups_and_unknown_events_are_acknowledged_but_ignored(
    state: OntopEmulatorState, store: InMemoryWebhookSeenStore
) -> None:
    failed = {"event_type": "PAYMENT", "data": {**PAYMENT["data"], "payment_id": 21, "transaction_status": "FAILURE"}}
    top_up = {"event_type": "CLIENT_WALLET_TOP_UP", "data": {"transaction_id": 7, "transaction_type": "TRANSFER",
              "amount": 1000, "reference_id": "aabvadasxxxxbxyyyzzz"}}  # fmt: skip
    for event in (failed, KYC, top_up, {"event_type": "CONTRACT_SIGNED", "data": {"x": 1}}):
        outcome = await receive(state, store, event)
        assert outcome.status_code == 200 and isinstance(outcome.decision, Ignore), event["event_type"]


UNREADABLE = {
    "not_json": b"not json",
    "no_event_type": b'{"data": {}}',
    "payment_without_fields": json.dumps({"event_type": "PAYMENT", "data": {}}).encode(),
    "not_utf8": b'{"event_type": "\xff\xfe"}',
    "nested_past_the_stack": b"[" * 20_000 + b"]" * 20_000,
    "data_nested_past_the_stack": b'{"event_type": "INVOICE", "data": {"invoice_id": '
    + b"[" * 20_000
    + b"]" * 20_000
    + b"}}",
    "a_time_that_is_not_a_number": b'{"event_type": "PAYMENT", "data": {"payment_id": 1, "transaction_status": '
    b'"SUCCESS", "transaction_date_time": "soon"}}',
    "a_time_that_is_not_finite": b'{"event_type": "PAYMENT", "data": {"payment_id": 1, "transaction_status": '
    b'"SUCCESS", "transaction_date_time": "NaN"}}',
}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_every_unreadable_body_is_a_payload_error_whatever_failed_inside(case: str) -> None:
    """A signed delivery that cannot be read must become a 400 (WebhookPayloadError), never a 500: JSON errors,
    nesting past the interpreter's stack (RecursionError) and numbers that are not money (MoneyError) alike."""
    from sync.ontop.webhooks import WebhookPayloadError

    with pytest.raises(WebhookPayloadError) as raised:
        parse_webhook(UNREADABLE[case])
    assert "soon" not in str(raised.value) and "NaN" not in str(raised.value), "the reason never quotes the body"


@pytest.mark.parametrize("candidate", ["é" * 64, "\x00" * 64, "0" * 63, ""])
def test_signatures_are_compared_as_bytes_so_any_header_text_is_refused_never_raises(candidate: str) -> None:
    from sync.ontop import assumed

    now = int(time.time())
    ok, reason = assumed.signature_valid(SECRET, f"t={now},v1={candidate}", b"{}", now)
    assert (ok, reason) == (False, "signature mismatch")


async def test_rejections_log_no_secret_or_signature(
    state: OntopEmulatorState, store: InMemoryWebhookSeenStore
) -> None:
    body, headers = state.webhook_request(PAYMENT, secret=SECRET, tamper=True)
    with structlog.testing.capture_logs() as captured:
        await receive_webhook(connection_id=CONNECTION, path_token=PATH_TOKEN, expected_path_token=PATH_TOKEN,
                              body=body, headers=headers, secret=SECRET, store=store)  # fmt: skip
    text = repr(captured)
    assert captured and SECRET not in text and headers["X-Ontop-Signature"].split("v1=")[1] not in text


@pytest.fixture
def receiver(store: InMemoryWebhookSeenStore) -> Iterator[tuple[BackgroundServer, list[WebhookOutcome]]]:
    """A tiny web layer: POST /ontop/webhook/{token} -> receive_webhook -> outcome.status_code."""
    outcomes: list[WebhookOutcome] = []

    async def endpoint(request: Request) -> Response:
        outcome = await receive_webhook(
            connection_id=CONNECTION,
            path_token=request.path_params["token"],
            expected_path_token=PATH_TOKEN,
            body=await request.body(),
            headers=request.headers,
            secret=SECRET,
            store=store,
        )
        outcomes.append(outcome)
        return Response(status_code=outcome.status_code)

    app = Starlette(routes=[Route("/ontop/webhook/{token}", endpoint, methods=["POST"])])
    with BackgroundServer(app) as server:
        yield server, outcomes


def test_emulator_pushes_duplicates_and_tampered_deliveries_over_http(
    state: OntopEmulatorState, receiver: tuple[BackgroundServer, list[WebhookOutcome]]
) -> None:
    server, outcomes = receiver
    state.webhook_secret = SECRET
    url = f"{server.url}/ontop/webhook/{PATH_TOKEN}"
    row = state.invoice_row(5001)
    assert row is not None
    assert state.deliver_webhook(invoice_event(row, 100), url, duplicates=2) == [200, 200, 200]
    assert [o.verdict for o in outcomes] == [DeliveryVerdict.NEW, DeliveryVerdict.DUPLICATE, DeliveryVerdict.DUPLICATE]
    assert state.deliver_webhook(PAYMENT, url, tamper=True) == [401]
    assert state.deliver_webhook(PAYMENT, f"{server.url}/ontop/webhook/wrong") == [401]
    assert sum(isinstance(o.decision, SyncSoon) for o in outcomes) == 1
