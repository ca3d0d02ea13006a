"""The approval gate against the emulators: what waits, what is posted after an approval, and what never is."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from storage.crypto import SecretBox
from storage.db import transaction
from storage.models import InvoiceState, Notification, Review, ReviewState, SyncedInvoice
from storage.repos.reviews import ReviewRepo
from sync.api import QboLinks, ReviewSettings, ReviewView, RowOutcome, ServiceError
from sync.plan import EXCLUDED_IN_REVIEW
from sync.review import sweep_reviews
from tests.sync.conftest import ADMIN, TEAM, World, build_world
from tests.sync.test_engine import UNKNOWN_CONCEPT, ledger, qbo_entities

ASK_FIRST = ReviewSettings()  # the product's default: the first sync waits for an admin, later runs do not


def own_bills(world: World) -> set[str]:
    """The DocNumbers of the contractors' bills in QuickBooks (fee bills end in -F)."""
    return {str(bill["DocNumber"]) for bill in qbo_entities(world, "Bill") if not str(bill["DocNumber"]).endswith("-F")}


def qbo_writes(world: World) -> int:
    """How many writes QuickBooks has received (connecting creates the wallet account: count from a baseline)."""
    return len(world.emulators.qbo.audit_log())


async def only_review(world: World) -> ReviewView:
    async with world.sessions() as session:
        ids = list(await session.scalars(select(Review.id).order_by(Review.id)))
    assert len(ids) == 1, ids
    found = await world.service.review(TEAM, ids[0])
    assert found is not None
    return found


async def review_numbers(world: World, review_id: int, *, excluded: bool | None = False) -> set[str]:
    async with world.sessions() as session:
        items = await ReviewRepo(session).list_items(review_id, excluded=excluded)
    return {item.invoice_number for item in items}


async def notification_keys(world: World) -> set[str]:
    async with world.sessions() as session:
        return set(await session.scalars(select(Notification.key)))


def pay_pending_usd_invoices(world: World, count: int) -> list[dict[str, Any]]:
    """`count` USD invoices waiting in Ontop get paid now (a later run then has exactly these to post)."""
    ontop = world.emulators.ontop
    rows = [ontop.invoice_row(row["invoiceId"]) or row for row in ontop.generator.invoice_rows(ontop.now)]
    pending = [
        row
        for row in rows
        if row["status"] == "PENDING"
        and row["currency"] == "USD"
        and all(line["concept"] != UNKNOWN_CONCEPT for line in row["lines"])
    ][:count]
    assert len(pending) == count, "the generated company has enough unpaid USD invoices"
    for row in pending:
        ontop.touch_invoice(
            row["invoiceId"],
            status="PAID",
            exchangeRate="1.000000",
            totalUsd=row["total"],
            lines=[{**line, "amountUsd": line["amount"]} for line in row["lines"]],
        )
    return pending


# --- the first sync -------------------------------------------------------------------------------------------


async def test_the_first_sync_waits_for_approval_and_writes_nothing_to_quickbooks(world: World) -> None:
    connection_id = await world.connect(review=ASK_FIRST)
    preview = await world.service.sync_preview(TEAM)
    writes = qbo_writes(world)

    outcome = await world.sync(connection_id)

    assert outcome.review_id is not None
    assert outcome.counts.bills_created == outcome.counts.vendors_created == 0
    assert qbo_writes(world) == writes, "planning for a review sends nothing to QuickBooks"
    found = await only_review(world)
    assert found.state == ReviewState.PENDING and found.review_id == outcome.review_id
    assert found.content == preview.content, "the review shows what the preview showed"
    assert found.content.bills == preview.eligible > 10
    assert found.expires_at - found.created_at == timedelta(days=7)
    assert f"review:{found.review_id}" in await notification_keys(world)  # its message is owed in the outbox


