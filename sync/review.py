"""The approval gate: a run that needs a person's approval plans everything, posts nothing, and asks.

Policy (the connection's settings, `/qbo settings`):
- The first sync (nothing booked yet for the connection) waits for approval, unless turned off.
- Later runs do not, unless turned on: then every run that would post asks, or only one that would post more than
  a number of bills or more than an amount in USD (the threshold).
- While a review is pending nothing is posted, by any run: a run finds it and waits (so no second review stacks up
  behind it, and the reviewed invoices are never posted before their approval).
- Approving queues a run that posts exactly the review's invoices, minus those an admin excluded. An invoice that
  changed in Ontop since the review goes back to review (a new one), never posted silently.
- An excluded invoice is held in the ledger (`EXCLUDED_IN_REVIEW`) until a person includes it again.
- A pending review expires 7 days after it was made; a reminder goes out on day 6. The daily scheduler's tick applies
  both (every minute, `sweep_reviews`); a run or a button that meets an expired review applies the expiry itself.

Every decision is in the database and every message owed goes through the outbox, so approvals survive restarts.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.models import NotificationKind, ReviewState
from storage.records import ConnectionRecord, ReviewItemRecord, ReviewRecord
from storage.repos.connections import ConnectionRepo
from storage.repos.ledger import LedgerRepo
from storage.repos.notifications import NotificationRepo
from storage.repos.reviews import NewReviewItem, ReviewRepo
from sync.api import (
    FailureGroup,
    Fix,
    FixKind,
    InvoiceFailure,
    ReviewContent,
    ReviewInvoice,
    ReviewSettings,
    SyncPreview,
)
from sync.failures import group_failures
from sync.ontop.models import Invoice
from sync.plan import EXCLUDED_IN_REVIEW, InvoicePlan, Outcome, VendorAction

log = structlog.get_logger(__name__)

ReviewedItem = NewReviewItem | ReviewItemRecord  # an invoice going into a review, or stored in one

REVIEW_LIFETIME = timedelta(days=7)
REMINDER_AFTER = timedelta(days=6)
LARGEST_SHOWN = 10  # the review message's largest invoices
EXCLUDED_SHOWN = 10
EXCLUDED_KEPT = 200  # invoices left out of earlier reviews that a new review lists (to be included again)
BLOCKED_GROUPS_KEPT = 10  # causes a stored review keeps (each with its count; a few example invoices each)
CENT = Decimal("0.01")


class ReviewEvent(enum.StrEnum):
    """What a REVIEW notification says (its payload's "event")."""

    POSTED = "posted"  # a new review: its message with the buttons
    REMINDER = "reminder"  # day 6: it expires tomorrow
    EXPIRED = "expired"  # day 7: its message loses its buttons


# --- the policy ---------------------------------------------------------------------------------------------


def review_settings_of(connection: ConnectionRecord) -> ReviewSettings:
    return ReviewSettings(
        first_sync=connection.review_first_sync,
        later_runs=connection.review_later_runs,
        over_bills=connection.review_over_bills,
        over_usd=connection.review_over_usd,
    )


def may_ask(settings: ReviewSettings, *, first: bool) -> bool:
    """Whether a run must plan everything before it posts anything (the gate may close)."""
    return settings.first_sync if first else settings.later_runs


def asks(settings: ReviewSettings, *, first: bool, bills: int, usd: Decimal) -> bool:
    """Whether a run that would post `bills` bills worth `usd` in USD waits for an admin's approval."""
    if bills == 0 or not may_ask(settings, first=first):
        return False
    if first or (settings.over_bills is None and settings.over_usd is None):
        return True
    over_count = settings.over_bills is not None and bills > settings.over_bills
    over_amount = settings.over_usd is not None and usd > settings.over_usd
    return over_count or over_amount


# --- what a posting would do ----------------------------------------------------------------------------------


@dataclass
class ReviewDraft:
    """Plans gathered the way the run counts them (sync/run.py `_record`): what a review or the preview shows."""

    # What would be posted, and what a person left out of an earlier review (excluded: it can be included again).
    items: list[NewReviewItem] = field(default_factory=list)
    blocked: list[InvoiceFailure] = field(default_factory=list)
    vendors_to_create: int = 0
    vendors_to_link: int = 0
    already_synced: int = 0
    not_final: int = 0  # waiting for payment, cancelled before billing, held by a person, a case reported
    review_cases: int = 0
    blocked_unmapped: dict[str, int] = field(default_factory=dict)
    blocked_no_vendor: int = 0
    blocked_other: int = 0
    read: int = 0

    def add(self, plan: InvoicePlan, worker_label: str) -> None:
        """One invoice's plan; `worker_label` names its worker when the plan does not."""
        if plan.outcome is Outcome.POST:
            self.items.append(_item_of(plan))
            action = plan.vendor.action if plan.vendor else VendorAction.USE
            self.vendors_to_create += action is VendorAction.CREATE
            self.vendors_to_link += action is VendorAction.LINK
        elif plan.outcome is Outcome.ALREADY_SYNCED:
            self.already_synced += 1
        elif plan.outcome in (Outcome.WAITING, Outcome.HELD):
            self.not_final += 1
        elif plan.outcome is Outcome.REVIEW:
            self.review_cases += 1
            self.already_synced += plan.keep_state
        else:
            assert plan.problem is not None
            failure = _failure_of(plan, plan.worker_name or worker_label)
            self.blocked.append(failure)
            if failure.code == "unmapped_concept" and failure.fix is not None:
                concept = failure.fix.target
                self.blocked_unmapped[concept] = self.blocked_unmapped.get(concept, 0) + 1
            elif failure.code == "no_vendor":
                self.blocked_no_vendor += 1
            else:
                self.blocked_other += 1

    @property
    def included(self) -> list[NewReviewItem]:
        """The invoices that would be posted."""
        return [item for item in self.items if not item.excluded]

    @property
    def invoice_ids(self) -> list[str]:
        return [item.invoice_id for item in self.included]

    @property
    def usd_total(self) -> Decimal:
        return sum((item.amount_usd or Decimal(0) for item in self.included), Decimal(0))

    def content(self) -> ReviewContent:
        """What a review of this draft shows (a stored review shows the same: sync/service/reviews.py)."""
        return review_content(
            self.included,
            [item for item in self.items if item.excluded],
            vendors_to_create=self.vendors_to_create,
            vendors_to_link=self.vendors_to_link,
            blocked=group_failures(self.blocked)[:BLOCKED_GROUPS_KEPT],
        )

    def preview(self) -> SyncPreview:
        return SyncPreview(
            eligible=len(self.included),
            already_synced=self.already_synced,
            not_final=self.not_final,
            blocked_unmapped=dict(self.blocked_unmapped),
            blocked_no_vendor=self.blocked_no_vendor,
            blocked_other=self.blocked_other,
            review=self.review_cases,
            vendors_to_create=self.vendors_to_create,
            vendors_to_link=self.vendors_to_link,
            content=self.content(),
        )


def review_content(
    included: Sequence[ReviewedItem],
    excluded: Sequence[ReviewedItem],
    *,
    vendors_to_create: int,
    vendors_to_link: int,
    blocked: list[FailureGroup],
) -> ReviewContent:
    """The review's content from its invoices: totals per currency and in USD, the largest, the excluded."""
    return ReviewContent(
        bills=len(included),
        vendors_to_create=vendors_to_create,
        vendors_to_link=vendors_to_link,
        totals=currency_totals((item.currency, item.amount) for item in included),
        usd_total=sum((item.amount_usd or Decimal(0) for item in included), Decimal(0)).quantize(CENT),
        largest=[invoice_of_item(item) for item in largest_first(included)[:LARGEST_SHOWN]],
        blocked=blocked,
        excluded=[invoice_of_item(item) for item in largest_first(excluded)[:EXCLUDED_SHOWN]],
        excluded_count=len(excluded),
    )


def currency_totals(amounts: Any) -> dict[str, Decimal]:
    """(currency, amount) pairs summed per currency, currencies in alphabetical order."""
    totals: dict[str, Decimal] = {}
    for currency, amount in amounts:
        totals[currency] = totals.get(currency, Decimal(0)) + amount
    return {currency: totals[currency].quantize(CENT) for currency in sorted(totals)}


def largest_first(items: Sequence[ReviewedItem]) -> list[ReviewedItem]:
    """Largest in USD first, then by number (the order ReviewRepo.list_items reads them in)."""
    return sorted(items, key=lambda item: (item.amount_usd is None, -(item.amount_usd or 0), item.invoice_number))


def invoice_of_item(item: ReviewedItem) -> ReviewInvoice:
    return ReviewInvoice(
        invoice_id=item.invoice_id,
        invoice_number=item.invoice_number,
        worker_name=item.worker_name,
        amount=item.amount,
        currency=item.currency,
        amount_usd=item.amount_usd,
        excluded=item.excluded,
    )


def _usd_of(invoice: Invoice, plan: InvoicePlan) -> Decimal | None:
    """What Ontop charged in USD: the booking's figure, or the amount of a USD invoice."""
    if plan.booking is not None and plan.booking.usd_total is not None:
        return plan.booking.usd_total
    if invoice.currency.upper() == "USD":
        return invoice.total
    return invoice.usd_equivalent


def _item_of(plan: InvoicePlan) -> NewReviewItem:
    invoice = plan.invoice
    return NewReviewItem(
        invoice_id=str(invoice.id),
        invoice_number=invoice.number,
        agreement_id=str(invoice.agreement_id) if invoice.agreement_id is not None else None,
        worker_name=plan.worker_name,
        amount=invoice.total,
        currency=invoice.currency,
        amount_usd=_usd_of(invoice, plan),
        ontop_updated_at=invoice.updated_at,
    )


async def add_earlier_exclusions(
    sessions: async_sessionmaker[AsyncSession], connection_id: int, draft: ReviewDraft
) -> ReviewDraft:
    """Invoices a person left out of an earlier review join the draft as excluded: the preview lists them, and a
    review's details can include them again (an approval then posts them, unless they changed since)."""
    async with sessions() as session:
        entries = await LedgerRepo(session, connection_id).list_with_codes([EXCLUDED_IN_REVIEW], EXCLUDED_KEPT)
    known = {item.invoice_id for item in draft.items}
    draft.items.extend(
        NewReviewItem(
            invoice_id=entry.invoice_id,
            invoice_number=entry.invoice_number,
            agreement_id=entry.agreement_id,
            worker_name=entry.worker_name or f"contract {entry.agreement_id}",
            amount=entry.amount,
            currency=entry.currency,
            amount_usd=entry.amount if entry.currency == "USD" else entry.usd_total,
            ontop_updated_at=entry.ontop_updated_at,
            excluded=True,
        )
        for entry in entries
        if entry.invoice_id not in known
        and entry.amount is not None
        and entry.currency is not None
        and entry.ontop_updated_at is not None
    )
    return draft


def _failure_of(plan: InvoicePlan, worker_name: str) -> InvoiceFailure:
    """A blocked plan as the failure the run would record (sync/service/reports.py `failure_of` names fixes alike)."""
    invoice = plan.invoice
    assert plan.problem is not None
    fix = plan.problem.fix
    if fix is not None and not fix.target_name:
        if fix.kind is FixKind.CREATE_VENDOR:
            fix = dataclasses.replace(fix, target_name=worker_name)
        elif fix.kind is FixKind.CREATE_VENDOR_IN_CURRENCY:
            fix = dataclasses.replace(fix, target_name=f"{worker_name} ({fix.target.rpartition(':')[2]})")
        elif fix.kind in (FixKind.RETRY, FixKind.LINK_BILL, FixKind.SKIP_INVOICE):
            fix = dataclasses.replace(fix, target_name=invoice.number)
    return InvoiceFailure(
        invoice_id=str(invoice.id),
        invoice_number=invoice.number,
        worker_name=worker_name,
        amount=invoice.total,
        currency=invoice.currency,
        reason=plan.problem.message,
        fix=fix,
        code=plan.problem.code,
        amount_usd=invoice.usd_equivalent if invoice.currency.upper() != "USD" else None,
    )


# --- what is blocked, kept with the review ----------------------------------------------------------------------


def _fix_json(fix: Fix | None) -> dict[str, str] | None:
    return None if fix is None else {"kind": str(fix.kind), "target": fix.target, "target_name": fix.target_name}


def _fix_of(data: Any) -> Fix | None:
    if not isinstance(data, dict):
        return None
    try:
        return Fix(FixKind(str(data["kind"])), str(data.get("target", "")), str(data.get("target_name", "")))
    except (KeyError, ValueError):
        return None  # a fix kind this version no longer knows: shown without its button


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def blocked_json(groups: Sequence[FailureGroup]) -> list[dict[str, Any]]:
    """The causes a review shows as blocked, as JSON the review row keeps (a few example invoices each)."""
    return [
        {
            "code": group.code,
            "reason": group.reason,
            "count": group.count,
            "fix": _fix_json(group.fix),
            "fixes": [_fix_json(fix) for fix in group.fixes],
            "examples": [
                {
                    "invoice_id": example.invoice_id,
                    "invoice_number": example.invoice_number,
                    "worker_name": example.worker_name,
                    "amount": _money(example.amount),
                    "currency": example.currency,
                    "amount_usd": _money(example.amount_usd),
                    "reason": example.reason,
                    "code": example.code,
                    "fix": _fix_json(example.fix),
                }
                for example in group.examples
            ],
        }
        for group in groups[:BLOCKED_GROUPS_KEPT]
    ]


def blocked_groups(data: Sequence[dict[str, Any]]) -> list[FailureGroup]:
    """The review row's blocked causes back as the groups Slack renders."""
    groups = []
    for group in data:
        examples = [
            InvoiceFailure(
                invoice_id=str(example.get("invoice_id", "")),
                invoice_number=str(example.get("invoice_number", "")),
                worker_name=str(example.get("worker_name", "")),
                amount=_decimal(example.get("amount")),
                currency=example.get("currency"),
                reason=str(example.get("reason", "")),
                fix=_fix_of(example.get("fix")),
                code=str(example.get("code", "")),
                amount_usd=_decimal(example.get("amount_usd")),
            )
            for example in group.get("examples") or []
        ]
        fixes = [fix for fix in (_fix_of(data) for data in group.get("fixes") or []) if fix is not None]
        groups.append(
            FailureGroup(
                code=str(group.get("code", "")),
                reason=str(group.get("reason", "")),
                count=int(group.get("count", 0)),
                fix=_fix_of(group.get("fix")),
                examples=examples,
                fixes=fixes,
            )
        )
    return groups


# --- making, deciding and expiring reviews ------------------------------------------------------------------------


async def store_review(
    session: AsyncSession,
    connection: ConnectionRecord,
    draft: ReviewDraft,
    *,
    run_id: int | None,
    requested_by: str | None,
    now: datetime,
) -> ReviewRecord:
    """A pending review of the draft, and the message it owes, in the caller's transaction."""
    review = await ReviewRepo(session).create(
        connection.id,
        run_id=run_id,
        requested_by=requested_by,
        created_at=now,
        expires_at=now + REVIEW_LIFETIME,
        vendors_to_create=draft.vendors_to_create,
        vendors_to_link=draft.vendors_to_link,
        blocked=blocked_json(group_failures(draft.blocked)),
        items=draft.items,
    )
    await owe_review_notice(session, connection, review.id, ReviewEvent.POSTED, now)
    log.info("review_made", review_id=review.id, run_id=run_id, bills=len(draft.included))
    return review


async def owe_review_notice(
    session: AsyncSession, connection: ConnectionRecord, review_id: int, event: str, now: datetime
) -> bool:
    """A REVIEW notification (the review's message, its reminder, its expiry), each owed once."""
    key = f"review:{review_id}" if event == ReviewEvent.POSTED else f"review:{review_id}:{event}"
    return await NotificationRepo(session).enqueue(
        connection.workspace_id,
        NotificationKind.REVIEW,
        key,
        connection_id=connection.id,
        payload={"review_id": review_id, "event": event},
        now=now,
    )


async def expire(session: AsyncSession, connection: ConnectionRecord, review: ReviewRecord, now: datetime) -> None:
    """A pending review past its time: nothing of it is posted; its message says so (the next run asks again)."""
    await ReviewRepo(session).mark_decided(review.id, ReviewState.EXPIRED, None, now)
    await owe_review_notice(session, connection, review.id, ReviewEvent.EXPIRED, now)
    log.info("review_expired", review_id=review.id)


async def sweep_reviews(sessions: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """The scheduler's tick: remind on day 6, expire on day 7; returns how many reviews expired."""
    expired = 0
    async with transaction(sessions) as session:
        reviews = ReviewRepo(session)
        for review in await reviews.list_pending_created_before(now - REMINDER_AFTER):
            connection = await ConnectionRepo(session).get(review.connection_id)
            if connection is None:
                continue
            if review.expires_at <= now:
                await expire(session, connection, review, now)
                expired += 1
            else:
                await owe_review_notice(session, connection, review.id, ReviewEvent.REMINDER, now)
    return expired


@dataclass(frozen=True)
class Gate:
    """What the approval gate says about a run that is starting."""

    settings: ReviewSettings
    first: bool  # nothing booked yet for the connection: this is its first sync
    waiting_for: ReviewRecord | None  # a pending review: nothing is posted until a person decides it
    approved: ReviewRecord | None  # an approved review: this run posts exactly its invoices

    @property
    def may_ask(self) -> bool:
        return may_ask(self.settings, first=self.first)

    def asks(self, draft: ReviewDraft) -> bool:
        return asks(self.settings, first=self.first, bills=len(draft.included), usd=draft.usd_total)


async def open_gate(sessions: async_sessionmaker[AsyncSession], connection: ConnectionRecord, now: datetime) -> Gate:
    """The gate for a run of `connection` starting now (a pending review past its time expires here)."""
    async with transaction(sessions) as session:
        reviews = ReviewRepo(session)
        pending = await reviews.get_pending(connection.id)
        if pending is not None and pending.expires_at <= now:
            await expire(session, connection, pending, now)
            pending = None
        approved = await reviews.get_approved_unposted(connection.id)
        first = not await LedgerRepo(session, connection.id).has_created()
    return Gate(review_settings_of(connection), first, pending, approved)


async def approved_items(sessions: async_sessionmaker[AsyncSession], review_id: int) -> list[ReviewItemRecord]:
    """The invoices of an approved review an admin did not exclude."""
    async with sessions() as session:
        return await ReviewRepo(session).list_items(review_id, excluded=False)


async def mark_posted(sessions: async_sessionmaker[AsyncSession], review_id: int, run_id: int) -> None:
    async with transaction(sessions) as session:
        await ReviewRepo(session).mark_posted(review_id, run_id)
