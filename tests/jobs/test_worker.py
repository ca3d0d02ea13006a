"""The worker's promises, on SQLite and PostgreSQL, with a fake executor and a recording notifier."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.models import RunStatus, RunTrigger, SyncRun, utcnow
from storage.records import RunRecord
from sync import jobs
from sync.worker import (
    ProgressReporter,
    RunCounts,
    RunOutcome,
    ThrottledProgress,
    Worker,
    default_worker_id,
    run_jobs,
)
from tests.jobs.support import WAIT_LIMIT, eventually, load_run, make_connection, runs_of

Sessions = async_sessionmaker[AsyncSession]


@dataclass
class RecordingNotifier:
    started: list[int] = field(default_factory=list)
    progress: list[tuple[str, int, int | None]] = field(default_factory=list)
    finished: list[tuple[int, Any]] = field(default_factory=list)
    fail: bool = False

    async def run_started(self, run: RunRecord) -> Any:
        self.started.append(run.id)
        if self.fail:
            raise RuntimeError("slack is down")
        return f"ref-{run.id}"

    async def run_progress(self, ref: Any, done: int, total: int | None) -> None:
        if self.fail:
            raise RuntimeError("slack is down")
        self.progress.append((ref, done, total))

    async def run_finished(self, run_id: int, ref: Any) -> None:
        if self.fail:
            raise RuntimeError("slack is down")
        self.finished.append((run_id, ref))


Behaviour = Callable[[int, ProgressReporter], Awaitable[RunOutcome]]


class FakeExecutor:
    """Records every call and cancellation; what it does is a per-test coroutine."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.calls: list[int] = []
        self.cancelled: list[int] = []

    async def __call__(self, run: RunRecord, progress: ProgressReporter) -> RunOutcome:
        self.calls.append(run.id)
        try:
            return await self.behaviour(run.id, progress)
        except asyncio.CancelledError:
            self.cancelled.append(run.id)
            raise


async def succeed(run_id: int, progress: ProgressReporter) -> RunOutcome:
    await progress(1, 1)
    return RunOutcome(RunStatus.SUCCEEDED, RunCounts(invoices_seen=3, bills_created=3))


async def block_forever(run_id: int, progress: ProgressReporter) -> RunOutcome:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def _queue(sessions: Sessions, connection_id: int) -> int:
    async with transaction(sessions) as session:
        run, _ = await jobs.enqueue_run(session, connection_id, RunTrigger.MANUAL, "U1")
        return run.id


def _worker(sessions: Sessions, executor: FakeExecutor, notifier: RecordingNotifier | None, **kwargs: Any) -> Worker:
    settings: dict[str, Any] = {"worker_id": "w1", "lease_seconds": 30, "poll_seconds": 0.02} | kwargs
    return Worker(sessions, executor, notifier, **settings)


async def test_a_run_is_executed_recorded_and_announced(sessions: Sessions) -> None:
    run_id = await _queue(sessions, await make_connection(sessions))
    notifier = RecordingNotifier()
    executor = FakeExecutor(succeed)

    assert await _worker(sessions, executor, notifier).run_once() == run_id

    run = await load_run(sessions, run_id)
    assert (run.status, run.invoices_seen, run.bills_created, run.lease_owner) == ("succeeded", 3, 3, None)
    assert executor.calls == [run_id]
    assert notifier.started == [run_id]
    assert notifier.progress == [(f"ref-{run_id}", 1, 1)]
    assert notifier.finished == [(run_id, f"ref-{run_id}")]


async def test_run_once_returns_none_when_nothing_is_due(sessions: Sessions) -> None:
    executor = FakeExecutor(succeed)
    assert await _worker(sessions, executor, None).run_once() is None
    assert executor.calls == []