async def test_later_runs_are_not_gated_by_default(world: World) -> None:
    connection_id = await world.connect(review=ASK_FIRST)
    await world.sync(connection_id)
    await world.service.approve_review(TEAM, ADMIN, (await only_review(world)).review_id)
    await world.run_queued()
    paid = pay_pending_usd_invoices(world, 2)

    later = await world.sync(connection_id)

    assert later.review_id is None and later.counts.bills_created == len(paid)
    assert {row["invoiceNumber"] for row in paid} <= own_bills(world)


# --- approving ------------------------------------------------------------------------------------------------


async def test_an_approval_posts_exactly_the_approved_invoices(world: World) -> None:
    connection_id = await world.connect(review=ASK_FIRST)
    await world.sync(connection_id)
    review = await only_review(world)
    page = await world.service.review_page(TEAM, review.review_id)
    left_out = [invoice.invoice_id for invoice in page.invoices[:2]]
    await world.service.save_review_exclusions(
        TEAM, ADMIN, review.review_id, [invoice.invoice_id for invoice in page.invoices], left_out
    )
    approved = await review_numbers(world, review.review_id)

    decision = await world.service.approve_review(TEAM, ADMIN, review.review_id)
    run, outcome = await world.run_queued()

    assert decision.run is not None and run.id == decision.run.run_id
    assert own_bills(world) == approved, "no more and no less than the approved invoices"
    assert outcome.counts.bills_created == len(approved) == review.content.bills - 2
    rows = {row.ontop_invoice_id: row for row in await ledger(world)}
    assert {rows[invoice_id].error_code for invoice_id in left_out} == {EXCLUDED_IN_REVIEW}
    assert {rows[invoice_id].state for invoice_id in left_out} == {InvoiceState.SKIPPED}
    decided = await world.service.review(TEAM, review.review_id)
    assert decided is not None and decided.state == ReviewState.APPROVED and decided.decided_by == ADMIN
    assert decided.posted_run_id == run.id


async def test_an_excluded_invoice_is_never_posted_and_the_next_preview_shows_it_excluded(world: World) -> None:
    connection_id = await world.connect(review=ASK_FIRST)
    await world.sync(connection_id)
    review = await only_review(world)
    [left_out] = (await world.service.review_page(TEAM, review.review_id)).invoices[:1]
    await world.service.save_review_exclusions(
        TEAM, ADMIN, review.review_id, [left_out.invoice_id], [left_out.invoice_id]
    )
    await world.service.approve_review(TEAM, ADMIN, review.review_id)
    await world.run_queued()

    again = await world.sync(connection_id)
    preview = await world.service.sync_preview(TEAM)

    assert left_out.invoice_number not in own_bills(world)
    assert again.counts.bills_created == 0 and again.counts.held >= 1
    assert preview.content is not None
    assert [invoice.invoice_number for invoice in preview.content.excluded] == [left_out.invoice_number]

    assert await world.service.include_invoice(TEAM, ADMIN, left_out.invoice_id) == left_out.invoice_number
    included = await world.sync(connection_id)
    assert included.counts.bills_created == 1 and left_out.invoice_number in own_bills(world)


@pytest.mark.parametrize("one_by_one", [False, True], ids=["read-in-pages", "fetched-one-by-one"])
async def test_an_invoice_changed_in_ontop_since_the_review_goes_back_to_review(
    world: World, monkeypatch: pytest.MonkeyPatch, one_by_one: bool
) -> None:
    if one_by_one:  # a small review: its invoices are fetched one by one instead of read in pages
        monkeypatch.setattr("sync.run.REFETCH_AT_MOST", 10_000)
    connection_id = await world.connect(review=ASK_FIRST)
    await world.sync(connection_id)
    review = await only_review(world)
    [changed] = (await world.service.review_page(TEAM, review.review_id)).invoices[:1]
    await world.service.approve_review(TEAM, ADMIN, review.review_id)
    world.emulators.ontop.touch_invoice(int(changed.invoice_id), notes="corrected after the review")

    _, outcome = await world.run_queued()

    assert changed.invoice_number not in own_bills(world), "a change is never posted silently"
    assert outcome.counts.bills_created == review.content.bills - 1
    assert outcome.review_id is not None and outcome.review_id != review.review_id
    again = await world.service.review(TEAM, outcome.review_id)
    assert again is not None and again.state == ReviewState.PENDING
    assert await review_numbers(world, outcome.review_id) == {changed.invoice_number}


