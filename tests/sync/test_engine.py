"""The sync engine's promises, checked against the QBO and Ontop emulators over real HTTP."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from emulators.qbo.state import DEFAULT_REALM
from storage.crypto import SecretBox
from storage.models import ConnectionStatus, InvoiceState, SyncedInvoice
from storage.repos.connections import ConnectionRepo
from sync.api import FixKind
from sync.bills import doc_number_for
from sync.connections import ClientFactory
from sync.qbo.client import QboClient
from sync.qbo.errors import QboError
from sync.qbo.models import Bill, BillDraft
from sync.run import SyncEngine
from tests.sync.conftest import ADMIN, TEAM, Emulators, World, build_world

UNKNOWN_CONCEPT = "HOLIDAY_PAY"  # the generator's company uses a concept Ontop does not document


def qbo_entities(world: World, kind: str) -> list[dict[str, Any]]:
    company = world.emulators.qbo.companies[DEFAULT_REALM]
    with world.emulators.qbo.lock:
        return [dict(entity) for entity in company.of(kind).values()]


def ontop_invoices(world: World) -> list[dict[str, Any]]:
    ontop = world.emulators.ontop
    return list(ontop.generator.invoice_rows(ontop.now))


def paid_and_fully_mapped(world: World) -> list[dict[str, Any]]:
    return [
        row
        for row in ontop_invoices(world)
        if row["status"] == "PAID" and all(line["concept"] != UNKNOWN_CONCEPT for line in row["lines"])
    ]


def bills_by_doc_number(world: World) -> Counter[str]:
    return Counter(str(bill.get("DocNumber")) for bill in qbo_entities(world, "Bill"))


def expected_total(row: dict[str, Any]) -> Decimal:
    """Home currency is USD and multicurrency is off: USD invoices as they are, others at Ontop's locked USD total."""
    return Decimal(str(row["total"] if row["currency"] == "USD" else row["totalUsd"])).quantize(Decimal("0.01"))


def fees_usd(row: dict[str, Any]) -> Decimal:
    """Ontop's own fees on the invoice, in USD: they go on a bill to the Ontop supplier."""
    return sum(
        (Decimal(str(line.get("amountUsd") or line["amount"])) for line in row["lines"] if line["concept"] == "FEE"),
        Decimal("0"),
    )


async def ledger(world: World) -> list[SyncedInvoice]:
    async with world.sessions() as session:
        return list((await session.scalars(select(SyncedInvoice).order_by(SyncedInvoice.id))).all())


async def test_first_sync_creates_exactly_one_bill_per_paid_invoice_with_exact_amounts_and_its_pdf(
    world: World,
) -> None:
    connection_id = await world.connect()

    result = await world.sync(connection_id)

    expected = paid_and_fully_mapped(world)
    assert result.counts.bills_created == len(expected) > 20
    bills = {bill["DocNumber"]: bill for bill in qbo_entities(world, "Bill")}
    assert max(bills_by_doc_number(world).values()) == 1
    vendors = {vendor["Id"]: vendor["DisplayName"] for vendor in qbo_entities(world, "Vendor")}
    for row in expected:
        bill = bills[doc_number_for(row["invoiceNumber"])]
        fee_bill = bills.get(doc_number_for(row["invoiceNumber"], "-F"))
        fees = Decimal(str(fee_bill["TotalAmt"])) if fee_bill else Decimal("0")
        assert fees == fees_usd(row), row["invoiceNumber"]
        assert Decimal(str(bill["TotalAmt"])) + fees == expected_total(row), row["invoiceNumber"]
        assert f"ontop:{row['invoiceId']}" in bill["PrivateNote"]
        assert fee_bill is None or vendors[fee_bill["VendorRef"]["value"]] == "Ontop"
    paid = [bill for bill in bills.values() if Decimal(str(bill["Balance"])) == 0]
    assert len(paid) == len(bills), "every bill the sync made is paid from the Ontop wallet"
    attached = {
        ref["EntityRef"]["value"]
        for attachable in qbo_entities(world, "Attachable")
        for ref in attachable["AttachableRef"]
    }
    with_pdf = {bills[doc_number_for(row["invoiceNumber"])]["Id"] for row in expected if row.get("pdfAvailable")}
    assert with_pdf and with_pdf <= attached


async def test_a_second_run_creates_nothing_new(world: World) -> None:
    connection_id = await world.connect()
    await world.sync(connection_id)
    bills_before = len(qbo_entities(world, "Bill"))

    again = await world.sync(connection_id)

    assert again.counts.bills_created == 0
    assert len(qbo_entities(world, "Bill")) == bills_before