async def test_an_executor_error_fails_the_run_with_a_summary_and_the_worker_carries_on(sessions: Sessions) -> None:
    broken_run = await _queue(sessions, await make_connection(sessions))
    healthy_run = await _queue(sessions, await make_connection(sessions, team_id="T2"))

    async def explode_on_first(run_id: int, progress: ProgressReporter) -> RunOutcome:
        if run_id == broken_run:
            raise ValueError("QBO said no")
        return await succeed(run_id, progress)

    notifier = RecordingNotifier()
    worker = _worker(sessions, FakeExecutor(explode_on_first), notifier)
    await worker.run_once()
    await worker.run_once()

    broken = await load_run(sessions, broken_run)
    assert broken.status == "failed"
    assert broken.error_summary is not None and "ValueError" in broken.error_summary
    assert "QBO said no" not in broken.error_summary  # the error's text stays in the logs, not in Slack
    assert (await load_run(sessions, healthy_run)).status == "succeeded"
    assert [run_id for run_id, _ in notifier.finished] == [broken_run, healthy_run]


async def test_a_failing_notifier_never_fails_the_run(sessions: Sessions) -> None:
    run_id = await _queue(sessions, await make_connection(sessions))

    await _worker(sessions, FakeExecutor(succeed), RecordingNotifier(fail=True)).run_once()

    assert (await load_run(sessions, run_id)).status == "succeeded"


async def test_the_heartbeat_renews_the_lease_while_the_executor_works(sessions: Sessions) -> None:
    run_id = await _queue(sessions, await make_connection(sessions))
    leases: list[datetime | None] = []

    async def wait_for_a_renewal(run_id: int, progress: ProgressReporter) -> RunOutcome:
        async def renewed() -> bool:
            leases.append((await load_run(sessions, run_id)).lease_until)
            return leases[-1] != leases[0]

        await eventually(renewed)
        return RunOutcome(RunStatus.SUCCEEDED)

    await _worker(sessions, FakeExecutor(wait_for_a_renewal), None, lease_seconds=0.3).run_once()

    assert leases[0] is not None and leases[-1] is not None and leases[-1] > leases[0]
    run = await load_run(sessions, run_id)
    assert (run.status, run.attempt) == ("succeeded", 1)


async def test_a_worker_that_loses_its_lease_stops_the_run_and_leaves_it_to_the_new_owner(sessions: Sessions) -> None:
    run_id = await _queue(sessions, await make_connection(sessions))
    notifier = RecordingNotifier()
    executor = FakeExecutor(block_forever)
    worker = _worker(sessions, executor, notifier, lease_seconds=0.3)
    working = asyncio.create_task(worker.run_once())
    await eventually(lambda: _is_true(bool(executor.calls)))

    # Another worker took the run over (as after a long pause of this one).
    async with transaction(sessions) as session:
        await session.execute(update(SyncRun).where(SyncRun.id == run_id).values(lease_owner="w2"))
    assert await asyncio.wait_for(working, WAIT_LIMIT) == run_id

    run = await load_run(sessions, run_id)
    assert executor.cancelled == [run_id]
    assert (run.status, run.lease_owner) == ("running", "w2")
    assert notifier.finished == []


async def test_shutdown_releases_a_run_that_does_not_finish_within_the_grace_period(sessions: Sessions) -> None:
    run_id = await _queue(sessions, await make_connection(sessions))
    executor = FakeExecutor(block_forever)
    stop = asyncio.Event()
    worker = _worker(sessions, executor, None, shutdown_grace_seconds=0.05)
    serving = asyncio.create_task(worker.run_forever(stop))
    await eventually(lambda: _is_true(bool(executor.calls)))

    stop.set()
    await asyncio.wait_for(serving, WAIT_LIMIT)

    run = await load_run(sessions, run_id)
    assert executor.cancelled == [run_id]
    assert (run.status, run.lease_owner) == ("queued", None)


