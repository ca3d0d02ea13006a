"""The sync_runs table: the job queue and the history of runs in one.

Invariants (also enforced by unique indexes, migration 0002): per connection at most one queued run, at most one
running run, and at most one run per daily `scheduled_for` date. Concurrent enqueues for one connection are
serialised by a row lock on the connection (PostgreSQL) or by SQLite's BEGIN IMMEDIATE; claims use
`FOR UPDATE SKIP LOCKED` so several workers never wait on, or take, the same run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import ACTIVE_RUN_STATUSES, Connection, RunStatus, SyncRun, utcnow
from storage.records import RunRecord

logger = structlog.get_logger(__name__)

ERROR_SUMMARY_LIMIT = 2000
# A run whose worker died this many times (lease expired each time) is failed instead of taken over again:
# a run that kills its worker must not crash-loop the whole fleet.
DEFAULT_MAX_ATTEMPTS = 5


class ConnectionNotFoundError(LookupError):
    """A run was asked for a connection id that does not exist."""


@dataclass(frozen=True)
class RunTotals:
    """The counters a finished run records."""

    invoices_seen: int = 0
    bills_created: int = 0
    already_synced: int = 0
    skipped: int = 0
    failed: int = 0
    vendors_created: int = 0
    payments_created: int = 0
    fee_bills_created: int = 0
    credits_created: int = 0
    home_differences: int = 0
    review_cases: int = 0
    held: int = 0
    api_calls: int = 0
    attachments_created: int = 0
    payments_to_follow: int = 0
    fee_bills_to_follow: int = 0
    pdfs_to_follow: int = 0


class RunRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.abandoned: list[RunRecord] = []  # runs claim_next failed after too many attempts (they owe a summary)

    # --- enqueue ------------------------------------------------------------------------------------------

    async def enqueue(
        self,
        connection_id: int,
        trigger: str,
        requested_by: str | None,
        *,
        join_running: bool,
        not_before: datetime | None = None,
        scheduled_for: str | None = None,
        channel_id: str | None = None,
        now: datetime | None = None,
    ) -> tuple[RunRecord, bool]:
        """Queue a run for the connection, or join the one already queued (or running, with join_running);
        returns (run, joined).

        A joined queued run's not_before moves earlier if this request wants it sooner, never later. With
        scheduled_for (a daily run's local date), a run already standing for that date is returned as joined,
        whatever its status: a daily run fires once per date.
        """
        moment = now or utcnow()
        wanted_start = not_before or moment
        # Serialise every enqueue for this connection (SQLite ignores FOR UPDATE: BEGIN IMMEDIATE already did it).
        connection = await self._session.scalar(
            select(Connection.id).where(Connection.id == connection_id).with_for_update()
        )
        if connection is None:
            raise ConnectionNotFoundError(f"connection {connection_id} does not exist")

        if scheduled_for is not None:
            daily = await self._session.scalar(
                select(SyncRun).where(SyncRun.connection_id == connection_id, SyncRun.scheduled_for == scheduled_for)
            )
            if daily is not None:
                return RunRecord.of(daily), True

        active = (
            await self._session.scalars(
                select(SyncRun)
                .where(SyncRun.connection_id == connection_id, SyncRun.status.in_(ACTIVE_RUN_STATUSES))
                .order_by(SyncRun.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).all()
        queued = next((run for run in active if run.status == RunStatus.QUEUED), None)
        running = next((run for run in active if run.status == RunStatus.RUNNING), None)

        joined = queued if queued is not None else (running if join_running else None)
        if joined is not None:
            if joined.status == RunStatus.QUEUED:
                joined.not_before = min(joined.not_before, wanted_start)
                if joined.progress_channel is None and channel_id is not None:
                    joined.progress_channel = channel_id
            if scheduled_for is not None and joined.scheduled_for is None:
                joined.scheduled_for = scheduled_for  # the day's daily run is this one: do not fire another
            await self._session.flush()
            logger.info("run_joined", run_id=joined.id, connection_id=connection_id, trigger=trigger)
            return RunRecord.of(joined), True

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
        self._session.add(run)
        await self._session.flush()
        logger.info("run_queued", run_id=run.id, connection_id=connection_id, trigger=trigger, not_before=wanted_start)
        return RunRecord.of(run), False

    # --- claim, heartbeat, finish, release ------------------------------------------------------------------

    async def claim_next(
        self,
        worker_id: str,
        lease_seconds: float,
        now: datetime | None = None,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> RunRecord | None:
        """Lease the next run to execute: first a running run whose lease expired (its worker died), then the
        oldest due queued run of a connection that has no running run. None when there is nothing to do."""
        moment = now or utcnow()
        lease_until = moment + timedelta(seconds=lease_seconds)
        while True:
            expired = await self._session.scalar(
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
                await self._session.flush()
                self.abandoned.append(RunRecord.of(expired))
                continue
            logger.warning(
                "run_lease_taken_over",
                run_id=expired.id,
                previous_owner=expired.lease_owner,
                attempt=expired.attempt + 1,
            )
            _lease(expired, worker_id, lease_until)
            await self._session.flush()
            return RunRecord.of(expired)

        other = aliased(SyncRun)
        busy = exists().where(other.connection_id == SyncRun.connection_id, other.status == RunStatus.RUNNING)
        queued = await self._session.scalar(
            select(SyncRun)
            .where(SyncRun.status == RunStatus.QUEUED, SyncRun.not_before <= moment, ~busy)
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
            queued.watermark_before = await self._session.scalar(
                select(Connection.watermark).where(Connection.id == queued.connection_id)
            )
        _lease(queued, worker_id, lease_until)
        await self._session.flush()
        logger.info("run_claimed", run_id=queued.id, connection_id=queued.connection_id, worker_id=worker_id)
        return RunRecord.of(queued)

    async def _owned(self, run_id: int, worker_id: str) -> SyncRun | None:
        run = await self._session.scalar(
            select(SyncRun).where(SyncRun.id == run_id).with_for_update().execution_options(populate_existing=True)
        )
        if run is None or run.status != RunStatus.RUNNING or run.lease_owner != worker_id:
            return None
        return run

    async def heartbeat(self, run_id: int, worker_id: str, lease_seconds: float, now: datetime | None = None) -> bool:
        """Extend this worker's lease on a running run; False when the lease was lost (taken over or finished)."""
        run = await self._owned(run_id, worker_id)
        if run is None:
            return False
        run.lease_until = (now or utcnow()) + timedelta(seconds=lease_seconds)
        await self._session.flush()
        return True

    async def finish(
        self,
        run_id: int,
        worker_id: str,
        *,
        status: str,
        totals: RunTotals,
        error_summary: str | None,
        watermark_after: datetime | None,
        now: datetime | None = None,
        review_id: int | None = None,
    ) -> bool:
        """Record a run's outcome; False (and nothing written) when this worker no longer holds the lease.

        review_id: the review the run made, or waited for (the approval gate).
        """
        run = await self._owned(run_id, worker_id)
        if run is None:
            logger.warning("run_finish_refused_lease_lost", run_id=run_id, worker_id=worker_id)
            return False
        run.status = status
        run.invoices_seen = totals.invoices_seen
        run.bills_created = totals.bills_created
        run.already_synced = totals.already_synced
        run.skipped = totals.skipped
        run.failed = totals.failed
        run.vendors_created = totals.vendors_created
        run.payments_created = totals.payments_created
        run.fee_bills_created = totals.fee_bills_created
        run.credits_created = totals.credits_created
        run.home_differences = totals.home_differences
        run.review_cases = totals.review_cases
        run.held = totals.held
        run.api_calls = totals.api_calls
        run.attachments_created = totals.attachments_created
        run.payments_to_follow = totals.payments_to_follow
        run.fee_bills_to_follow = totals.fee_bills_to_follow
        run.pdfs_to_follow = totals.pdfs_to_follow
        run.error_summary = error_summary[:ERROR_SUMMARY_LIMIT] if error_summary else None
        if watermark_after is not None:
            run.watermark_after = watermark_after
        if review_id is not None:
            run.review_id = review_id
        run.finished_at = now or utcnow()
        run.lease_owner = None
        run.lease_until = None
        await self._session.flush()
        logger.info("run_finished", run_id=run_id, status=str(status), bills_created=totals.bills_created)
        return True

    async def set_follow_up(self, run_id: int, follow_up_run_id: int) -> None:
        """Remember the run that finishes what this one left on its way (its summary names it)."""
        run = await self._session.get(SyncRun, run_id)
        if run is not None:
            run.follow_up_run_id = follow_up_run_id
            await self._session.flush()

    async def release(self, run_id: int, worker_id: str, now: datetime | None = None) -> bool:
        """Graceful shutdown: put a run this worker holds back in the queue, due now. False if it was not ours.

        If a follow-up run was queued meanwhile (a webhook during the run), the two are merged into this one.
        """
        run = await self._owned(run_id, worker_id)
        if run is None:
            return False
        moment = now or utcnow()
        follow_up = await self._session.scalar(
            select(SyncRun)
            .where(SyncRun.connection_id == run.connection_id, SyncRun.status == RunStatus.QUEUED)
            .with_for_update()
        )
        if follow_up is not None:
            follow_up.status = RunStatus.CANCELLED
            follow_up.error_summary = f"Merged into run #{run.id}."
            follow_up.finished_at = moment
            await self._session.flush()  # free the "one queued per connection" slot before this run takes it
        run.status = RunStatus.QUEUED
        run.not_before = moment
        run.lease_owner = None
        run.lease_until = None
        await self._session.flush()
        logger.info("run_released", run_id=run_id, worker_id=worker_id)
        return True

    async def record_progress_message(self, run_id: int, channel_id: str, ts: str) -> None:
        """Remember the run's Slack progress message, so a worker taking the run over updates it."""
        run = await self._session.get(SyncRun, run_id)
        if run is not None:
            run.progress_channel = channel_id
            run.progress_ts = ts
            await self._session.flush()

    async def cancel_queued(self, connection_id: int, reason: str, now: datetime | None = None) -> int:
        """Cancel the connection's queued run (e.g. on disconnect); a running run is left to finish or fail."""
        queued = (
            await self._session.scalars(
                select(SyncRun)
                .where(SyncRun.connection_id == connection_id, SyncRun.status == RunStatus.QUEUED)
                .with_for_update()
            )
        ).all()
        for run in queued:
            run.status = RunStatus.CANCELLED
            run.error_summary = reason
            run.finished_at = now or utcnow()
        await self._session.flush()
        return len(queued)

    # --- reading ----------------------------------------------------------------------------------------------

    async def get(self, run_id: int) -> RunRecord | None:
        run = await self._session.get(SyncRun, run_id, populate_existing=True)
        return RunRecord.of(run) if run is not None else None

    async def active(self, connection_id: int) -> RunRecord | None:
        """The connection's running run, else its queued run, else None."""
        runs = (
            await self._session.scalars(
                select(SyncRun).where(SyncRun.connection_id == connection_id, SyncRun.status.in_(ACTIVE_RUN_STATUSES))
            )
        ).all()
        chosen = next((run for run in runs if run.status == RunStatus.RUNNING), runs[0] if runs else None)
        return RunRecord.of(chosen) if chosen is not None else None

    async def history(self, connection_id: int, limit: int = 20) -> list[RunRecord]:
        """The connection's runs, newest first."""
        runs = await self._session.scalars(
            select(SyncRun).where(SyncRun.connection_id == connection_id).order_by(SyncRun.id.desc()).limit(limit)
        )
        return [RunRecord.of(run) for run in runs]

    async def daily_runs_on(self, local_dates: set[str]) -> set[tuple[int, str]]:
        """(connection id, local date) of the daily runs already standing for these dates."""
        rows = await self._session.execute(
            select(SyncRun.connection_id, SyncRun.scheduled_for).where(SyncRun.scheduled_for.in_(local_dates))
        )
        return {(int(row[0]), str(row[1])) for row in rows}

    async def latest_queued_at(self, connection_ids: list[int]) -> dict[int, datetime]:
        """When each connection's most recent run was queued (any trigger)."""
        rows = await self._session.execute(
            select(SyncRun.connection_id, func.max(SyncRun.queued_at))
            .where(SyncRun.connection_id.in_(connection_ids))
            .group_by(SyncRun.connection_id)
        )
        return {int(row[0]): row[1] for row in rows.all()}


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