async def test_nothing_that_existed_in_quickbooks_is_modified(world: World) -> None:
    connection_id = await world.connect()
    await world.sync(connection_id)

    audit = world.emulators.qbo.audit_log()
    assert audit, "the sync wrote to QuickBooks"
    assert not [entry for entry in audit if entry["touched_preexisting"]]
    assert {entry["operation"] for entry in audit} <= {"create", "upload"}
    assert not [entry for entry in audit if entry.get("also_changed") and entry["touched_preexisting"]]


async def test_an_unmapped_concept_fails_only_its_invoice_and_mapping_it_lets_a_retry_finish(world: World) -> None:
    connection_id = await world.connect()
    blocked = [row for row in ontop_invoices(world) if any(line["concept"] == UNKNOWN_CONCEPT for line in row["lines"])]
    assert blocked, "the generated company has an invoice with an unknown concept"

    first = await world.sync(connection_id)

    assert first.status == "partial"
    failed = [row for row in await ledger(world) if row.state == InvoiceState.FAILED]
    assert {row.fix_action for row in failed} == {FixKind.MAP_CONCEPT}
    assert {row.fix_value for row in failed} == {UNKNOWN_CONCEPT}
    assert UNKNOWN_CONCEPT in [row.concept for row in await world.service.mapping_rows(TEAM)]

    await world.map_everything()
    retry = await world.sync(connection_id, retry=True)

    assert retry.counts.failed == 0 and retry.counts.bills_created == len(blocked)
    assert retry.counts.invoices_seen == len(blocked)  # a retry reprocesses only what failed
    assert max(bills_by_doc_number(world).values()) == 1


async def test_a_missing_supplier_is_reported_with_a_create_button_when_auto_create_is_off(world: World) -> None:
    settings = await world.service.ensure_workspace(TEAM)
    await world.service.update_settings(
        TEAM,
        ADMIN,
        finance_channel_id=None,
        sync_hour=settings.sync_hour,
        timezone=settings.timezone,
        admin_user_ids=[],
        auto_create_vendors=False,
    )
    connection_id = await world.connect()

    first = await world.sync(connection_id)

    missing = [row for row in await ledger(world) if row.fix_action == FixKind.CREATE_VENDOR]
    assert missing and first.counts.vendors_created == 0
    result = await world.service.create_missing_vendors(TEAM, ADMIN, [missing[0].fix_value or ""])
    assert len(result.created) + len(result.linked) == 1
    second = await world.sync(connection_id)
    assert second.counts.bills_created >= 1


class CrashAfterBatch(QboClient):
    """Dies right after QuickBooks accepted a batch, before the bot can write the outcome down (a kill -9)."""

    async def create_bills_batch(self, items: list[tuple[str, BillDraft, str]]) -> dict[str, Bill | QboError]:
        await super().create_bills_batch(items)
        raise asyncio.CancelledError("worker killed")


class CrashingFactory(ClientFactory):
    def qbo_client(self, connection_id: int, realm_id: str) -> QboClient:
        client = super().qbo_client(connection_id, realm_id)
        client.__class__ = CrashAfterBatch
        return client


@pytest.fixture
async def any_world(
    emulators: Emulators, sessions: async_sessionmaker[AsyncSession], secret_box: SecretBox
) -> AsyncIterator[World]:
    """The same world on SQLite and on PostgreSQL (`sessions`), for tests where row locks and concurrent
    transactions matter: SQLite serialises every writer, so a missing lock would never show there."""
    built = build_world(emulators, sessions, secret_box)
    yield built
    await built.clients.aclose()


async def test_a_crash_after_quickbooks_created_the_bills_never_duplicates_them(any_world: World) -> None:
    world = any_world
    connection_id = await world.connect()
    crashing = CrashingFactory(world.sessions, world.clients.box, world.clients.qbo, world.clients.ontop_base_url)
    with pytest.raises(asyncio.CancelledError):
        await world.sync(connection_id, engine=SyncEngine(world.sessions, crashing))
    await crashing.aclose()
    pending = [row for row in await ledger(world) if row.state == InvoiceState.PENDING]
    assert pending, "the crash left ledger rows whose outcome is unknown"

    resumed = await world.sync(connection_id)

    assert resumed.counts.failed <= 1  # only the unmapped concept
    assert max(bills_by_doc_number(world).values()) == 1
    own = [bill for bill in qbo_entities(world, "Bill") if not str(bill["DocNumber"]).endswith("-F")]
    assert len(own) == len(paid_and_fully_mapped(world))


