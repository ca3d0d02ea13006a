"""Sync runs as the domain sees them: what a run counts, how it ends, and when a request joins a run.

The queue itself (leases, locks, the database's invariants) is storage.repos.runs; the functions here take a
session and never commit, so the caller owns the transaction (`storage.db.transaction`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import RunStatus, RunTrigger
from storage.records import RunRecord
from storage.repos.runs import DEFAULT_MAX_ATTEMPTS, ConnectionNotFoundError, RunRepo, RunTotals

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "ConnectionNotFoundError",
    "RunCounts",
    "RunOutcome",
    "enqueue_run",
    "queue_follow_up",
]

TERMINAL_STATUSES = (RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.CANCELLED)
# Requests about something that happened after a running run may have read past it (a new payment, a fix to a
# failed invoice): they queue a follow-up run instead of joining the running one.
# An approval too: a running run decided what it posts when it started, so it cannot post the approved invoices.
# And the run that finishes what a big run left on its way: it must start after that run, never join it.
FOLLOW_UP_TRIGGERS = frozenset({RunTrigger.WEBHOOK, RunTrigger.RETRY, RunTrigger.APPROVAL, RunTrigger.FINISH})


@dataclass
class RunCounts:
    """What a run did, counted as it goes."""

    invoices_seen: int = 0
    bills_created: int = 0
    already_synced: int = 0
    skipped: int = 0
    failed: int = 0
    vendors_created: int = 0
    payments_created: int = 0
    fee_bills_created: int = 0
    credits_created: int = 0
    home_differences: int = 0  # documents whose home amount QuickBooks booked differs from what Ontop charged
    review_cases: int = 0  # invoices that changed after billing: a person decides (not failures)
    held: int = 0  # invoices a person chose to skip, or review cases reported before and unchanged
    api_calls: int = 0  # requests sent to QuickBooks
    attachments_created: int = 0  # invoice PDFs attached
    # A big run that posted its bills first: what it left on its way for the run that follows it.
    payments_to_follow: int = 0
    fee_bills_to_follow: int = 0
    pdfs_to_follow: int = 0

    @property
    def left_on_its_way(self) -> bool:
        return bool(self.payments_to_follow or self.fee_bills_to_follow or self.pdfs_to_follow)

    def totals(self) -> RunTotals:
        return RunTotals(
            invoices_seen=self.invoices_seen,
            bills_created=self.bills_created,
            already_synced=self.already_synced,
            skipped=self.skipped,
            failed=self.failed,
            vendors_created=self.vendors_created,
            payments_created=self.payments_created,
            fee_bills_created=self.fee_bills_created,
            credits_created=self.credits_created,
            home_differences=self.home_differences,
            review_cases=self.review_cases,
            held=self.held,
            api_calls=self.api_calls,
            attachments_created=self.attachments_created,
            payments_to_follow=self.payments_to_follow,
            fee_bills_to_follow=self.fee_bills_to_follow,
            pdfs_to_follow=self.pdfs_to_follow,
        )


@dataclass(frozen=True)
class RunOutcome:
    """What the engine reports when a run ends; the worker writes it to the run row."""

    status: RunStatus
    counts: RunCounts = field(default_factory=RunCounts)
    error_summary: str | None = None
    watermark_after: datetime | None = None
    review_id: int | None = None  # the review the run made (it posted nothing) or waited for

    @property
    def needs_follow_up(self) -> bool:
        """The run posted its bills first and left payments, fee bills or PDFs for a run that follows it."""
        return self.counts.left_on_its_way

    def __post_init__(self) -> None:
        if self.status not in TERMINAL_STATUSES:
            raise ValueError(f"a run outcome must be terminal, not {self.status!r}")

    @classmethod
    def failure(cls, error_summary: str, counts: RunCounts | None = None) -> RunOutcome:
        return cls(status=RunStatus.FAILED, counts=counts or RunCounts(), error_summary=error_summary)


async def enqueue_run(
    session: AsyncSession,
    connection_id: int,
    trigger: RunTrigger,
    requested_by: str | None,
    *,
    not_before: datetime | None = None,
    scheduled_for: str | None = None,
    channel_id: str | None = None,
    now: datetime | None = None,
) -> tuple[RunRecord, bool]:
    """Queue a run for the connection, or join the one already queued/running; returns (run, joined).

    - A queued run is always joined; its not_before moves earlier if this request wants it sooner, never later
      (so a webhook burst keeps the first debounce deadline and `/qbo sync` pulls a debounced run forward).
    - A running run is joined, except by a webhook or a retry: the running run may already have read past the
      payment the webhook announces or the invoice just fixed, so a follow-up run is queued instead (one at most).
    - With scheduled_for (a daily run's local date), a run already standing for that date is returned as joined.
    """
    return await RunRepo(session).enqueue(
        connection_id,
        trigger,
        requested_by,
        join_running=trigger not in FOLLOW_UP_TRIGGERS,
        not_before=not_before,
        scheduled_for=scheduled_for,
        channel_id=channel_id,
        now=now,
    )


async def queue_follow_up(
    session: AsyncSession, run: RunRecord, outcome: RunOutcome, now: datetime | None = None
) -> RunRecord | None:
    """Queue the run that finishes what a bills-first run left on its way (or join the run already queued: every
    run finishes earlier runs' leftovers), and remember it on the run; call it in the transaction that records the
    run's outcome, so a finished run never lacks its follow-up."""
    if not outcome.needs_follow_up:
        return None
    follow_up, _ = await enqueue_run(session, run.connection_id, RunTrigger.FINISH, run.requested_by, now=now)
    await RunRepo(session).set_follow_up(run.id, follow_up.id)
    return follow_up