async def test_shutdown_lets_a_run_finish_within_the_grace_period(sessions: Sessions) -> None:
    run_id = await _queue(sessions, await make_connection(sessions))
    may_finish = asyncio.Event()

    async def finish_when_allowed(run_id: int, progress: ProgressReporter) -> RunOutcome:
        await may_finish.wait()
        return RunOutcome(RunStatus.SUCCEEDED)

    executor = FakeExecutor(finish_when_allowed)
    stop = asyncio.Event()
    serving = asyncio.create_task(
        _worker(sessions, executor, None, shutdown_grace_seconds=WAIT_LIMIT).run_forever(stop)
    )
    await eventually(lambda: _is_true(bool(executor.calls)))

    stop.set()
    may_finish.set()
    await asyncio.wait_for(serving, WAIT_LIMIT)

    assert (await load_run(sessions, run_id)).status == "succeeded"
    assert executor.cancelled == []


async def test_run_forever_executes_runs_of_different_connections_concurrently(sessions: Sessions) -> None:
    run_ids = {await _queue(sessions, await make_connection(sessions, team_id=f"T{index}")) for index in range(2)}
    both_running = asyncio.Barrier(2)

    async def needs_company(run_id: int, progress: ProgressReporter) -> RunOutcome:
        await both_running.wait()  # only returns if the two runs execute at the same time
        return RunOutcome(RunStatus.SUCCEEDED)

    stop = asyncio.Event()
    serving = asyncio.create_task(_worker(sessions, FakeExecutor(needs_company), None, concurrency=2).run_forever(stop))

    async def all_done() -> bool:
        statuses = [(await load_run(sessions, run_id)).status for run_id in run_ids]
        return statuses == ["succeeded", "succeeded"]

    await eventually(all_done)
    stop.set()
    await asyncio.wait_for(serving, WAIT_LIMIT)


async def test_progress_reaches_the_notifier_at_most_once_per_interval() -> None:
    notifier = RecordingNotifier()
    moments = iter([utcnow() + timedelta(seconds=second) for second in range(12)])
    progress = ThrottledProgress(notifier, "ref", min_interval_seconds=5, clock=lambda: next(moments), run_id=1)

    for done in range(12):  # one report per simulated second
        await progress(done, 12)

    assert [done for _, done, _ in notifier.progress] == [0, 5, 10]


async def _is_true(value: bool) -> bool:
    return value


class BreakableSessions:
    """Hands out real sessions until the test 'cuts the network': then opening a session fails."""

    def __init__(self, real: Sessions) -> None:
        self._real = real
        self.broken = False

    def __call__(self, **options: Any) -> AsyncSession:
        if self.broken:
            raise ConnectionRefusedError("database unreachable")
        return self._real(**options)


async def test_a_worker_that_cannot_renew_its_lease_for_a_whole_lease_stops_the_run(sessions: Sessions) -> None:
    run_id = await _queue(sessions, await make_connection(sessions))
    breakable = BreakableSessions(sessions)
    executor = FakeExecutor(block_forever)
    worker = _worker(cast(Sessions, breakable), executor, None, lease_seconds=0.3)
    working = asyncio.create_task(worker.run_once())
    await eventually(lambda: _is_true(bool(executor.calls)))

    breakable.broken = True
    assert await asyncio.wait_for(working, WAIT_LIMIT) == run_id

    assert executor.cancelled == [run_id]  # another worker may own the run by now: this one must not go on
    assert (await load_run(sessions, run_id)).status == "running"  # left for the takeover after expiry


async def test_run_jobs_schedules_the_daily_run_and_executes_it_until_stopped(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions, sync_hour=0, timezone="UTC")  # due from midnight every day
    executor = FakeExecutor(succeed)
    stop = asyncio.Event()
    serving = asyncio.create_task(run_jobs(sessions, executor, None, stop, worker_id="embedded", poll_seconds=0.02))

    async def daily_run_succeeded() -> bool:
        runs = await runs_of(sessions, connection_id)
        return [(run.trigger, run.status) for run in runs] == [("schedule", "succeeded")]

    await eventually(daily_run_succeeded)
    stop.set()
    await asyncio.wait_for(serving, WAIT_LIMIT)
    assert len(executor.calls) == 1


def test_default_worker_ids_differ_between_workers() -> None:
    assert default_worker_id() != default_worker_id()
