"""Reviews: what a run would post, waiting for an admin's approval, and the invoices in it (sync/review.py).

A unique partial index keeps at most one pending review per connection; a review moves pending → approved, skipped
or expired once, under a row lock, so two admins pressing at once decide it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Review, ReviewItem, ReviewState
from storage.records import ReviewItemRecord, ReviewRecord


@dataclass(frozen=True)
class NewReviewItem:
    """An invoice as it goes into a review."""

    invoice_id: str
    invoice_number: str
    agreement_id: str | None
    worker_name: str
    amount: Decimal
    currency: str
    amount_usd: Decimal | None
    ontop_updated_at: datetime
    excluded: bool = False


class ReviewRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- writing --------------------------------------------------------------------------------------------

    async def create(
        self,
        connection_id: int,
        *,
        run_id: int | None,
        requested_by: str | None,
        created_at: datetime,
        expires_at: datetime,
        vendors_to_create: int,
        vendors_to_link: int,
        blocked: Sequence[dict[str, Any]],
        items: Sequence[NewReviewItem],
    ) -> ReviewRecord:
        """A pending review with its invoices (the unique index refuses a second pending one)."""
        review = Review(
            connection_id=connection_id,
            run_id=run_id,
            state=ReviewState.PENDING,
            requested_by=requested_by,
            vendors_to_create=vendors_to_create,
            vendors_to_link=vendors_to_link,
            blocked=list(blocked),
            created_at=created_at,
            expires_at=expires_at,
        )
        self._session.add(review)
        await self._session.flush()
        self._session.add_all(
            ReviewItem(
                review_id=review.id,
                invoice_id=item.invoice_id,
                invoice_number=item.invoice_number,
                agreement_id=item.agreement_id,
                worker_name=item.worker_name,
                amount=item.amount,
                currency=item.currency,
                amount_usd=item.amount_usd,
                ontop_updated_at=item.ontop_updated_at,
                excluded=item.excluded,
            )
            for item in items
        )
        await self._session.flush()
        return ReviewRecord.of(review)

    async def mark_decided(self, review_id: int, state: str, user_id: str | None, now: datetime) -> ReviewRecord:
        """Approved, skipped or expired (user_id None for an expiry)."""
        row = await self._existing(review_id)
        row.state = state
        row.decided_by = user_id
        row.decided_at = now
        await self._session.flush()
        return ReviewRecord.of(row)

    async def mark_posted(self, review_id: int, run_id: int) -> None:
        (await self._existing(review_id)).posted_run_id = run_id

    async def save_exclusions(self, review_id: int, shown: Sequence[str], excluded: set[str]) -> list[ReviewItemRecord]:
        """Of the invoices shown to the person, exclude the chosen ones and include the others; the items changed."""
        rows = await self._session.scalars(
            select(ReviewItem).where(ReviewItem.review_id == review_id, ReviewItem.invoice_id.in_(list(shown)))
        )
        changed = []
        for row in rows:
            wanted = row.invoice_id in excluded
            if row.excluded != wanted:
                row.excluded = wanted
                changed.append(ReviewItemRecord.of(row))
        await self._session.flush()
        return changed

    # --- reading ----------------------------------------------------------------------------------------------

    async def get(self, review_id: int, *, for_update: bool = False) -> ReviewRecord | None:
        query = select(Review).where(Review.id == review_id)
        if for_update:
            query = query.with_for_update()
        row = await self._session.scalar(query.execution_options(populate_existing=True))
        return ReviewRecord.of(row) if row is not None else None

    async def get_pending(self, connection_id: int) -> ReviewRecord | None:
        return await self._one(connection_id, Review.state == ReviewState.PENDING)

    async def get_approved_unposted(self, connection_id: int) -> ReviewRecord | None:
        """The oldest approved review whose invoices no run has posted yet."""
        return await self._one(connection_id, Review.state == ReviewState.APPROVED, Review.posted_run_id.is_(None))

    async def get_made_by_run(self, run_id: int) -> ReviewRecord | None:
        row = await self._session.scalar(select(Review).where(Review.run_id == run_id).order_by(Review.id).limit(1))
        return ReviewRecord.of(row) if row is not None else None

    async def get_posted_by_run(self, run_id: int) -> ReviewRecord | None:
        row = await self._session.scalar(select(Review).where(Review.posted_run_id == run_id).limit(1))
        return ReviewRecord.of(row) if row is not None else None

    async def list_pending_created_before(self, moment: datetime) -> list[ReviewRecord]:
        """Pending reviews old enough for a reminder (or past their expiry), every connection."""
        rows = await self._session.scalars(
            select(Review).where(Review.state == ReviewState.PENDING, Review.created_at <= moment).order_by(Review.id)
        )
        return [ReviewRecord.of(row) for row in rows]

    async def list_items(
        self, review_id: int, *, offset: int = 0, limit: int | None = None, excluded: bool | None = None
    ) -> list[ReviewItemRecord]:
        """The review's invoices, largest in USD first (then by number), optionally only the (not) excluded."""
        query = select(ReviewItem).where(ReviewItem.review_id == review_id)
        if excluded is not None:
            query = query.where(ReviewItem.excluded.is_(excluded))
        query = query.order_by(
            ReviewItem.amount_usd.is_(None), ReviewItem.amount_usd.desc(), ReviewItem.invoice_number, ReviewItem.id
        ).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return [ReviewItemRecord.of(row) for row in await self._session.scalars(query)]

    async def count_included(self, review_id: int) -> int:
        """How many of the review's invoices would be posted (not excluded)."""
        count = await self._session.scalar(
            select(func.count(ReviewItem.id)).where(ReviewItem.review_id == review_id, ReviewItem.excluded.is_(False))
        )
        return int(count or 0)

    async def count_items(self, review_id: int) -> int:
        count = await self._session.scalar(select(func.count(ReviewItem.id)).where(ReviewItem.review_id == review_id))
        return int(count or 0)

    # --- helpers ----------------------------------------------------------------------------------------------

    async def _one(self, connection_id: int, *conditions: Any) -> ReviewRecord | None:
        row = await self._session.scalar(
            select(Review)
            .where(Review.connection_id == connection_id, *conditions)
            .order_by(Review.id)
            .limit(1)
            .execution_options(populate_existing=True)
        )
        return ReviewRecord.of(row) if row is not None else None

    async def _existing(self, review_id: int) -> Review:
        row = await self._session.get(Review, review_id)
        if row is None:
            raise LookupError(f"review {review_id} does not exist")
        return row
