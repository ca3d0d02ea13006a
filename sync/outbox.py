"""What each workspace is owed, and the loop that delivers it at least once (docs/reliability.md, "Notifications").

The domain writes a notification in the transaction of the fact it reports: a run's final state (owe_run_result),
QuickBooks refusing the connection, a reconnect deadline. `Outbox` leases due rows and hands each to a `Sender`
(handlers/notify.py speaks Slack); the sender records every step through `DeliverySteps` as soon as Slack answers,
so a redelivery after a crash updates what was posted instead of posting it twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.models import NotificationKind
from storage.records import ConnectionRecord, NotificationRecord
from storage.repos.connections import ConnectionRepo
from storage.repos.notifications import NotificationRepo
from storage.repos.workspaces import WorkspaceRepo
from sync.api import TeamRef

__all__ = [
    "DeliveryResult",
    "DeliverySteps",
    "NotificationKind",
    "NotificationRecord",
    "Outbox",
    "RetryLater",
    "Sender",
    "Steps",
    "Unreachable",
    "owe_reauth_alert",
    "owe_reauth_reminder",
    "owe_run_result",
]

log = structlog.get_logger(__name__)

LEASE_SECONDS = 120.0  # longer than one delivery takes, even with Slack's rate-limit waits
MAX_BACKOFF = timedelta(minutes=15)
MAX_ATTEMPTS = 30  # about a day of retries with the back-off, then the row is failed and shown in /qbo status
KEEP_DELIVERED = timedelta(days=14)  # then pruned; /qbo status only needs the latest
REMINDER_WINDOW = timedelta(days=30)  # reconnect reminders: weekly in the last 30 days ...
LAST_REMINDER = timedelta(days=3)  # ... and one 3 days before the end


# --- what is owed -----------------------------------------------------------------------------------------


async def owe_run_result(session: AsyncSession, connection_id: int, run_id: int, now: datetime | None = None) -> bool:
    """A finished run owes its summary; call it in the transaction that records the run's final state."""
    connection = await ConnectionRepo(session).get(connection_id)
    if connection is None:
        return False
    return await NotificationRepo(session).enqueue(
        connection.workspace_id,
        NotificationKind.RUN_RESULT,
        f"run:{run_id}",
        connection_id=connection_id,
        run_id=run_id,
        now=now,
    )


async def owe_reauth_alert(session: AsyncSession, connection: ConnectionRecord, reason: str, now: datetime) -> bool:
    """QuickBooks refused the connection: the workspace is told once per refusal."""
    return await NotificationRepo(session).enqueue(
        connection.workspace_id,
        NotificationKind.REAUTH,
        f"reauth:{connection.id}:refused:{now:%Y%m%dT%H%M%S}",
        connection_id=connection.id,
        payload={"refused": True, "reason": reason},
        now=now,
    )


def reminder_key(connection_id: int, deadline: datetime, now: datetime) -> str | None:
    """The reminder due now before an authorization ends, or None: one per week of the last 30 days (counted
    back from the deadline), plus one in the last 3 days. The key makes each one go out once."""
    left = deadline - now
    if left <= timedelta(0) or left > REMINDER_WINDOW:
        return None
    if left <= LAST_REMINDER:
        return f"reauth:{connection_id}:{deadline:%Y%m%d}:last"
    weeks_before = left.days // 7  # 4 (30-28 days left), 3, 2, 1, 0 (6-3 days left)
    return f"reauth:{connection_id}:{deadline:%Y%m%d}:week{weeks_before}"


async def owe_reauth_reminder(session: AsyncSession, connection: ConnectionRecord, now: datetime) -> bool:
    """The weekly reminder before QuickBooks' authorization ends; syncs go on until that date."""
    deadline = connection.refresh_expires_at
    if deadline is None:
        return False
    key = reminder_key(connection.id, deadline, now)
    if key is None:
        return False
    return await NotificationRepo(session).enqueue(
        connection.workspace_id,
        NotificationKind.REAUTH,
        key,
        connection_id=connection.id,
        payload={"refused": False, "deadline": deadline.isoformat()},
        now=now,
    )


# --- delivering it ----------------------------------------------------------------------------------------


class Steps(Protocol):
    """How a sender records how far a delivery got (each step as soon as Slack answered it)."""

    notification_id: int

    async def post_started(self, channel_id: str) -> None: ...

    async def top_posted(self, channel_id: str, ts: str, *, fell_back: str | None) -> None: ...

    async def reply_posted(self, ts: str) -> None: ...

    async def pages_posted(self, count: int) -> None: ...

    async def file_posted(self) -> None: ...


