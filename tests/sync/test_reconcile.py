"""Reconcile reads Ontop and QuickBooks again and lists what is missing, duplicated or different."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal

from emulators.qbo.state import DEFAULT_REALM
from sync.bills import doc_number_for
from tests.sync.conftest import TEAM, World
from tests.sync.test_engine import UNKNOWN_CONCEPT, ontop_invoices, paid_and_fully_mapped


async def test_after_a_sync_only_the_blocked_invoice_is_missing(world: World) -> None:
    connection_id = await world.connect()
    await world.sync(connection_id)

    report = await world.service.reconcile(TEAM, date(2024, 1, 1), date(2030, 1, 1))

    blocked = [
        row["invoiceNumber"]
        for row in ontop_invoices(world)
        if row["status"] == "PAID" and any(line["concept"] == UNKNOWN_CONCEPT for line in row["lines"])
    ]
    assert report.missing == blocked
    assert report.duplicated == [] and report.different == []
    assert report.open_bills == [] and report.paid_twice == []
    assert report.matching == len(paid_and_fully_mapped(world))


async def test_a_duplicated_or_edited_bill_in_quickbooks_is_reported(world: World) -> None:
    connection_id = await world.connect()
    await world.sync(connection_id)
    first, second = paid_and_fully_mapped(world)[:2]
    company = world.emulators.qbo.companies[DEFAULT_REALM]
    with world.emulators.qbo.lock:
        bills = company.of("Bill")
        copied = next(bill for bill in bills.values() if bill["DocNumber"] == doc_number_for(first["invoiceNumber"]))
        world.emulators.qbo.add_entity(company, "Bill", {k: v for k, v in copied.items() if k != "Id"})
        edited = next(bill for bill in bills.values() if bill["DocNumber"] == doc_number_for(second["invoiceNumber"]))
        edited["TotalAmt"] = Decimal(str(edited["TotalAmt"])) + Decimal("0.01")

    report = await world.service.reconcile(TEAM, date(2024, 1, 1), date(2030, 1, 1))

    assert report.duplicated == [first["invoiceNumber"]]
    assert [difference.invoice_number for difference in report.different] == [second["invoiceNumber"]]
    assert not report.clean


async def test_an_open_bill_and_a_bill_paid_twice_are_reported(world: World) -> None:
    connection_id = await world.connect()
    await world.sync(connection_id)
    first, second = paid_and_fully_mapped(world)[:2]
    company = world.emulators.qbo.companies[DEFAULT_REALM]
    with world.emulators.qbo.lock:
        bills = company.of("Bill")
        reopened = next(b for b in bills.values() if b["DocNumber"] == doc_number_for(first["invoiceNumber"]))
        reopened["Balance"] = reopened["TotalAmt"]  # as if its payment had been deleted in QuickBooks
        twice = next(b for b in bills.values() if b["DocNumber"] == doc_number_for(second["invoiceNumber"]))
        # As if the bot had paid it again (QuickBooks refuses an overpayment, so this is written in directly).
        payments = company.of("BillPayment")
        ours = next(
            payment
            for payment in payments.values()
            if any(link["TxnId"] == twice["Id"] for line in payment["Line"] for link in line["LinkedTxn"])
        )
        payments["999"] = {**copy.deepcopy(ours), "Id": "999"}

    report = await world.service.reconcile(TEAM, date(2024, 1, 1), date(2030, 1, 1))

    assert report.open_bills == [doc_number_for(first["invoiceNumber"])]
    assert report.paid_twice == [doc_number_for(second["invoiceNumber"])]
    assert not report.clean