async def test_a_review_made_before_a_restart_is_approved_and_posted_by_new_instances(
    world: World, secret_box: SecretBox
) -> None:
    connection_id = await world.connect(review=ASK_FIRST)
    await world.sync(connection_id)
    review = await only_review(world)
    await world.clients.aclose()

    restarted = build_world(world.emulators, world.sessions, secret_box)  # a new service, engine and clients
    try:
        await restarted.service.approve_review(TEAM, ADMIN, review.review_id)
        _, outcome = await restarted.run_queued()
    finally:
        await restarted.clients.aclose()

    assert outcome.counts.bills_created == review.content.bills
    assert own_bills(world) == await review_numbers(world, review.review_id)


async def test_a_decided_review_cannot_be_decided_again(world: World) -> None:
    connection_id = await world.connect(review=ASK_FIRST)
    writes = qbo_writes(world)
    await world.sync(connection_id)
    review = await only_review(world)
    await world.service.skip_review(TEAM, ADMIN, review.review_id)

    with pytest.raises(ServiceError, match="already skipped"):
        await world.service.approve_review(TEAM, ADMIN, review.review_id)
    assert qbo_writes(world) == writes


# --- nothing stacks up, and a review expires --------------------------------------------------------------------


async def test_runs_wait_while_a_review_is_pending_and_no_second_review_stacks_up(world: World) -> None:
    connection_id = await world.connect(review=ASK_FIRST)
    writes = qbo_writes(world)
    first = await world.sync(connection_id)

    daily = await world.sync(connection_id)

    assert daily.review_id == first.review_id
    assert daily.counts.invoices_seen == daily.counts.bills_created == 0
    await only_review(world)  # still exactly one
    assert qbo_writes(world) == writes


async def test_a_pending_review_gets_a_reminder_on_day_six_and_expires_on_day_seven(world: World) -> None:
    connection_id = await world.connect(review=ASK_FIRST)
    writes = qbo_writes(world)
    await world.sync(connection_id)
    review = await only_review(world)

    await sweep_reviews(world.sessions, review.created_at + timedelta(days=5, hours=23))
    assert f"review:{review.review_id}:reminder" not in await notification_keys(world)
    await sweep_reviews(world.sessions, review.created_at + timedelta(days=6, minutes=1))
    assert f"review:{review.review_id}:reminder" in await notification_keys(world)
    assert (await only_review(world)).state == ReviewState.PENDING
    await sweep_reviews(world.sessions, review.created_at + timedelta(days=7, minutes=1))

    expired = await only_review(world)
    assert expired.state == ReviewState.EXPIRED
    assert f"review:{review.review_id}:expired" in await notification_keys(world)
    with pytest.raises(ServiceError, match="already expired"):
        await world.service.approve_review(TEAM, ADMIN, review.review_id)
    asked_again = await world.sync(connection_id)
    assert asked_again.review_id not in (None, review.review_id), "the next sync asks again"
    assert qbo_writes(world) == writes


async def test_an_approval_after_the_expiry_is_refused_even_before_the_scheduler_noticed(world: World) -> None:
    connection_id = await world.connect(review=ASK_FIRST)
    await world.sync(connection_id)
    review = await only_review(world)
    async with transaction(world.sessions) as session:
        await session.execute(
            update(Review).where(Review.id == review.review_id).values(expires_at=review.created_at - timedelta(1))
        )

    with pytest.raises(ServiceError, match="expired"):
        await world.service.approve_review(TEAM, ADMIN, review.review_id)

    assert (await only_review(world)).state == ReviewState.EXPIRED
    assert f"review:{review.review_id}:expired" in await notification_keys(world)