class DeliverySteps:
    """The outbox's Steps: each step in its own short transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], notification_id: int) -> None:
        self._sessions = sessions
        self.notification_id = notification_id

    async def post_started(self, channel_id: str) -> None:
        async with transaction(self._sessions) as session:
            await NotificationRepo(session).mark_post_started(self.notification_id, channel_id)

    async def top_posted(self, channel_id: str, ts: str, *, fell_back: str | None) -> None:
        async with transaction(self._sessions) as session:
            await NotificationRepo(session).record_top(self.notification_id, channel_id, ts, fell_back=fell_back)

    async def reply_posted(self, ts: str) -> None:
        async with transaction(self._sessions) as session:
            await NotificationRepo(session).record_reply(self.notification_id, ts)

    async def pages_posted(self, count: int) -> None:
        async with transaction(self._sessions) as session:
            await NotificationRepo(session).record_pages(self.notification_id, count)

    async def file_posted(self) -> None:
        async with transaction(self._sessions) as session:
            await NotificationRepo(session).record_file(self.notification_id)


@dataclasses.dataclass(frozen=True)
class RetryLater:
    """A delivery Slack refused for now (rate limit, outage): try again after `seconds` (None: back-off)."""

    error: str
    seconds: float | None = None


@dataclasses.dataclass(frozen=True)
class Unreachable:
    """Nobody in the workspace can be reached (the bot was removed, no channel and no admin): give up."""

    error: str


DeliveryResult = None | RetryLater | Unreachable  # None: delivered


class Sender(Protocol):
    async def deliver(self, team: TeamRef, notification: NotificationRecord, steps: Steps) -> DeliveryResult: ...


class Outbox:
    """Delivers due notifications; runs in every worker process and in `serve` (any of them may deliver a row)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sender: Sender,
        *,
        owner: str,
        poll_seconds: float = 2.0,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._owner = owner
        self._poll_seconds = poll_seconds
        self._lease_seconds = lease_seconds
        self._clock = clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Deliver now rather than at the next poll (a run just finished in this process)."""
        self._wake.set()

    async def run_forever(self, stop: asyncio.Event) -> None:
        last_prune = datetime.min.replace(tzinfo=UTC)
        while not stop.is_set():
            try:
                await self.deliver_due()
                if self._clock() - last_prune > timedelta(hours=1):
                    await self.prune()
                    last_prune = self._clock()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox_pass_failed")  # the next pass retries; rows stay pending
            self._wake.clear()
            waiting = asyncio.ensure_future(self._wake.wait())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiting, stopping}, timeout=self._poll_seconds, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            stopping.cancel()

    async def deliver_due(self, limit: int = 10) -> int:
        """One pass: lease due rows and deliver each. Returns how many were settled (delivered or given up)."""
        async with transaction(self._sessions) as session:
            due = await NotificationRepo(session).claim_due(self._owner, self._lease_seconds, self._clock(), limit)
        settled = 0
        for notification in due:
            settled += await self._deliver(notification)
        return settled

    async def _deliver(self, notification: NotificationRecord) -> int:
        bound = log.bind(notification_id=notification.id, kind=notification.kind, run_id=notification.run_id)
        team = await self._team(notification.workspace_id, notification.connection_id)
        if team is None:  # the workspace uninstalled the app
            await self._settle(notification, Unreachable("the workspace is gone"))
            return 1
        try:
            result = await self._sender.deliver(team, notification, DeliverySteps(self._sessions, notification.id))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            bound.warning("notification_delivery_failed", error=type(exc).__name__)
            result = RetryLater(type(exc).__name__)
        await self._settle(notification, result)
        if result is None:
            bound.info("notification_delivered")
        return 0 if isinstance(result, RetryLater) else 1

    async def _settle(self, notification: NotificationRecord, result: DeliveryResult) -> None:
        now = self._clock()
        async with transaction(self._sessions) as session:
            repo = NotificationRepo(session)
            if result is None:
                await repo.delivered(notification.id, now)
            elif isinstance(result, Unreachable) or notification.attempts >= MAX_ATTEMPTS:
                log.error("notification_undeliverable", notification_id=notification.id, error=result.error)
                await repo.give_up(notification.id, result.error, now)
            else:
                await repo.retry_later(notification.id, now + self._backoff(notification, result), result.error)

    def _backoff(self, notification: NotificationRecord, result: RetryLater) -> timedelta:
        if result.seconds is not None:  # Slack's Retry-After
            return timedelta(seconds=result.seconds)
        exponential = timedelta(seconds=2 ** min(notification.attempts, 12))
        return min(exponential, MAX_BACKOFF) * random.uniform(0.8, 1.2)

    async def _team(self, workspace_id: int, connection_id: int | None) -> TeamRef | None:
        """The workspace, about the notification's connection (whose finance channel it goes to)."""
        async with self._sessions() as session:
            workspace = await WorkspaceRepo(session).get(workspace_id)
        if workspace is None or workspace.uninstalled_at is not None:
            return None
        return TeamRef(workspace.team_id, workspace.enterprise_id or None).on(connection_id)

    async def prune(self) -> int:
        async with transaction(self._sessions) as session:
            pruned = await NotificationRepo(session).prune(self._clock() - KEEP_DELIVERED)
        if pruned:
            log.info("notifications_pruned", count=pruned)
        return pruned
