"""Ontop webhooks queue a sync only when they come to the connection's secret address, signed, untampered."""

from __future__ import annotations

import asyncio
import secrets

import httpx
from sqlalchemy import select

from storage.models import Connection, SyncRun
from storage.repos import sha256_hex
from tests.reliability.support import ADMIN_USER, TEAM, Driver


async def webhook_ready(driver: Driver) -> str:
    """Connect, let the first sync finish, and point the Ontop emulator at the connection's webhook address.

    The product stores only a hash of the address token (and never registers it with Ontop, see the report), so the
    test sets a token it knows and hands Ontop the connection's signing secret, as the registration would.
    """
    await driver.connect()
    await driver.wait_for_runs_to_settle()
    token = secrets.token_urlsafe(32)
    async with driver.runtime.sessions.begin() as session:
        connection = await session.scalar(select(Connection))
        assert connection is not None and connection.ontop_webhook_secret_encrypted
        connection.ontop_webhook_token_hash = sha256_hex(token)
        secret = driver.runtime.box.decrypt(connection.ontop_webhook_secret_encrypted)
    ontop = driver.stack.ontop_state
    assert ontop is not None
    ontop.webhook_url = f"{driver.stack.app_url}/ontop/webhook/{token}"
    ontop.webhook_secret = secret
    return token


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