async def test_server_errors_and_throttling_are_survived_without_duplicates(any_world: World) -> None:
    world = any_world
    connection_id = await world.connect()
    world.emulators.qbo.inject("*/batch", 500, count=2)
    world.emulators.qbo.inject("*/upload", 503, count=2)
    world.emulators.qbo.inject("*/query", 429, count=1)

    result = await world.sync(connection_id)

    assert result.counts.bills_created == len(paid_and_fully_mapped(world))
    assert max(bills_by_doc_number(world).values()) == 1


async def test_invoices_cancelled_before_billing_are_written_down_as_skipped_with_the_reason(world: World) -> None:
    connection_id = await world.connect()
    cancelled = [row for row in ontop_invoices(world) if row["status"] == "CANCELLED"]
    assert cancelled, "the generated company has cancelled invoices"

    await world.sync(connection_id)

    rows = {row.ontop_invoice_id: row for row in await ledger(world)}
    for invoice in cancelled:
        row = rows[str(invoice["invoiceId"])]
        assert row.state == InvoiceState.SKIPPED and row.error_message, invoice["invoiceId"]
    assert not {doc_number_for(invoice["invoiceNumber"]) for invoice in cancelled} & set(bills_by_doc_number(world))


async def test_an_invoice_cancelled_after_its_bill_was_created_is_reported_and_the_bill_left_alone(
    world: World,
) -> None:
    connection_id = await world.connect()
    await world.sync(connection_id)
    billed = paid_and_fully_mapped(world)[0]
    bill_before = next(
        bill for bill in qbo_entities(world, "Bill") if bill["DocNumber"] == doc_number_for(billed["invoiceNumber"])
    )
    world.emulators.ontop.touch_invoice(billed["invoiceId"], status="CANCELLED")

    result = await world.sync(connection_id)

    row = next(row for row in await ledger(world) if row.ontop_invoice_id == str(billed["invoiceId"]))
    assert row.state == InvoiceState.CREATED and row.error_code == "cancelled_after_bill"
    assert "void" in (row.error_message or "")
    bill_after = next(bill for bill in qbo_entities(world, "Bill") if bill["Id"] == bill_before["Id"])
    assert bill_after["SyncToken"] == bill_before["SyncToken"]  # paid by the first run, never edited since
    assert bill_after["Line"] == bill_before["Line"] and bill_after["TotalAmt"] == bill_before["TotalAmt"]
    assert result.counts.bills_created == 0


async def test_a_refused_refresh_token_marks_the_connection_for_reconnecting(world: World) -> None:
    connection_id = await world.connect()
    with world.emulators.qbo.lock:
        for grant in world.emulators.qbo.grants.values():
            grant.revoked = True
        world.emulators.qbo.access_tokens.clear()

    result = await world.sync(connection_id)

    assert result.status == "failed" and "/qbo connect" in (result.error_summary or "")
    async with world.sessions() as session:
        connection = await ConnectionRepo(session).get(connection_id)
    assert connection is not None and connection.status == ConnectionStatus.NEEDS_REAUTH


async def test_by_default_the_first_sync_starts_at_the_beginning_of_the_current_month(world: World) -> None:
    """Connecting does not book years of history unless the admin picks an earlier day."""
    connection_id = await world.connect_qbo()
    await world.service.save_ontop_credentials(TEAM, ADMIN, "admin@ontop.test", "ontop-demo-password")
    await world.map_everything()

    result = await world.sync(connection_id)

    assert result.counts.invoices_seen == 0  # the generated company's invoices are all from 2024
    assert qbo_entities(world, "Bill") == []


async def test_a_correction_of_a_billed_invoice_is_held_for_review_and_reported_once(world: World) -> None:
    connection_id = await world.connect()
    await world.sync(connection_id)
    billed = paid_and_fully_mapped(world)[0]
    other = next(row for row in ontop_invoices(world) if row["status"] == "PENDING")
    bills_before = len(qbo_entities(world, "Bill"))
    # Ontop issues a corrected invoice for one that is already a bill in QuickBooks, and it gets paid.
    world.emulators.ontop.touch_invoice(
        other["invoiceId"],
        status="PAID",
        correctsInvoiceId=billed["invoiceId"],
        exchangeRate="1.000000",
        totalUsd=other["total"],
        lines=[{**line, "amountUsd": line["amount"]} for line in other["lines"]],
    )

    second = await world.sync(connection_id)
    third = await world.sync(connection_id)

    row = next(row for row in await ledger(world) if row.ontop_invoice_id == str(other["invoiceId"]))
    assert row.error_code == "correction_of_billed" and "review" in (row.error_message or "")
    assert row.last_run_id == 2  # told in the run that found it ...
    assert second.counts.review_cases == 1 and second.counts.failed == third.counts.failed  # not a failure ...
    assert third.counts.review_cases == 0 and third.counts.held == 1  # ... and not told again
    assert len(qbo_entities(world, "Bill")) == bills_before
