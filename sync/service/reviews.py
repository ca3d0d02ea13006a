"""The approval gate as people use it: a review's content and pages, approve, skip, exclude, ask from the preview.

The rules are in sync/review.py; this module finds the workspace's review, checks it can still be decided, and
writes each decision with its consequences (the ledger's holds, the posting run, the audit) in one transaction.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import transaction
from storage.records import ConnectionRecord, ReviewItemRecord, ReviewRecord
from storage.repos.audit import AuditRepo
from storage.repos.ledger import InvoiceFacts, LedgerRepo
from storage.repos.notifications import NotificationRepo
from storage.repos.reviews import ReviewRepo
from sync import jobs, messages, review
from sync.api import (
    ReviewDecision,
    ReviewPage,
    ReviewState,
    ReviewView,
    RunStatus,
    RunTrigger,
    ServiceError,
    SyncRequest,
    TeamRef,
    UnknownConnectionError,
)
from sync.ontop.models import InvoiceStatus
from sync.plan import EXCLUDED_IN_REVIEW
from sync.service.base import ServiceContext
from sync.service.syncing import plan_next_run

PAGE_SIZE = 50  # invoices per page of the details modal (five checkbox groups of ten)
STATE_WORDS = {ReviewState.APPROVED: "approved", ReviewState.SKIPPED: "skipped", ReviewState.EXPIRED: "expired"}


def _now() -> datetime:
    return datetime.now(UTC)


async def review_view(session: AsyncSession, connection: ConnectionRecord, record: ReviewRecord) -> ReviewView:
    """What Slack shows of a review: the same content the preview shows, from the stored invoices."""
    reviews = ReviewRepo(session)
    items = await reviews.list_items(record.id)
    content = review.review_content(
        [item for item in items if not item.excluded],
        [item for item in items if item.excluded],
        vendors_to_create=record.vendors_to_create,
        vendors_to_link=record.vendors_to_link,
        blocked=review.blocked_groups(record.blocked),
    )
    posted = await NotificationRepo(session).get_by_key(connection.workspace_id, f"review:{record.id}")
    return ReviewView(
        connection_id=connection.id,
        review_id=record.id,
        state=ReviewState(record.state),
        content=content,
        created_at=record.created_at,
        expires_at=record.expires_at,
        invoices=len(items),
        run_id=record.run_id,
        requested_by=record.requested_by,
        decided_by=record.decided_by,
        decided_at=record.decided_at,
        posted_run_id=record.posted_run_id,
        message=(posted.channel_id, posted.ts) if posted and posted.channel_id and posted.ts else None,
    )


def facts_of_item(item: ReviewItemRecord) -> InvoiceFacts:
    """What the ledger keeps of a reviewed invoice (it was PAID: only paid invoices are posted)."""
    return InvoiceFacts(
        invoice_id=item.invoice_id,
        number=item.invoice_number,
        agreement_id=item.agreement_id,
        status=str(InvoiceStatus.PAID),
        updated_at=item.ontop_updated_at,
        amount=item.amount,
        currency=item.currency,
    )


class Reviews:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    # --- reading ----------------------------------------------------------------------------------------------

    async def review(self, team: TeamRef, review_id: int) -> ReviewView | None:
        try:
            connection = await self._context.find_connection(await self._context.about_review(team, review_id))
        except UnknownConnectionError:
            return None  # another workspace's
        if connection is None:
            return None
        async with self._context.sessions() as session:
            record = await ReviewRepo(session).get(review_id)
            if record is None or record.connection_id != connection.id:
                return None  # never another workspace's review
            return await review_view(session, connection, record)

    async def review_page(self, team: TeamRef, review_id: int, page: int = 0) -> ReviewPage:
        team = await self._context.about_review(team, review_id)
        connection = await self._context.connection(team)
        async with self._context.sessions() as session:
            record = await ReviewRepo(session).get(review_id)
            if record is None or record.connection_id != connection.id:
                raise ServiceError(messages.REVIEW_NOT_FOUND)
            view = await review_view(session, connection, record)
            pages = max(1, math.ceil(view.invoices / PAGE_SIZE))
            page = min(max(page, 0), pages - 1)
            items = await ReviewRepo(session).list_items(record.id, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
        return ReviewPage(view, [review.invoice_of_item(item) for item in items], page, pages)

    # --- deciding ---------------------------------------------------------------------------------------------

    async def approve_review(self, team: TeamRef, user_id: str, review_id: int) -> ReviewDecision:
        team = await self._context.about_review(team, review_id)
        connection = await self._context.connection(team, require_active=True)
        async with transaction(self._context.sessions) as session:
            record, problem = await self._decidable(session, connection, review_id)
            if record is not None:
                decided = await ReviewRepo(session).mark_decided(record.id, ReviewState.APPROVED, user_id, _now())
                run, joined = await jobs.enqueue_run(session, connection.id, RunTrigger.APPROVAL, user_id)
                AuditRepo(session).record(
                    connection.workspace_id, user_id, "approve_review", connection.id, review=record.id, run_id=run.id
                )
                decision = ReviewDecision(
                    await review_view(session, connection, decided), SyncRequest(run.id, joined, RunStatus(run.status))
                )
        if record is None:
            raise ServiceError(problem)
        return decision

    async def skip_review(self, team: TeamRef, user_id: str, review_id: int) -> ReviewDecision:
        team = await self._context.about_review(team, review_id)
        connection = await self._context.connection(team)
        async with transaction(self._context.sessions) as session:
            record, problem = await self._decidable(session, connection, review_id)
            if record is not None:
                decided = await ReviewRepo(session).mark_decided(record.id, ReviewState.SKIPPED, user_id, _now())
                AuditRepo(session).record(
                    connection.workspace_id, user_id, "skip_review", connection.id, review=record.id
                )
                decision = ReviewDecision(await review_view(session, connection, decided))
        if record is None:
            raise ServiceError(problem)
        return decision

    async def save_review_exclusions(
        self, team: TeamRef, user_id: str, review_id: int, shown: list[str], excluded: list[str]
    ) -> ReviewView:
        team = await self._context.about_review(team, review_id)
        connection = await self._context.connection(team)
        async with transaction(self._context.sessions) as session:
            record, problem = await self._decidable(session, connection, review_id)
            if record is not None:
                changed = await ReviewRepo(session).save_exclusions(record.id, shown, set(excluded) & set(shown))
                ledger = LedgerRepo(session, connection.id)
                for item in changed:
                    if item.excluded:
                        await ledger.record_held_in_review(
                            facts_of_item(item),
                            record.run_id,
                            worker_name=item.worker_name,
                            code=EXCLUDED_IN_REVIEW,
                            message=messages.EXCLUDED_IN_REVIEW,
                        )
                    else:
                        await ledger.release_hold(item.invoice_id, EXCLUDED_IN_REVIEW)
                AuditRepo(session).record(
                    connection.workspace_id,
                    user_id,
                    "review_exclusions",
                    connection.id,
                    review=record.id,
                    excluded=sorted(item.invoice_id for item in changed if item.excluded),
                    included=sorted(item.invoice_id for item in changed if not item.excluded),
                )
                view = await review_view(session, connection, record)
        if record is None:
            raise ServiceError(problem)
        return view

    async def request_review(self, team: TeamRef, user_id: str) -> ReviewView:
        """The preview's content as a review for the channel: planned again now, the same way a run plans."""
        connection = await self._context.connection(team, require_active=True)
        async with self._context.sessions() as session:
            await self._nothing_waiting(session, connection)
        draft = await plan_next_run(self._context, connection)
        if not draft.included:
            raise ServiceError(messages.NOTHING_TO_REVIEW)
        try:
            async with transaction(self._context.sessions) as session:
                await self._nothing_waiting(session, connection)
                made = await review.store_review(
                    session, connection, draft, run_id=None, requested_by=user_id, now=_now()
                )
                AuditRepo(session).record(
                    connection.workspace_id, user_id, "request_review", connection.id, review=made.id
                )
                return await review_view(session, connection, made)
        except IntegrityError:
            # Another review was made meanwhile (the database keeps one pending review per connection).
            raise ServiceError(messages.REVIEW_ALREADY_WAITING) from None

    async def include_invoice(self, team: TeamRef, user_id: str, invoice_id: str) -> str:
        connection = await self._context.connection(team)
        async with transaction(self._context.sessions) as session:
            entry = await LedgerRepo(session, connection.id).release_hold(invoice_id, EXCLUDED_IN_REVIEW)
            if entry is not None:
                pending = await ReviewRepo(session).get_pending(connection.id)
                if pending is not None:  # it is an excluded invoice of the waiting review: included there too
                    await ReviewRepo(session).save_exclusions(pending.id, [invoice_id], set())
                # A retry reads it again: the watermark may have moved past it while it was held.
                await jobs.enqueue_run(session, connection.id, RunTrigger.RETRY, user_id)
                AuditRepo(session).record(
                    connection.workspace_id, user_id, "include_invoice", connection.id, invoice=invoice_id
                )
        if entry is None:
            raise ServiceError(messages.INVOICE_NOT_EXCLUDED)
        return entry.invoice_number

    # --- helpers ----------------------------------------------------------------------------------------------

    async def _decidable(
        self, session: AsyncSession, connection: ConnectionRecord, review_id: int
    ) -> tuple[ReviewRecord | None, str]:
        """The review, locked, when it can still be decided; else None and why (an expired one is expired now)."""
        record = await ReviewRepo(session).get(review_id, for_update=True)
        if record is None or record.connection_id != connection.id:
            return None, messages.REVIEW_NOT_FOUND
        if record.state != ReviewState.PENDING:
            return None, messages.review_decided(STATE_WORDS.get(ReviewState(record.state), str(record.state)))
        if record.expires_at <= _now():
            await review.expire(session, connection, record, _now())
            return None, messages.review_expired()
        return record, ""

    async def _nothing_waiting(self, session: AsyncSession, connection: ConnectionRecord) -> None:
        reviews = ReviewRepo(session)
        pending = await reviews.get_pending(connection.id)
        if pending is not None:
            raise ServiceError(messages.review_pending(pending.id))
        if await reviews.get_approved_unposted(connection.id) is not None:
            raise ServiceError(messages.APPROVED_REVIEW_POSTING)