# --- the threshold ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("over_bills", "asks"),
    [(1, True), (2, False)],
    ids=["more-bills-than-the-threshold", "as-many-as-the-threshold"],
)
async def test_a_later_run_asks_when_it_would_post_more_bills_than_the_threshold(
    world: World, over_bills: int, asks: bool
) -> None:
    connection_id = await world.connect(review=ReviewSettings(first_sync=False, later_runs=True, over_bills=over_bills))
    await world.sync(connection_id)  # the first sync posts (not asked for)
    paid = pay_pending_usd_invoices(world, 2)

    later = await world.sync(connection_id)

    assert (later.review_id is not None) is asks
    assert later.counts.bills_created == (0 if asks else len(paid))


@pytest.mark.parametrize(("cents_below", "asks"), [(1, True), (0, False)], ids=["over-the-amount", "at-the-amount"])
async def test_a_later_run_asks_when_it_would_post_more_than_the_amount_in_usd(
    world: World, cents_below: int, asks: bool
) -> None:
    connection_id = await world.connect(review=ReviewSettings(first_sync=False))
    await world.sync(connection_id)
    paid = pay_pending_usd_invoices(world, 2)
    total = sum((Decimal(str(row["total"])) for row in paid), Decimal(0))
    await world.set_review(
        ReviewSettings(first_sync=False, later_runs=True, over_usd=total - cents_below * Decimal("0.01"))
    )

    later = await world.sync(connection_id)

    assert (later.review_id is not None) is asks
    assert later.counts.bills_created == (0 if asks else len(paid))
    if asks:
        made = await world.service.review(TEAM, later.review_id or 0)
        assert made is not None and made.content.usd_total == total


# --- a run's invoices --------------------------------------------------------------------------------------------


async def test_the_run_csv_holds_exactly_the_runs_ledger_rows(world: World) -> None:
    connection_id = await world.connect()
    await world.sync(connection_id)
    links = QboLinks("https://app.sandbox.qbo.intuit.com")
    async with world.sessions() as session:
        run_id = max(int(row.last_run_id or 0) for row in (await session.scalars(select(SyncedInvoice))).all())

    text = await world.service.run_ledger_csv(TEAM, run_id, links)

    rows = list(csv.DictReader(io.StringIO(text)))
    ledger_rows = [row for row in await ledger(world) if row.last_run_id == run_id]
    assert len(rows) == len(ledger_rows) > 10
    for written, row in zip(rows, ledger_rows, strict=True):
        assert written["invoice"] == row.invoice_number
        assert written["amount"] == f"{row.amount:.2f}" and written["currency"] == row.currency
        assert written["bill_id"] == (row.qbo_bill_id or "")
        assert written["bill_link"] == (links.bill(row.qbo_bill_id) if row.qbo_bill_id else "")
        assert written["message"] == (row.error_message or "")
    created = [row for row in rows if row["outcome"] == RowOutcome.CREATED]
    failed = [row for row in rows if row["outcome"] == RowOutcome.FAILED]
    assert created and all(row["payment_id"] for row in created), "every bill is paid"
    assert failed and all(row["message"] for row in failed), "a failure says why"
    assert len(created) == sum(1 for row in ledger_rows if row.state == InvoiceState.CREATED)


async def test_the_history_lists_runs_newest_first_with_what_they_booked_in_usd(world: World) -> None:
    connection_id = await world.connect()
    await world.sync(connection_id)
    await world.sync(connection_id)

    history = await world.service.run_history(TEAM)

    assert [run.run_id for run in history] == sorted((run.run_id for run in history), reverse=True)
    newest, first = history[0], history[-1]
    assert newest.bills_created == 0 and not newest.usd_booked
    assert first.usd_booked is not None and first.usd_booked > 0
