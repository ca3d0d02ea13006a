"""Bills first (issue #19): a big run books every bill and says what is still on its way; the run it queues pays every
bill once, makes every Ontop fee bill once and attaches every PDF once, even when it is killed half-way."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import pytest

from handlers.run_messages import run_summary_message
from storage.models import RunTrigger
from storage.records import RunRecord
from storage.repos.runs import RunRepo
from sync.bills import doc_number_for
from sync.connections import ClientFactory
from sync.jobs import RunOutcome
from sync.qbo.client import QboClient
from sync.qbo.errors import QboError
from sync.qbo.models import BillPayment, BillPaymentDraft
from sync.run import SyncEngine
from tests.sync.conftest import ADMIN, TEAM, World
from tests.sync.test_books import assert_books_are_right
from tests.sync.test_engine import (
    bills_by_doc_number,
    fees_usd,
    ontop_invoices,
    paid_and_fully_mapped,
    qbo_entities,
)

BIG = 10  # the generated company reads 60 invoices: a big run here


def bills_first(world: World, clients: ClientFactory | None = None) -> SyncEngine:
    return SyncEngine(world.sessions, clients or world.clients, bills_first_over=BIG)


def attachments_per_bill(world: World) -> Counter[str]:
    return Counter(
        ref["EntityRef"]["value"]
        for attachable in qbo_entities(world, "Attachable")
        for ref in attachable["AttachableRef"]
        if ref["EntityRef"]["type"] == "Bill"
    )


def bills_with_a_pdf(world: World) -> set[str]:
    bills = {bill["DocNumber"]: bill["Id"] for bill in qbo_entities(world, "Bill")}
    return {bills[doc_number_for(row["invoiceNumber"])] for row in paid_and_fully_mapped(world) if row["pdfAvailable"]}


def fee_bills_expected(world: World) -> int:
    return sum(1 for row in paid_and_fully_mapped(world) if fees_usd(row) > 0)


async def queued_run(world: World, connection_id: int) -> RunRecord | None:
    async with world.sessions() as session:
        return await RunRepo(session).active(connection_id)


async def first_run(world: World, connection_id: int) -> tuple[RunRecord, RunOutcome]:
    outcome = await world.sync(connection_id, engine=bills_first(world))
    async with world.sessions() as session:
        runs = await RunRepo(session).history(connection_id)
    return next(run for run in runs if run.trigger != RunTrigger.FINISH), outcome


def assert_every_pdf_attached_once(world: World) -> None:
    attached = attachments_per_bill(world)
    expected = bills_with_a_pdf(world)
    assert expected and all(attached[bill_id] == 1 for bill_id in expected), attached
    assert set(attached) == expected


async def test_a_big_run_books_every_bill_and_says_what_is_on_its_way(world: World) -> None:
    connection_id = await world.connect()

    run, outcome = await first_run(world, connection_id)

    expected = paid_and_fully_mapped(world)
    counts = outcome.counts
    assert counts.bills_created == len(expected) > BIG and max(bills_by_doc_number(world).values()) == 1
    # Only the invoices with a concept nobody mapped fail: nothing that is only pending reads as failed.
    unmapped = [row for row in ontop_invoices(world) if row["status"] == "PAID" and row not in expected]
    assert counts.failed == len(unmapped)
    assert not qbo_entities(world, "BillPayment") and counts.payments_created == 0
    assert not any(str(bill["DocNumber"]).endswith("-F") for bill in qbo_entities(world, "Bill"))
    fee_bills = fee_bills_expected(world)
    assert counts.fee_bills_to_follow == fee_bills > 0
    assert counts.payments_to_follow == counts.bills_created + fee_bills
    # PDFs go out in the background while the bills do; those not attached yet are on their way.
    assert counts.pdfs_to_follow + counts.attachments_created == len(bills_with_a_pdf(world)) > 0
    assert all(n == 1 for n in attachments_per_bill(world).values())

    follow_up = await queued_run(world, connection_id)
    assert follow_up is not None and follow_up.trigger == RunTrigger.FINISH and follow_up.requested_by == ADMIN
    assert run.follow_up_run_id == follow_up.id
    summary = await world.service.run_summary(TEAM, run.id)
    assert summary is not None
    text = run_summary_message(summary).as_kwargs()["blocks"][0]["text"]["text"]
    assert f"Still on its way: {counts.payments_to_follow} payments" in text
    assert f"sync #{follow_up.id} finishes them" in text


async def test_the_follow_up_pays_makes_fee_bills_and_attaches_pdfs_exactly_once(world: World) -> None:
    connection_id = await world.connect()
    _, first = await first_run(world, connection_id)

    follow_up, outcome = await world.run_queued(engine=bills_first(world))

    assert follow_up.trigger == RunTrigger.FINISH
    assert_books_are_right(world)  # every bill and fee bill paid once from the wallet, fees on Ontop
    assert_every_pdf_attached_once(world)
    counts = outcome.counts
    assert counts.payments_created == first.counts.payments_to_follow
    assert counts.fee_bills_created == first.counts.fee_bills_to_follow
    assert counts.attachments_created == first.counts.pdfs_to_follow
    # The invoice with an unmapped concept is read again (the watermark waits for it) and fails again: nothing else.
    assert counts.failed == first.counts.failed and not counts.left_on_its_way
    assert await queued_run(world, connection_id) is None  # nothing more to follow


class KilledAfterPayments(QboClient):
    """Killed right after QuickBooks accepted the second batch of payments, before the bot writes them down."""

    batches = 0

    async def create_bill_payments_batch(
        self, items: list[tuple[str, BillPaymentDraft, str]]
    ) -> dict[str, BillPayment | QboError]:
        made = await super().create_bill_payments_batch(items)
        KilledAfterPayments.batches += 1
        if KilledAfterPayments.batches >= 2:
            raise asyncio.CancelledError("worker killed")
        return made


class KillingFactory(ClientFactory):
    def qbo_client(self, connection_id: int, realm_id: str) -> QboClient:
        client = super().qbo_client(connection_id, realm_id)
        client.__class__ = KilledAfterPayments
        return client


async def test_a_follow_up_killed_half_way_doubles_nothing_when_it_is_taken_over(world: World) -> None:
    connection_id = await world.connect()
    _, first = await first_run(world, connection_id)
    killing = KillingFactory(world.sessions, world.clients.box, world.clients.qbo, world.clients.ontop_base_url)

    with pytest.raises(asyncio.CancelledError):
        await world.run_queued(engine=bills_first(world, killing))
    await killing.aclose()
    assert qbo_entities(world, "BillPayment"), "the kill came after QuickBooks made payments"
    paid_before = sum(1 for bill in qbo_entities(world, "Bill") if Decimal(str(bill["Balance"])) == 0)
    assert 0 < paid_before < len(qbo_entities(world, "Bill")), "killed half-way"

    taken_over, outcome = await world.run_queued(engine=bills_first(world))  # another worker takes the run over

    assert taken_over.trigger == RunTrigger.FINISH and taken_over.attempt == 2
    assert_books_are_right(world)
    assert_every_pdf_attached_once(world)
    assert max(bills_by_doc_number(world).values()) == 1  # no fee bill twice
    assert outcome.counts.failed == first.counts.failed  # only the invoice with an unmapped concept


async def test_a_small_run_still_pays_and_attaches_inline_and_queues_nothing(world: World) -> None:
    connection_id = await world.connect()

    outcome = await world.sync(connection_id)  # the product's threshold: 60 invoices is a small run

    counts = outcome.counts
    assert counts.payments_created == counts.bills_created + counts.fee_bills_created > 0
    assert counts.attachments_created == len(bills_with_a_pdf(world)) > 0
    assert not counts.left_on_its_way
    assert await queued_run(world, connection_id) is None
    assert_books_are_right(world)
    assert_every_pdf_attached_once(world)
