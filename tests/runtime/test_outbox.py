"""The outbox: a run's summary is owed in the transaction that finishes the run, delivered at least once, never
twice, retried after Slack's refusals, and given up (visibly) only when nobody can be reached. On both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.models import Connection, ConnectionStatus, NotificationKind, NotificationState, RunStatus
from storage.records import NotificationRecord
from storage.repos.connections import ConnectionRepo
from storage.repos.notifications import NotificationRepo
from storage.repos.runs import RunRepo
from storage.repos.workspaces import WorkspaceRepo
from sync.api import TeamRef
from sync.jobs import RunOutcome
from sync.outbox import (
    DeliveryResult,
    DeliverySteps,
    Outbox,
    RetryLater,
    Unreachable,
    owe_reauth_alert,
    owe_reauth_reminder,
    owe_run_result,
    reminder_key,
)
from sync.worker import Worker

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


class RecordingSender:
    """Stands in for Slack: records deliveries, answers what the test queued (default: delivered)."""

    def __init__(self, *answers: DeliveryResult) -> None:
        self.answers = list(answers)
        self.delivered: list[tuple[str, int | None]] = []

    async def deliver(self, team: TeamRef, notification: NotificationRecord, steps: DeliverySteps) -> DeliveryResult:
        answer = self.answers.pop(0) if self.answers else None
        if answer is None:
            await steps.top_posted("C0FIN", f"{len(self.delivered)}.0001", fell_back=None)
            self.delivered.append((team.team_id, notification.run_id))
        return answer


async def connection_with_run(sessions: async_sessionmaker[AsyncSession], *, ends_in: timedelta) -> tuple[int, int]:
    async with transaction(sessions) as session:
        workspace = await WorkspaceRepo(session).get_or_create("T1")
        connection = Connection(
            workspace_id=workspace.id,
            realm_id="123",
            company_name="Northwind",
            status=ConnectionStatus.ACTIVE,
            refresh_expires_at=NOW + ends_in,
        )
        session.add(connection)
        await session.flush()
        run, _ = await RunRepo(session).enqueue(
            connection.id, "manual", "U0ANN", now=NOW - timedelta(minutes=1), join_running=False
        )
        return connection.id, run.id


async def finished_by_a_worker(sessions: async_sessionmaker[AsyncSession], outcome: RunOutcome) -> Worker:
    async def execute(run: object, progress: object) -> RunOutcome:
        return outcome

    worker = Worker(sessions, execute, None, worker_id="w1", clock=lambda: NOW)
    assert await worker.run_once() is not None
    return worker


async def owed(sessions: async_sessionmaker[AsyncSession]) -> list[NotificationRecord]:
    async with sessions() as session:
        repo = NotificationRepo(session)
        return [n for run in range(1, 50) for n in await repo.of_run(run)]


async def test_a_finished_run_owes_its_summary_in_the_same_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _, run_id = await connection_with_run(sessions, ends_in=timedelta(days=300))

    await finished_by_a_worker(sessions, RunOutcome(RunStatus.PARTIAL))

    [summary] = await owed(sessions)
    assert (summary.kind, summary.run_id, summary.state) == (NotificationKind.RUN_RESULT, run_id, "pending")


async def test_the_outbox_delivers_each_owed_summary_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    _, run_id = await connection_with_run(sessions, ends_in=timedelta(days=300))
    await finished_by_a_worker(sessions, RunOutcome(RunStatus.SUCCEEDED))
    sender = RecordingSender()
    first, second = (Outbox(sessions, sender, owner=name, clock=lambda: NOW) for name in ("a", "b"))

    assert await first.deliver_due() == 1
    assert await second.deliver_due() == 0  # nothing left: the row is delivered

    assert sender.delivered == [("T1", run_id)]
    [summary] = await owed(sessions)
    assert summary.state == NotificationState.DELIVERED and summary.ts == "0.0001"


async def test_a_refused_delivery_is_retried_after_slacks_retry_after(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await connection_with_run(sessions, ends_in=timedelta(days=300))
    await finished_by_a_worker(sessions, RunOutcome(RunStatus.SUCCEEDED))
    clock = [NOW]
    sender = RecordingSender(RetryLater("ratelimited", seconds=30))
    outbox = Outbox(sessions, sender, owner="a", clock=lambda: clock[0])

    assert await outbox.deliver_due() == 0
    assert await outbox.deliver_due() == 0  # not due before Retry-After
    clock[0] = NOW + timedelta(seconds=31)
    assert await outbox.deliver_due() == 1

    [summary] = await owed(sessions)
    assert summary.state == NotificationState.DELIVERED and summary.attempts == 2


async def test_a_deliverer_that_dies_mid_way_leaves_the_row_to_another_after_its_lease(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await connection_with_run(sessions, ends_in=timedelta(days=300))
    await finished_by_a_worker(sessions, RunOutcome(RunStatus.SUCCEEDED))
    async with transaction(sessions) as session:  # a deliverer leased it, then was killed
        [leased] = await NotificationRepo(session).claim_due("killed", 60, NOW)
    sender = RecordingSender()

    assert await Outbox(sessions, sender, owner="b", clock=lambda: NOW).deliver_due() == 0
    later = NOW + timedelta(seconds=61)
    assert await Outbox(sessions, sender, owner="b", clock=lambda: later).deliver_due() == 1
    assert len(sender.delivered) == 1 and leased.attempts == 1


async def test_when_nobody_can_be_reached_the_row_is_failed_not_dropped(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await connection_with_run(sessions, ends_in=timedelta(days=300))
    await finished_by_a_worker(sessions, RunOutcome(RunStatus.SUCCEEDED))
    sender = RecordingSender(Unreachable("no channel and no admin"))

    await Outbox(sessions, sender, owner="a", clock=lambda: NOW).deliver_due()

    [summary] = await owed(sessions)
    assert summary.state == NotificationState.FAILED and summary.last_error == "no channel and no admin"
    async with sessions() as session:
        latest = await NotificationRepo(session).latest_settled(summary.workspace_id)
    assert latest is not None and latest.id == summary.id  # what /qbo status reports


async def test_a_run_that_kept_killing_its_worker_still_owes_a_summary(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _, run_id = await connection_with_run(sessions, ends_in=timedelta(days=300))
    async with transaction(sessions) as session:
        runs = RunRepo(session)
        for attempt in range(5):  # five workers died holding it
            claimed = await runs.claim_next(f"dead-{attempt}", 1, NOW + timedelta(seconds=10 * attempt))
            assert claimed is not None
    worker = Worker(sessions, None, None, worker_id="w1", clock=lambda: NOW + timedelta(minutes=5))  # type: ignore[arg-type]

    assert await worker.run_once() is None  # abandoned, not run again

    [summary] = await owed(sessions)
    assert summary.run_id == run_id


async def test_reconnect_reminders_go_out_weekly_in_the_last_30_days_and_once_in_the_last_3() -> None:
    deadline = NOW + timedelta(days=30)
    days = [deadline - timedelta(days=left, hours=1) for left in range(35, -1, -1)]
    keys = [reminder_key(1, deadline, day) for day in days]
    distinct = [key for key in dict.fromkeys(keys) if key is not None]
    assert distinct == [
        f"reauth:1:{deadline:%Y%m%d}:{suffix}" for suffix in ("week4", "week3", "week2", "week1", "week0", "last")
    ]
    assert reminder_key(1, deadline, deadline + timedelta(hours=1)) is None  # past the deadline: the refusal says it


async def test_a_reminder_is_owed_once_however_many_runs_finish_that_week(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    connection_id, _ = await connection_with_run(sessions, ends_in=timedelta(days=12))
    async with transaction(sessions) as session:
        connection = await ConnectionRepo(session).get(connection_id)
        assert connection is not None
        made = [await owe_reauth_reminder(session, connection, NOW + timedelta(hours=h)) for h in range(0, 48, 6)]
    assert made == [True] + [False] * 7


async def test_finishing_a_run_owes_the_reminder_due_then(sessions: async_sessionmaker[AsyncSession]) -> None:
    await connection_with_run(sessions, ends_in=timedelta(days=12))
    await finished_by_a_worker(sessions, RunOutcome(RunStatus.SUCCEEDED))
    async with sessions() as session:
        pending = await NotificationRepo(session).claim_due("t", 1, NOW)
    assert {n.kind for n in pending} == {NotificationKind.RUN_RESULT, NotificationKind.REAUTH}


class TeamRecordingSender(RecordingSender):
    """Also records which connection each delivery was about (what picks that company's finance channel)."""

    def __init__(self) -> None:
        super().__init__()
        self.about: list[tuple[str, int | None]] = []

    async def deliver(self, team: TeamRef, notification: NotificationRecord, steps: DeliverySteps) -> DeliveryResult:
        self.about.append((notification.kind, team.connection_id))
        return await super().deliver(team, notification, steps)


async def test_every_kind_of_notification_is_delivered_about_its_own_company(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """With two companies in a workspace, a summary, a reconnect alert and a reminder of the second go out about the
    second (the sender then uses its finance channel), never about the workspace in general or the first."""
    await connection_with_run(sessions, ends_in=timedelta(days=300))
    async with transaction(sessions) as session:
        workspace = await WorkspaceRepo(session).get_or_create("T1")
        other = Connection(
            workspace_id=workspace.id,
            realm_id="456",
            company_name="Acme Europe",
            status=ConnectionStatus.ACTIVE,
            refresh_expires_at=NOW + timedelta(days=12),
        )
        session.add(other)
        await session.flush()
        run, _ = await RunRepo(session).enqueue(other.id, "manual", "U0ANN", now=NOW, join_running=False)
        record = await ConnectionRepo(session).get(other.id)
        assert record is not None
        assert await owe_run_result(session, other.id, run.id, NOW)
        assert await owe_reauth_alert(session, record, "refresh token rejected", NOW)
        assert await owe_reauth_reminder(session, record, NOW)
    sender = TeamRecordingSender()

    assert await Outbox(sessions, sender, owner="a", clock=lambda: NOW).deliver_due() == 3

    assert sorted(sender.about) == [
        (NotificationKind.REAUTH, other.id),  # the refused connection
        (NotificationKind.REAUTH, other.id),  # the reminder before the authorization ends
        (NotificationKind.RUN_RESULT, other.id),
    ]
