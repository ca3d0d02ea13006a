"""Classes and locations end to end: chosen with the service, sent by a run, refused by QuickBooks and fixed, against
the QBO and Ontop emulators over real HTTP."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from emulators.qbo.state import DEFAULT_REALM
from storage.models import InvoiceState, SyncedInvoice
from sync.api import FixKind, TrackingChoice
from sync.bills import doc_number_for
from sync.posting import TRACKING_REFUSED
from tests.sync.conftest import ADMIN, TEAM, World
from tests.sync.test_engine import ledger, paid_and_fully_mapped, qbo_entities

TRACKED = pytest.mark.parametrize(
    "emulators", [{"class_tracking_per_line": True, "track_departments": True}], indirect=True
)


def _ids(world: World, kind: str) -> dict[str, str]:
    return {row["FullyQualifiedName"]: row["Id"] for row in qbo_entities(world, kind)}


def _busiest_worker(world: World) -> str:
    """The contract with the most paid, fully mapped invoices."""
    counts = Counter(str(row["agreementId"]) for row in paid_and_fully_mapped(world))
    return counts.most_common(1)[0][0]


def _bills_of(world: World, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    numbers = {doc_number_for(row["invoiceNumber"]) for row in rows}
    return [bill for bill in qbo_entities(world, "Bill") if bill.get("DocNumber") in numbers]


def _line_classes(bill: dict[str, Any]) -> set[str | None]:
    return {(line["AccountBasedExpenseLineDetail"].get("ClassRef") or {}).get("value") for line in bill["Line"]}


@TRACKED
async def test_bills_carry_the_concepts_class_the_workers_class_and_location(world: World) -> None:
    connection_id = await world.connect()
    view = await world.service.tracking_view(TEAM)
    assert view.class_tracking and view.track_departments
    classes, locations = _ids(world, "Class"), _ids(world, "Department")
    worker = _busiest_worker(world)
    await world.service.save_tracking(
        TEAM,
        ADMIN,
        TrackingChoice(
            concept_classes={"COMPENSATION": classes["Engineering"]},
            worker_classes={worker: classes["Sales"]},
            worker_locations={worker: locations["Europe"]},
        ),
    )

    outcome = await world.sync(connection_id)

    assert outcome.counts.bills_created > 0
    rows = paid_and_fully_mapped(world)
    theirs = _bills_of(world, [row for row in rows if str(row["agreementId"]) == worker])
    others = _bills_of(world, [row for row in rows if str(row["agreementId"]) != worker])
    assert theirs and others
    assert all(_line_classes(bill) == {classes["Sales"]} for bill in theirs)  # the worker's class wins
    assert all(bill["DepartmentRef"]["value"] == locations["Europe"] for bill in theirs)
    compensation = [
        line
        for bill in others
        for line in bill["Line"]
        if str(line.get("Description", "")).startswith("Base compensation")
    ]
    assert compensation and all(
        line["AccountBasedExpenseLineDetail"]["ClassRef"]["value"] == classes["Engineering"] for line in compensation
    )
    assert all("DepartmentRef" not in bill for bill in others)
    fee_bills = [bill for bill in qbo_entities(world, "Bill") if str(bill.get("DocNumber", "")).endswith("-F")]
    their_fees = [bill for bill in fee_bills if bill["DocNumber"][:-2] in {b["DocNumber"] for b in theirs}]
    assert their_fees and all(bill["DepartmentRef"]["value"] == locations["Europe"] for bill in their_fees)
    assert all(_line_classes(bill) == {None} for bill in fee_bills)  # FEE has no class: not the worker's


@TRACKED
async def test_a_class_made_inactive_in_quickbooks_fails_its_invoices_with_a_fix_and_choosing_another_posts_them(
    world: World,
) -> None:
    connection_id = await world.connect()
    await world.service.tracking_view(TEAM)
    classes = _ids(world, "Class")
    worker = _busiest_worker(world)
    await world.service.save_tracking(TEAM, ADMIN, TrackingChoice(worker_classes={worker: classes["Marketing"]}))
    company = world.emulators.qbo.companies[DEFAULT_REALM]
    with world.emulators.qbo.lock:  # someone retires the class in QuickBooks after it was chosen
        company.of("Class")[classes["Marketing"]]["Active"] = False

    first = await world.sync(connection_id)

    theirs = {
        doc_number_for(row["invoiceNumber"])
        for row in paid_and_fully_mapped(world)
        if str(row["agreementId"]) == worker
    }
    failed = [row for row in await ledger(world) if row.fix_action == FixKind.TRACKING]
    assert {row.invoice_number for row in failed} == theirs and first.status == "partial"
    assert {(row.state, row.error_code, row.fix_value) for row in failed} == {
        (InvoiceState.FAILED, TRACKING_REFUSED, "class")
    }
    assert all(classes["Marketing"] in (row.error_message or "") for row in failed)

    await world.service.tracking_view(TEAM)  # the modal opens on the refreshed list
    await world.service.save_tracking(TEAM, ADMIN, TrackingChoice(worker_classes={worker: classes["Sales"]}))
    run, retry = await world.run_queued()  # saving queued a retry of what QuickBooks refused

    assert run.trigger == "retry" and retry.counts.bills_created == len(theirs)
    assert not [row for row in await ledger(world) if row.fix_action == FixKind.TRACKING]
    assert all(
        _line_classes(bill) == {classes["Sales"]}
        for bill in [bill for bill in qbo_entities(world, "Bill") if bill.get("DocNumber") in theirs]
    )


async def test_a_company_that_tracks_nothing_caches_nothing_and_its_bills_carry_no_refs(world: World) -> None:
    connection_id = await world.connect()
    view = await world.service.tracking_view(TEAM)
    assert not view.tracks_anything
    assert await world.service.tracking_options(TEAM, "class") == []

    await world.sync(connection_id)

    bills = qbo_entities(world, "Bill")
    assert bills and all("DepartmentRef" not in bill and _line_classes(bill) == {None} for bill in bills)
    async with world.sessions() as session:
        assert (await session.scalars(select(SyncedInvoice))).first() is not None
