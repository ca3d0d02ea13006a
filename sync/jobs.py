"""The job queue: `sync_runs` rows are both the queue and the history of runs.

Functions take a session and never commit; the caller owns the transaction (`storage.db.transaction`).
Invariants (also enforced by unique indexes, migration 0002): per connection at most one queued run, at most one
running run, and at most one run per daily `scheduled_for` date. Concurrent enqueues for one connection are
serialised by a row lock on the connection (PostgreSQL) or by SQLite's BEGIN IMMEDIATE; claims use
`FOR UPDATE SKIP LOCKED` so several workers never wait on, or take, the same run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import ACTIVE_RUN_STATUSES, Connection, RunStatus, RunTrigger, SyncRun, utcnow
from sync.api import RunStatusName, RunSummary

logger = structlog.get_logger(__name__)

# A run whose worker died this many times (lease expired each time) is failed instead of taken over again:
# a run that kills its worker must not crash-loop the whole fleet.
DEFAULT_MAX_ATTEMPTS = 5
ERROR_SUMMARY_LIMIT = 2000
TERMINAL_STATUSES = (RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.CANCELLED)
# Requests about something that happened after a running run may have read past it (a new payment, a fix to a
# failed invoice): they queue a follow-up run instead of joining the running one.
FOLLOW_UP_TRIGGERS = frozenset({RunTrigger.WEBHOOK, RunTrigger.RETRY})


class ConnectionNotFoundError(LookupError):
    """enqueue_run was given a connection id that does not exist."""


@dataclass
class RunCounts:
    invoices_seen: int = 0
    bills_created: int = 0
    already_synced: int = 0
    skipped: int = 0
    failed: int = 0
    vendors_created: int = 0
    api_calls: int = 0  # requests sent to QuickBooks


@dataclass(frozen=True)
class RunOutcome:
    """What an executor reports when a run ends; the worker writes it to the run row."""

    status: RunStatus
    counts: RunCounts = field(default_factory=RunCounts)
    error_summary: str | None = None
    watermark_after: datetime | None = None

    def __post_init__(self) -> None:
        if self.status not in TERMINAL_STATUSES:
            raise ValueError(f"a run outcome must be terminal, not {self.status!r}")

    @classmethod
    def failure(cls, error_summary: str) -> RunOutcome:
        return cls(status=RunStatus.FAILED, error_summary=error_summary)


@dataclass(frozen=True)
class ClaimedRun:
    """A plain snapshot of a run a worker has claimed (safe to pass around outside the session)."""

    id: int
    connection_id: int
    trigger: str
    requested_by: str | None
    attempt: int
    lease_owner: str
    lease_until: datetime
    scheduled_for: str | None
    progress_channel: str | None
    progress_ts: str | None

    @classmethod
    def of(cls, run: SyncRun) -> ClaimedRun:
        if run.lease_owner is None or run.lease_until is None:
            raise ValueError(f"run {run.id} is not claimed")
        return cls(
            id=run.id,
            connection_id=run.connection_id,
            trigger=run.trigger,
            requested_by=run.requested_by,
            attempt=run.attempt,
            lease_owner=run.lease_owner,
            lease_until=run.lease_until,
            scheduled_for=run.scheduled_for,
            progress_channel=run.progress_channel,
            progress_ts=run.progress_ts,
        )


# --- enqueue ----------------------------------------------------------------------------------------------


async def enqueue_run(
    session: AsyncSession,
    connection_id: int,
    trigger: str,
    requested_by: str | None,
    *,
    not_before: datetime | None = None,
    scheduled_for: str | None = None,
    channel_id: str | None = None,
    now: datetime | None = None,
) -> tuple[SyncRun, bool]:
    """Queue a run for the connection, or join the one already queued/running; returns (run, joined).

    - A queued run is always joined; its not_before moves earlier if this request wants it sooner, never later
      (so a webhook burst keeps the first debounce deadline and `/qbo sync` pulls a debounced run forward).
    - A running run is joined, except by a webhook or a retry: the running run may already have read past the
      payment the webhook announces or the invoice just fixed, so a follow-up run is queued instead (one at most).
    - With scheduled_for (a daily run's local date), a run already standing for that date is returned as joined,
      whatever its status: a daily run fires once per date, however many schedulers tick.
    """
    moment = now or utcnow()
    wanted_start = not_before or moment
    # Serialise every enqueue for this connection (SQLite ignores FOR UPDATE: BEGIN IMMEDIATE already did it).
    connection = await session.scalar(select(Connection).where(Connection.id == connection_id).with_for_update())
    if connection is None:
        raise ConnectionNotFoundError(f"connection {connection_id} does not exist")

    if scheduled_for is not None:
        daily = await session.scalar(
            select(SyncRun).where(SyncRun.connection_id == connection_id, SyncRun.scheduled_for == scheduled_for)
        )
        if daily is not None:
            return daily, True

    active = (
        await session.scalars(
            select(SyncRun)
            .where(SyncRun.connection_id == connection_id, SyncRun.status.in_(ACTIVE_RUN_STATUSES))
            .order_by(SyncRun.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    queued = next((run for run in active if run.status == RunStatus.QUEUED), None)
    running = next((run for run in active if run.status == RunStatus.RUNNING), None)

    joined = queued
    if joined is None and running is not None and trigger not in FOLLOW_UP_TRIGGERS:
        joined = running
    if joined is not None:
        if joined.status == RunStatus.QUEUED:
            joined.not_before = min(joined.not_before, wanted_start)
            if joined.progress_channel is None and channel_id is not None:
                joined.progress_channel = channel_id
        if scheduled_for is not None and joined.scheduled_for is None:
            joined.scheduled_for = scheduled_for  # the day's daily run is this one: do not fire another
        await session.flush()
        logger.info("run_joined", run_id=joined.id, connection_id=connection_id, trigger=trigger)
        return joined, True

    run = SyncRun(
        connection_id=connection_id,
        trigger=str(trigger),
        requested_by=requested_by,
        status=RunStatus.QUEUED,
        not_before=wanted_start,
        queued_at=moment,
        attempt=0,
        scheduled_for=scheduled_for,
        progress_channel=channel_id,
    )
    session.add(run)
    await session.flush()
    logger.info("run_queued", run_id=run.id, connection_id=connection_id, trigger=trigger, not_before=wanted_start)
    return run, False


# --- claim, heartbeat, finish, release --------------------------------------------------------------------


async def claim_next_run(
    session: AsyncSession,
    worker_id: str,
    lease_seconds: float,
    now: datetime | None = None,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> SyncRun | None:
    """Lease the next run to execute: first a running run whose lease expired (its worker died), then the
    oldest due queued run of a connection that has no running run. None when there is nothing to do."""
    moment = now or utcnow()
    lease_until = moment + timedelta(seconds=lease_seconds)

    while True:
        expired = await session.scalar(
            select(SyncRun)
            .where(SyncRun.status == RunStatus.RUNNING, SyncRun.lease_until < moment)
            .order_by(SyncRun.lease_until, SyncRun.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        if expired is None:
            break
        if expired.attempt >= max_attempts:
            _abandon(expired, moment)
            continue
        logger.warning(
            "run_lease_taken_over", run_id=expired.id, previous_owner=expired.lease_owner, attempt=expired.attempt + 1
        )
        _lease(expired, worker_id, lease_until)
        await session.flush()
        return expired

    other = aliased(SyncRun)
    connection_busy = exists().where(other.connection_id == SyncRun.connection_id, other.status == RunStatus.RUNNING)
    queued = await session.scalar(
        select(SyncRun)
        .where(SyncRun.status == RunStatus.QUEUED, SyncRun.not_before <= moment, ~connection_busy)
        .order_by(SyncRun.not_before, SyncRun.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=SyncRun)
        .execution_options(populate_existing=True)
    )
    if queued is None:
        return None
    queued.status = RunStatus.RUNNING
    queued.started_at = queued.started_at or moment
    if queued.watermark_before is None:  # history: where this run started reading from
        queued.watermark_before = await session.scalar(
            select(Connection.watermark).where(Connection.id == queued.connection_id)
        )
    _lease(queued, worker_id, lease_until)
    await session.flush()
    logger.info("run_claimed", run_id=queued.id, connection_id=queued.connection_id, worker_id=worker_id)
    return queued


def _lease(run: SyncRun, worker_id: str, lease_until: datetime) -> None:
    run.lease_owner = worker_id
    run.lease_until = lease_until
    run.attempt = (run.attempt or 0) + 1


def _abandon(run: SyncRun, moment: datetime) -> None:
    logger.error("run_abandoned", run_id=run.id, attempts=run.attempt, last_owner=run.lease_owner)
    run.status = RunStatus.FAILED
    run.error_summary = f"Abandoned after {run.attempt} attempts: the worker stopped each time before finishing."
    run.finished_at = moment
    run.lease_owner = None
    run.lease_until = None


async def _owned_run(session: AsyncSession, run_id: int, worker_id: str) -> SyncRun | None:
    run = await session.scalar(
        select(SyncRun).where(SyncRun.id == run_id).with_for_update().execution_options(populate_existing=True)
    )
    if run is None or run.status != RunStatus.RUNNING or run.lease_owner != worker_id:
        return None
    return run


async def heartbeat(
    session: AsyncSession, run_id: int, worker_id: str, lease_seconds: float, now: datetime | None = None
) -> bool:
    """Extend this worker's lease on a running run; False when the lease was lost (taken over or finished)."""
    run = await _owned_run(session, run_id, worker_id)
    if run is None:
        return False
    run.lease_until = (now or utcnow()) + timedelta(seconds=lease_seconds)
    await session.flush()
    return True


async def finish_run(
    session: AsyncSession, run_id: int, worker_id: str, outcome: RunOutcome, now: datetime | None = None
) -> bool:
    """Record a run's outcome; False (and nothing written) when this worker no longer holds the lease."""
    run = await _owned_run(session, run_id, worker_id)
    if run is None:
        logger.warning("run_finish_refused_lease_lost", run_id=run_id, worker_id=worker_id)
        return False
    counts = outcome.counts
    run.status = outcome.status
    run.invoices_seen = counts.invoices_seen
    run.bills_created = counts.bills_created
    run.already_synced = counts.already_synced
    run.skipped = counts.skipped
    run.failed = counts.failed
    run.vendors_created = counts.vendors_created
    run.api_calls = counts.api_calls
    run.error_summary = outcome.error_summary[:ERROR_SUMMARY_LIMIT] if outcome.error_summary else None
    if outcome.watermark_after is not None:
        run.watermark_after = outcome.watermark_after
    run.finished_at = now or utcnow()
    run.lease_owner = None
    run.lease_until = None
    await session.flush()
    logger.info("run_finished", run_id=run_id, status=str(outcome.status), bills_created=counts.bills_created)
    return True


async def release_run(session: AsyncSession, run_id: int, worker_id: str, now: datetime | None = None) -> bool:
    """Graceful shutdown: put a run this worker holds back in the queue, due now. False if it was not ours.

    If a follow-up run was queued meanwhile (a webhook during the run), the two are merged into this one.
    """
    run = await _owned_run(session, run_id, worker_id)
    if run is None:
        return False
    moment = now or utcnow()
    follow_up = await session.scalar(
        select(SyncRun)
        .where(SyncRun.connection_id == run.connection_id, SyncRun.status == RunStatus.QUEUED)
        .with_for_update()
    )
    if follow_up is not None:
        follow_up.status = RunStatus.CANCELLED
        follow_up.error_summary = f"Merged into run #{run.id}."
        follow_up.finished_at = moment
        await session.flush()  # free the "one queued per connection" slot before this run takes it
    run.status = RunStatus.QUEUED
    run.not_before = moment
    run.lease_owner = None
    run.lease_until = None
    await session.flush()
    logger.info("run_released", run_id=run_id, worker_id=worker_id)
    return True


async def record_progress_message(session: AsyncSession, run_id: int, channel_id: str, ts: str) -> None:
    """Remember the run's Slack progress message, so a worker taking the run over updates it instead of posting
    a second one (it arrives in ClaimedRun.progress_channel/progress_ts)."""
    run = await session.get(SyncRun, run_id)
    if run is not None:
        run.progress_channel = channel_id
        run.progress_ts = ts
        await session.flush()


async def cancel_queued_runs(
    session: AsyncSession, connection_id: int, reason: str, now: datetime | None = None
) -> int:
    """Cancel the connection's queued run (e.g. on disconnect); a running run is left to finish or fail."""
    queued = (
        await session.scalars(
            select(SyncRun)
            .where(SyncRun.connection_id == connection_id, SyncRun.status == RunStatus.QUEUED)
            .with_for_update()
        )
    ).all()
    for run in queued:
        run.status = RunStatus.CANCELLED
        run.error_summary = reason
        run.finished_at = now or utcnow()
    await session.flush()
    return len(queued)


# --- reading ----------------------------------------------------------------------------------------------


async def get_run(session: AsyncSession, run_id: int) -> SyncRun | None:
    return await session.get(SyncRun, run_id, populate_existing=True)


async def active_run(session: AsyncSession, connection_id: int) -> SyncRun | None:
    """The connection's running run, else its queued run, else None."""
    runs = (
        await session.scalars(
            select(SyncRun).where(SyncRun.connection_id == connection_id, SyncRun.status.in_(ACTIVE_RUN_STATUSES))
        )
    ).all()
    return next((run for run in runs if run.status == RunStatus.RUNNING), runs[0] if runs else None)


async def run_history(session: AsyncSession, connection_id: int, limit: int = 20) -> Sequence[SyncRun]:
    """The connection's runs, newest first."""
    return (
        await session.scalars(
            select(SyncRun).where(SyncRun.connection_id == connection_id).order_by(SyncRun.id.desc()).limit(limit)
        )
    ).all()


def run_summary(run: SyncRun) -> RunSummary:
    """The handler-facing view of a run (failures per invoice come from the ledger, not from here)."""
    return RunSummary(
        run_id=run.id,
        trigger=run.trigger,
        status=RunStatusName(run.status),
        requested_by=run.requested_by,
        queued_at=run.queued_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        invoices_seen=run.invoices_seen,
        bills_created=run.bills_created,
        already_synced=run.already_synced,
        skipped=run.skipped,
        failed=run.failed,
        vendors_created=run.vendors_created,
        api_calls=run.api_calls,
        error_summary=run.error_summary,
    )
