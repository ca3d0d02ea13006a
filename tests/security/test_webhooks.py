"""Ontop webhooks queue a sync only when they come to the connection's secret address, signed, untampered;
an address guessed at is refused before its body is read, and a signed delivery that cannot be read is a 400 (Ontop
stops retrying), never a 500.

The first tests run the real web app and service in-process on a SQLite file (tests/security/realapp.py) and sign
deliveries themselves (ontop-api.md B.6); the last ones go through the whole product with the Ontop emulator.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.web import WEBHOOK_BODY_LIMIT
from storage.models import SyncRun
from tests.reliability.support import ADMIN_USER, TEAM, Driver
from tests.security.asgi import CHUNK, call, endless
from tests.security.realapp import RealApp, ontop_signature, real_app

INVOICE_EVENT = {"event_type": "INVOICE", "data": {"invoice_id": 5012, "invoice_status": "PAID"}}


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[RealApp]:
    async with real_app(tmp_path / "webhooks.sqlite3") as running:
        yield running


@pytest.fixture
async def http(app: RealApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app.web)
    async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
        yield client


async def queued_runs(app: RealApp) -> int:
    async with app.runtime.sessions() as session:
        return len((await session.scalars(select(SyncRun.id))).all())


def signed(app: RealApp, body: bytes, **headers: str) -> dict[str, str]:
    return {"Content-Type": "application/json", **ontop_signature(app.webhook.secret, body), **headers}


async def test_a_signed_delivery_is_accepted_once_and_its_repeat_is_a_duplicate(
    app: RealApp, http: httpx.AsyncClient
) -> None:
    body = json.dumps(INVOICE_EVENT).encode()
    headers = signed(app, body, **{"X-Ontop-Event-Id": "0b7f7a4e-3c41-4f7e-9d7e-6a1f1c2b9e11"})

    first = await http.post(app.webhook.path, content=body, headers=headers)
    repeat = await http.post(app.webhook.path, content=body, headers=headers)

    assert (first.status_code, first.json()) == (200, {"status": "accepted"})
    assert (repeat.status_code, repeat.json()) == (200, {"status": "duplicate"})
    assert await queued_runs(app) == 1


def faulty(app: RealApp, fault: str) -> tuple[bytes, dict[str, str]]:
    """A delivery with one thing wrong, as (body, headers)."""
    body = json.dumps(INVOICE_EVENT).encode()
    secret = app.webhook.secret
    return {
        "unsigned": (body, {}),
        "other_secret": (body, ontop_signature("not-the-connection-secret", body)),
        "tampered": (body.replace(b"5012", b"5013"), ontop_signature(secret, body)),
        "stale": (body, ontop_signature(secret, body, timestamp=1_600_000_000)),
        "garbage_header": (body, {"X-Ontop-Signature": "t=soon,v1=zz"}),
    }[fault]


@pytest.mark.parametrize("fault", ["unsigned", "other_secret", "tampered", "stale", "garbage_header"])
async def test_a_delivery_that_is_not_signed_with_the_connections_secret_is_refused_401(
    app: RealApp, http: httpx.AsyncClient, fault: str
) -> None:
    body, headers = faulty(app, fault)

    answer = await http.post(app.webhook.path, content=body, headers=headers)

    assert answer.status_code == 401, answer.text
    assert await queued_runs(app) == 0


async def test_a_signature_header_with_non_ascii_characters_is_refused_401_not_500(
    app: RealApp, http: httpx.AsyncClient
) -> None:
    """hmac.compare_digest raises TypeError for non-ASCII text: the header is refused before it gets there."""
    body = json.dumps(INVOICE_EVENT).encode()
    header = ontop_signature(app.webhook.secret, body)["X-Ontop-Signature"].encode() + b"\xe9"

    answer = await http.post(app.webhook.path, content=body, headers={"X-Ontop-Signature": header})

    assert answer.status_code == 401


async def test_a_delivery_to_an_unknown_address_is_refused_401_before_its_body_is_read(app: RealApp) -> None:
    answer = await call(app.web, "POST", "/ontop/webhook/guessed-token", body=endless())

    assert answer.status == 401
    assert answer.chunks_read == 0, "not one byte of the body was read"
    assert answer.headers["connection"] == "close", "the client is stopped from streaming the rest"


async def test_a_declared_body_over_the_limit_is_refused_413_without_reading_it(app: RealApp) -> None:
    answer = await call(
        app.web, "POST", app.webhook.path, headers={"content-length": str(WEBHOOK_BODY_LIMIT + 1)}, body=endless()
    )

    assert answer.status == 413
    assert answer.chunks_read == 0


async def test_an_endless_body_to_a_known_address_is_cut_off_with_413_just_past_the_limit(app: RealApp) -> None:
    answer = await call(
        app.web, "POST", app.webhook.path, headers=ontop_signature(app.webhook.secret, b""), body=endless()
    )

    assert answer.status == 413
    assert WEBHOOK_BODY_LIMIT < answer.bytes_read <= WEBHOOK_BODY_LIMIT + CHUNK, (
        "read just past the limit, then stopped"
    )
    assert await queued_runs(app) == 0


UNREADABLE = {
    "not_json": b"this is not json",
    "not_an_object": b"[1, 2, 3]",
    "no_event_type": b'{"data": {"invoice_id": 5012}}',
    "invoice_without_id": b'{"event_type": "INVOICE", "data": {}}',
    "payment_with_a_bad_time": b'{"event_type": "PAYMENT", "data": {"payment_id": 20, "transaction_status": "SUCCESS",'
    b' "transaction_date_time": "soon"}}',
    "nested_20000_deep": b"[" * 20_000 + b"]" * 20_000,
    "invalid_utf8": b'{"event_type": "\xff\xfe"}',
}


@pytest.mark.parametrize("case", list(UNREADABLE), ids=list(UNREADABLE))
async def test_a_signed_delivery_that_cannot_be_read_is_a_400_so_ontop_stops_retrying(
    app: RealApp, http: httpx.AsyncClient, case: str
) -> None:
    body = UNREADABLE[case]

    answer = await http.post(app.webhook.path, content=body, headers=signed(app, body))

    assert answer.status_code == 400, answer.text
    assert await queued_runs(app) == 0
    assert 'qbo_bot_ontop_webhooks_total{outcome="unreadable"} 1.0' in app.metrics.render().decode()


async def test_the_webhook_token_never_reaches_a_metric_label(app: RealApp, http: httpx.AsyncClient) -> None:
    body = json.dumps(INVOICE_EVENT).encode()
    await http.post(app.webhook.path, content=body, headers=signed(app, body))
    await http.post("/ontop/webhook/guessed-token", content=body, headers=signed(app, body))

    exposition = app.metrics.render().decode()

    assert 'route="/ontop/webhook/{token}"' in exposition
    assert app.webhook.token not in exposition and "guessed-token" not in exposition


# --- through the whole product: the Ontop emulator delivers to the address connecting registered ------------


async def webhook_ready(driver: Driver) -> str:
    """Connect (which registers the connection's secret webhook address with Ontop) and let the first sync finish;
    returns the path token of the registered address."""
    await driver.connect()
    await driver.wait_for_runs_to_settle()
    ontop = driver.stack.ontop_state
    assert ontop is not None and ontop.webhook_url and ontop.webhook_secret, "connecting registered the webhook"
    prefix = f"{driver.stack.app_url}/ontop/webhook/"
    assert ontop.webhook_url.startswith(prefix)
    return ontop.webhook_url.removeprefix(prefix)


async def run_count(driver: Driver) -> int:
    async with driver.runtime.sessions() as session:
        return len((await session.scalars(select(SyncRun.id))).all())


def an_invoice_event(driver: Driver) -> dict[str, object]:
    ontop = driver.stack.ontop_state
    assert ontop is not None
    invoice = next(iter(ontop.generator.invoice_rows(ontop.now)))
    return ontop.touch_invoice(int(invoice["invoiceId"]))


async def test_a_signed_delivery_to_the_right_address_queues_a_sync(driver: Driver) -> None:
    """The control: an intact delivery is accepted and queues a run."""
    await webhook_ready(driver)
    runs_before = await run_count(driver)
    ontop = driver.stack.ontop_state
    assert ontop is not None

    statuses = await asyncio.to_thread(ontop.deliver_webhook, an_invoice_event(driver))

    assert statuses == [200]
    assert await run_count(driver) == runs_before + 1


async def test_unsigned_tampered_or_misaddressed_deliveries_get_401_and_queue_nothing(driver: Driver) -> None:
    token = await webhook_ready(driver)
    ontop = driver.stack.ontop_state
    assert ontop is not None
    runs_before = await run_count(driver)
    event = an_invoice_event(driver)
    right = ontop.webhook_url
    assert right is not None

    unsigned = await asyncio.to_thread(ontop.deliver_webhook, event, unsigned=True)
    tampered = await asyncio.to_thread(ontop.deliver_webhook, event, tamper=True)
    stale = await asyncio.to_thread(ontop.deliver_webhook, event, timestamp=1_600_000_000)
    wrong_address = await asyncio.to_thread(ontop.deliver_webhook, event, right.replace(token, token[:-3] + "xyz"))
    body, headers = ontop.webhook_request(event, secret="not-the-connection-secret")
    async with httpx.AsyncClient(timeout=10) as http:
        wrong_secret = (await http.post(right, content=body, headers=headers)).status_code

    assert unsigned == tampered == stale == wrong_address == [401]
    assert wrong_secret == 401
    assert await run_count(driver) == runs_before, "no run was queued"


async def test_a_webhook_for_a_disconnected_connection_is_refused(driver: Driver) -> None:
    await webhook_ready(driver)
    ontop = driver.stack.ontop_state
    assert ontop is not None
    await driver.runtime.service.disconnect(TEAM, ADMIN_USER)
    runs_before = await run_count(driver)

    statuses = await asyncio.to_thread(ontop.deliver_webhook, an_invoice_event(driver))

    assert statuses == [401]
    assert await run_count(driver) == runs_before
