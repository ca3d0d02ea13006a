"""`/qbo sync preview` decides with the run's own planning: what it counts is what the next run does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sync.api import SyncPreview
from sync.jobs import RunCounts
from tests.sync.conftest import ADMIN, TEAM, World


def assert_preview_matches(preview: SyncPreview, counts: RunCounts) -> None:
    blocked = sum(preview.blocked_unmapped.values()) + preview.blocked_no_vendor + preview.blocked_other
    assert preview.eligible == counts.bills_created
    assert preview.already_synced == counts.already_synced
    assert preview.not_final == counts.skipped + counts.held  # waiting in Ontop, or held by a person
    assert blocked == counts.failed
    assert preview.review == counts.review_cases  # cases for a person are not failures
    assert preview.vendors_to_create == counts.vendors_created


async def turn_off_auto_create(world: World) -> None:
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


@pytest.mark.parametrize("auto_create", [True, False])
async def test_the_preview_of_the_first_sync_counts_what_the_first_sync_then_does(
    world: World, auto_create: bool
) -> None:
    if not auto_create:
        await turn_off_auto_create(world)
    connection_id = await world.connect()  # the generated company's HOLIDAY_PAY concept stays unmapped

    preview = await world.service.sync_preview(TEAM)
    outcome = await world.sync(connection_id)

    assert_preview_matches(preview, outcome.counts)
    if auto_create:  # the comparison is about something: bills, suppliers to create, an unmapped concept
        assert preview.eligible > 10 and preview.vendors_to_create > 0 and preview.blocked_unmapped
    else:  # nobody is a supplier yet, and the bot may not create them: each invoice waits for its supplier
        assert preview.eligible == preview.vendors_to_create == 0 and preview.blocked_no_vendor > 10


async def test_before_the_first_sync_the_preview_reads_from_the_backfill_date(world: World) -> None:
    later_start = (world.emulators.ontop.generator.start + timedelta(days=45)).date()
    connection_id = await world.connect(backfill_from=later_start)
    everything = len(list(world.emulators.ontop.generator.invoice_rows(world.emulators.ontop.now)))

    preview = await world.service.sync_preview(TEAM)
    outcome = await world.sync(connection_id)

    assert_preview_matches(preview, outcome.counts)
    assert 0 < outcome.counts.invoices_seen < everything


async def test_after_changes_in_ontop_the_preview_still_counts_what_the_next_run_does(world: World) -> None:
    connection_id = await world.connect()
    await world.sync(connection_id)
    ontop = world.emulators.ontop
    rows = [ontop.invoice_row(row["invoiceId"]) or row for row in ontop.generator.invoice_rows(ontop.now)]
    billed = next(row for row in rows if row["status"] == "PAID" and row["currency"] == "USD")
    pending = next(row for row in rows if row["status"] == "PENDING" and row["currency"] == "USD")
    ontop.touch_invoice(billed["invoiceId"], status="CANCELLED")  # after its bill: a case for review
    ontop.touch_invoice(
        pending["invoiceId"],
        status="PAID",
        exchangeRate="1.000000",
        totalUsd=pending["total"],
        lines=[{**line, "amountUsd": line["amount"]} for line in pending["lines"]],
    )

    preview = await world.service.sync_preview(TEAM)
    outcome = await world.sync(connection_id)

    assert_preview_matches(preview, outcome.counts)
    assert preview.review == 1 and preview.eligible >= 1
