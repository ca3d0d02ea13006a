"""Ontop webhooks queue a sync only when they come to the connection's secret address, signed, untampered."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from storage.models import SyncRun
from tests.reliability.support import ADMIN_USER, TEAM, Driver


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
