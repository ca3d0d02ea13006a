"""The notifications outbox: what each workspace is owed, and how far each delivery got.

Rows are written in the transaction of what they report (a run's final state, a reconnect deadline), so a crash
cannot lose one. Deliverers lease due rows with `FOR UPDATE SKIP LOCKED`, like runs: two processes never deliver
the same row at once, and a deliverer that dies mid-way leaves a row another one takes over when the lease ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Notification, NotificationState, utcnow
from storage.records import NotificationRecord

ERROR_LIMIT = 500


class NotificationRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def enqueue(
        self,
        workspace_id: int,
        kind: str,
        key: str,
        *,
        connection_id: int | None = None,
        run_id: int | None = None,
        payload: dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Owe the workspace this message once: False when a notification with this key already exists."""
        existing = await self._session.scalar(
            select(Notification.id).where(Notification.workspace_id == workspace_id, Notification.key == key)
        )
        if existing is not None:
            return False
        moment = now or utcnow()
        self._session.add(
            Notification(
                workspace_id=workspace_id,
                connection_id=connection_id,
                kind=kind,
                key=key,
                run_id=run_id,
                payload=payload or {},
                state=NotificationState.PENDING,
                attempts=0,
                next_attempt_at=moment,
                pages_posted=0,
                file_posted=False,
                created_at=moment,
            )
        )
        await self._session.flush()
        return True

    async def claim_due(
        self, owner: str, lease_seconds: float, now: datetime | None = None, limit: int = 10
    ) -> list[NotificationRecord]:
        """Lease the pending rows that are due and not leased by a live deliverer, oldest first."""
        moment = now or utcnow()
        rows = list(
            await self._session.scalars(
                select(Notification)
                .where(
                    Notification.state == NotificationState.PENDING,
                    Notification.next_attempt_at <= moment,
                    or_(Notification.lease_until.is_(None), Notification.lease_until < moment),
                )
                .order_by(Notification.next_attempt_at, Notification.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)
            )
        )
        for row in rows:
            row.lease_owner = owner
            row.lease_until = moment + timedelta(seconds=lease_seconds)
            row.attempts += 1
        await self._session.flush()
        return [NotificationRecord.of(row) for row in rows]

    async def get(self, notification_id: int) -> NotificationRecord | None:
        row = await self._session.get(Notification, notification_id, populate_existing=True)
        return NotificationRecord.of(row) if row is not None else None

    async def get_by_key(self, workspace_id: int, key: str) -> NotificationRecord | None:
        row = await self._session.scalar(
            select(Notification).where(Notification.workspace_id == workspace_id, Notification.key == key)
        )
        return NotificationRecord.of(row) if row is not None else None

    async def of_run(self, run_id: int) -> list[NotificationRecord]:
        rows = await self._session.scalars(
            select(Notification).where(Notification.run_id == run_id).order_by(Notification.id)
        )
        return [NotificationRecord.of(row) for row in rows]

    # --- delivery steps: each written as soon as Slack answered, so a redelivery resumes after it -----------

    async def mark_post_started(self, notification_id: int, channel_id: str, now: datetime | None = None) -> None:
        row = await self._row(notification_id)
        row.channel_id = channel_id
        row.post_started_at = now or utcnow()

    async def record_top(self, notification_id: int, channel_id: str, ts: str, *, fell_back: str | None) -> None:
        row = await self._row(notification_id)
        row.channel_id, row.ts, row.fell_back = channel_id, ts, fell_back

    async def record_reply(self, notification_id: int, ts: str) -> None:
        (await self._row(notification_id)).reply_ts = ts

    async def record_pages(self, notification_id: int, pages_posted: int) -> None:
        (await self._row(notification_id)).pages_posted = pages_posted

    async def record_file(self, notification_id: int) -> None:
        (await self._row(notification_id)).file_posted = True

    async def delivered(self, notification_id: int, now: datetime | None = None) -> None:
        row = await self._row(notification_id)
        row.state = NotificationState.DELIVERED
        row.delivered_at = now or utcnow()
        row.lease_owner = row.lease_until = None
        row.last_error = None

    async def retry_later(self, notification_id: int, at: datetime, error: str) -> None:
        row = await self._row(notification_id)
        row.next_attempt_at = at
        row.lease_owner = row.lease_until = None
        row.last_error = error[:ERROR_LIMIT]

    async def give_up(self, notification_id: int, error: str, now: datetime | None = None) -> None:
        """Nobody could be reached: kept as FAILED so /qbo status and the App Home say so."""
        row = await self._row(notification_id)
        row.state = NotificationState.FAILED
        row.delivered_at = now or utcnow()
        row.lease_owner = row.lease_until = None
        row.last_error = error[:ERROR_LIMIT]

    # --- what /qbo status shows -------------------------------------------------------------------------------

    async def latest_settled(self, workspace_id: int) -> NotificationRecord | None:
        """The most recent delivered or failed notification: did the last one reach the finance channel?"""
        row = await self._session.scalar(
            select(Notification)
            .where(
                Notification.workspace_id == workspace_id,
                Notification.state.in_([NotificationState.DELIVERED, NotificationState.FAILED]),
            )
            .order_by(Notification.delivered_at.desc(), Notification.id.desc())
            .limit(1)
        )
        return NotificationRecord.of(row) if row is not None else None

    async def count_pending(self, workspace_id: int | None = None) -> int:
        query = select(func.count(Notification.id)).where(Notification.state == NotificationState.PENDING)
        if workspace_id is not None:
            query = query.where(Notification.workspace_id == workspace_id)
        return int(await self._session.scalar(query) or 0)

    async def prune(self, settled_before: datetime, kinds: Sequence[str] | None = None) -> int:
        """Forget delivered and failed rows settled before the cut-off (pending rows are never pruned)."""
        statement = delete(Notification).where(
            Notification.state.in_([NotificationState.DELIVERED, NotificationState.FAILED]),
            Notification.delivered_at < settled_before,
        )
        if kinds is not None:
            statement = statement.where(Notification.kind.in_(list(kinds)))
        result = await self._session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)

    async def _row(self, notification_id: int) -> Notification:
        row = await self._session.get(Notification, notification_id)
        if row is None:
            raise LookupError(f"notification {notification_id} does not exist")
        return row
