"""The queue's promises, on SQLite and PostgreSQL: dedup, one running run per connection, leases."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.models import Connection, RunStatus, RunTrigger, SyncRun
from storage.repos.runs import RunRepo
from sync import jobs
from sync.jobs import RunCounts, RunOutcome
from sync.service.reports import run_summary_of
from tests.jobs.support import T0, finish_run, load_run, make_connection, runs_of

Sessions = async_sessionmaker[AsyncSession]
LEASE = 60


async def _enqueue(
    sessions: Sessions,
    connection_id: int,
    trigger: str = RunTrigger.MANUAL,
    *,
    not_before: datetime | None = None,
    scheduled_for: str | None = None,
    channel_id: str | None = None,
) -> tuple[int, bool]:
    async with transaction(sessions) as session:
        run, joined = await jobs.enqueue_run(
            session,
            connection_id,
            trigger,
            "U1",
            not_before=not_before,
            scheduled_for=scheduled_for,
            channel_id=channel_id,
            now=T0,
        )
        return run.id, joined


async def _claim(
    sessions: Sessions, worker_id: str, now: datetime = T0, max_attempts: int = jobs.DEFAULT_MAX_ATTEMPTS
) -> SyncRun | None:
    async with transaction(sessions) as session:
        return await RunRepo(session).claim_next(worker_id, LEASE, now, max_attempts=max_attempts)


# --- enqueue and dedup ------------------------------------------------------------------------------------


async def test_a_second_request_joins_the_queued_run_and_says_so(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    first_id, first_joined = await _enqueue(sessions, connection_id)
    second_id, second_joined = await _enqueue(sessions, connection_id, RunTrigger.SCHEDULE)

    assert (first_joined, second_joined) == (False, True)
    assert second_id == first_id
    assert [run.trigger for run in await runs_of(sessions, connection_id)] == ["manual"]


async def test_a_request_while_a_run_is_running_joins_the_running_run(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    run_id, _ = await _enqueue(sessions, connection_id)
    assert await _claim(sessions, "w1") is not None

    joined_id, joined = await _enqueue(sessions, connection_id, RunTrigger.MANUAL)

    assert (joined_id, joined) == (run_id, True)
    assert len(await runs_of(sessions, connection_id)) == 1


async def test_a_webhook_while_a_run_is_running_queues_one_follow_up(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    running_id, _ = await _enqueue(sessions, connection_id)
    await _claim(sessions, "w1")

    follow_up_id, joined = await _enqueue(
        sessions, connection_id, RunTrigger.WEBHOOK, not_before=T0 + timedelta(seconds=60)
    )
    again_id, again_joined = await _enqueue(
        sessions, connection_id, RunTrigger.WEBHOOK, not_before=T0 + timedelta(seconds=90)
    )

    assert follow_up_id != running_id and joined is False
    assert (again_id, again_joined) == (follow_up_id, True)
    assert [run.status for run in await runs_of(sessions, connection_id)] == ["running", "queued"]


async def test_a_retry_while_a_run_is_running_queues_a_follow_up_that_picks_up_the_fix(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    running_id, _ = await _enqueue(sessions, connection_id)
    await _claim(sessions, "w1")

    retry_id, joined = await _enqueue(sessions, connection_id, RunTrigger.RETRY)

    assert retry_id != running_id and joined is False


async def test_a_taken_over_run_carries_its_progress_message(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    run_id, _ = await _enqueue(sessions, connection_id)
    await _claim(sessions, "w1")
    async with transaction(sessions) as session:
        await RunRepo(session).record_progress_message(run_id, "C1", "1700000000.000100")

    taken = await _claim(sessions, "w2", now=T0 + timedelta(seconds=LEASE + 1))

    assert taken is not None
    ticket = taken
    assert (ticket.progress_channel, ticket.progress_ts, ticket.attempt) == ("C1", "1700000000.000100", 2)


async def test_a_later_webhook_keeps_the_queued_deadline_and_a_manual_request_pulls_it_forward(
    sessions: Sessions,
) -> None:
    connection_id = await make_connection(sessions)
    run_id, _ = await _enqueue(sessions, connection_id, RunTrigger.WEBHOOK, not_before=T0 + timedelta(seconds=60))
    await _enqueue(sessions, connection_id, RunTrigger.WEBHOOK, not_before=T0 + timedelta(seconds=120))
    assert (await load_run(sessions, run_id)).not_before == T0 + timedelta(seconds=60)

    await _enqueue(sessions, connection_id, RunTrigger.MANUAL, channel_id="C42")

    run = await load_run(sessions, run_id)
    assert run.not_before == T0
    assert run.progress_channel == "C42"


async def test_concurrent_enqueues_for_one_connection_make_a_single_run(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)

    results = await asyncio.gather(*(_enqueue(sessions, connection_id) for _ in range(6)))

    assert len({run_id for run_id, _ in results}) == 1
    assert sorted(joined for _, joined in results) == [False, True, True, True, True, True]


async def test_a_daily_run_stands_once_for_its_date_even_after_it_finished(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    run_id, _ = await _enqueue(sessions, connection_id, RunTrigger.SCHEDULE, scheduled_for="2026-01-05")
    await _claim(sessions, "w1")
    async with transaction(sessions) as session:
        assert await finish_run(session, run_id, "w1", RunOutcome(RunStatus.SUCCEEDED), now=T0)

    again_id, joined = await _enqueue(sessions, connection_id, RunTrigger.SCHEDULE, scheduled_for="2026-01-05")
    next_day_id, next_joined = await _enqueue(sessions, connection_id, RunTrigger.SCHEDULE, scheduled_for="2026-01-06")

    assert (again_id, joined) == (run_id, True)
    assert next_day_id != run_id and next_joined is False


async def test_concurrent_daily_requests_for_one_date_make_a_single_run(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)

    results = await asyncio.gather(
        *(_enqueue(sessions, connection_id, RunTrigger.SCHEDULE, scheduled_for="2026-01-05") for _ in range(4))
    )

    assert len({run_id for run_id, _ in results}) == 1
    assert [run.scheduled_for for run in await runs_of(sessions, connection_id)] == ["2026-01-05"]


async def test_a_daily_request_that_joins_a_manual_run_marks_it_as_that_days_run(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    run_id, _ = await _enqueue(sessions, connection_id, RunTrigger.MANUAL)

    await _enqueue(sessions, connection_id, RunTrigger.SCHEDULE, scheduled_for="2026-01-05")

    assert (await load_run(sessions, run_id)).scheduled_for == "2026-01-05"


async def test_enqueue_for_an_unknown_connection_raises(sessions: Sessions) -> None:
    with pytest.raises(jobs.ConnectionNotFoundError):
        await _enqueue(sessions, 999)


# --- claiming ---------------------------------------------------------------------------------------------


async def test_a_run_is_not_claimed_before_its_not_before(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    run_id, _ = await _enqueue(sessions, connection_id, RunTrigger.WEBHOOK, not_before=T0 + timedelta(seconds=60))

    assert await _claim(sessions, "w1", now=T0 + timedelta(seconds=59)) is None
    claimed = await _claim(sessions, "w1", now=T0 + timedelta(seconds=60))

    assert claimed is not None and claimed.id == run_id
    assert claimed.status == RunStatus.RUNNING and claimed.attempt == 1 and claimed.lease_owner == "w1"


async def test_a_claimed_run_records_the_watermark_it_starts_from(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    async with transaction(sessions) as session:
        connection = await session.get(Connection, connection_id)
        assert connection is not None
        connection.watermark = T0 - timedelta(days=1)
    await _enqueue(sessions, connection_id)

    claimed = await _claim(sessions, "w1")

    assert claimed is not None and claimed.watermark_before == T0 - timedelta(days=1)


async def test_a_connection_never_has_two_running_runs(sessions: Sessions) -> None:
    busy = await make_connection(sessions)
    other = await make_connection(sessions, team_id="T2")
    await _enqueue(sessions, busy)
    await _claim(sessions, "w1")
    await _enqueue(sessions, busy, RunTrigger.WEBHOOK)  # follow-up, queued behind the running run
    other_run_id, _ = await _enqueue(sessions, other)

    second = await _claim(sessions, "w2")
    third = await _claim(sessions, "w3")

    assert second is not None and second.id == other_run_id
    assert third is None
    assert [run.status for run in await runs_of(sessions, busy)] == ["running", "queued"]


async def test_two_companies_of_one_workspace_sync_in_parallel_each_one_run_at_a_time(sessions: Sessions) -> None:
    us = await make_connection(sessions, team_id="T1")
    uk = await make_connection(sessions, team_id="T1")  # a second QuickBooks company of the same workspace
    us_run, _ = await _enqueue(sessions, us)
    uk_run, _ = await _enqueue(sessions, uk)

    claims = await asyncio.gather(*(_claim(sessions, f"w{index}") for index in range(3)))
    await _enqueue(sessions, us, RunTrigger.WEBHOOK)  # each company's follow-up waits behind its own run
    await _enqueue(sessions, uk, RunTrigger.WEBHOOK)

    assert sorted(run.id for run in claims if run is not None) == sorted([us_run, uk_run])
    assert await _claim(sessions, "w4") is None
    assert [run.status for run in await runs_of(sessions, us)] == ["running", "queued"]
    assert [run.status for run in await runs_of(sessions, uk)] == ["running", "queued"]


async def test_the_database_refuses_a_second_running_run_for_a_connection(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    with pytest.raises(IntegrityError):
        async with transaction(sessions) as session:
            for _ in range(2):
                session.add(SyncRun(connection_id=connection_id, trigger="manual", status=RunStatus.RUNNING))
            await session.flush()


async def test_concurrent_claims_take_different_runs(sessions: Sessions) -> None:
    run_ids = set()
    for index in range(3):
        connection_id = await make_connection(sessions, team_id=f"T{index}")
        run_ids.add((await _enqueue(sessions, connection_id))[0])

    claims = await asyncio.gather(*(_claim(sessions, f"w{index}") for index in range(5)))

    claimed = [run.id for run in claims if run is not None]
    assert sorted(claimed) == sorted(run_ids)


async def test_an_expired_lease_is_taken_over_with_the_attempt_counted(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    run_id, _ = await _enqueue(sessions, connection_id)
    await _claim(sessions, "dead-worker")

    assert await _claim(sessions, "w2", now=T0 + timedelta(seconds=LEASE - 1)) is None
    taken = await _claim(sessions, "w2", now=T0 + timedelta(seconds=LEASE + 1))

    assert taken is not None and taken.id == run_id
    assert (taken.lease_owner, taken.attempt, taken.status) == ("w2", 2, RunStatus.RUNNING)
    assert taken.lease_until == T0 + timedelta(seconds=2 * LEASE + 1)


async def test_a_run_that_keeps_killing_its_worker_is_failed_instead_of_taken_over_forever(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    run_id, _ = await _enqueue(sessions, connection_id)
    moment = T0
    for attempt in range(2):
        assert await _claim(sessions, f"w{attempt}", now=moment, max_attempts=2) is not None
        moment += timedelta(seconds=LEASE + 1)

    assert await _claim(sessions, "w9", now=moment, max_attempts=2) is None
    run = await load_run(sessions, run_id)
    assert run.status == RunStatus.FAILED
    assert run.error_summary is not None and "Abandoned after 2 attempts" in run.error_summary


# --- heartbeat, finish, release ---------------------------------------------------------------------------


async def test_heartbeat_extends_the_lease_of_its_owner(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    run_id, _ = await _enqueue(sessions, connection_id)
    await _claim(sessions, "w1")

    async with transaction(sessions) as session:
        assert await RunRepo(session).heartbeat(run_id, "w1", LEASE, now=T0 + timedelta(seconds=50))

    assert (await load_run(sessions, run_id)).lease_until == T0 + timedelta(seconds=50 + LEASE)
    assert await _claim(sessions, "w2", now=T0 + timedelta(seconds=LEASE + 1)) is None


async def test_heartbeat_reports_a_lost_lease_after_a_takeover(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    run_id, _ = await _enqueue(sessions, connection_id)
    await _claim(sessions, "w1")
    await _claim(sessions, "w2", now=T0 + timedelta(seconds=LEASE + 1))

    async with transaction(sessions) as session:
        assert await RunRepo(session).heartbeat(run_id, "w1", LEASE) is False
    assert (await load_run(sessions, run_id)).lease_owner == "w2"


async def test_finish_records_the_outcome_and_frees_the_connection(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    run_id, _ = await _enqueue(sessions, connection_id)
    await _claim(sessions, "w1")
    outcome = RunOutcome(
        RunStatus.PARTIAL,
        RunCounts(invoices_seen=10, bills_created=7, already_synced=1, skipped=1, failed=1, vendors_created=2),
        error_summary="1 invoice failed",
        watermark_after=T0,
    )

    async with transaction(sessions) as session:
        assert await finish_run(session, run_id, "w1", outcome, now=T0 + timedelta(seconds=5))

    run = await load_run(sessions, run_id)
    assert (run.status, run.bills_created, run.failed, run.vendors_created) == ("partial", 7, 1, 2)
    assert (run.finished_at, run.watermark_after, run.lease_owner) == (T0 + timedelta(seconds=5), T0, None)
    assert (await _enqueue(sessions, connection_id))[1] is False  # a new request now queues a new run


async def test_a_worker_that_lost_its_lease_cannot_finish_the_run(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    run_id, _ = await _enqueue(sessions, connection_id)
    await _claim(sessions, "w1")
    await _claim(sessions, "w2", now=T0 + timedelta(seconds=LEASE + 1))

    async with transaction(sessions) as session:
        assert await finish_run(session, run_id, "w1", RunOutcome(RunStatus.SUCCEEDED)) is False

    run = await load_run(sessions, run_id)
    assert (run.status, run.lease_owner) == ("running", "w2")


async def test_release_on_shutdown_puts_the_run_back_in_the_queue(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    run_id, _ = await _enqueue(sessions, connection_id)
    await _claim(sessions, "w1")

    async with transaction(sessions) as session:
        assert await RunRepo(session).release(run_id, "w1", now=T0 + timedelta(seconds=3))
    released = await load_run(sessions, run_id)
    retaken = await _claim(sessions, "w2", now=T0 + timedelta(seconds=3))

    assert (released.status, released.lease_owner) == ("queued", None)
    assert retaken is not None and (retaken.id, retaken.attempt) == (run_id, 2)


async def test_release_merges_a_follow_up_queued_meanwhile(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    run_id, _ = await _enqueue(sessions, connection_id)
    await _claim(sessions, "w1")
    follow_up_id, _ = await _enqueue(sessions, connection_id, RunTrigger.WEBHOOK)

    async with transaction(sessions) as session:
        assert await RunRepo(session).release(run_id, "w1")

    statuses = {run.id: run.status for run in await runs_of(sessions, connection_id)}
    assert statuses == {run_id: "queued", follow_up_id: "cancelled"}


async def test_run_history_lists_newest_first(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    ids = []
    for day in ("2026-01-03", "2026-01-04", "2026-01-05"):
        run_id, _ = await _enqueue(sessions, connection_id, RunTrigger.SCHEDULE, scheduled_for=day)
        ids.append(run_id)
        await _claim(sessions, "w1")
        async with transaction(sessions) as session:
            await finish_run(session, run_id, "w1", RunOutcome(RunStatus.SUCCEEDED))

    async with transaction(sessions) as session:
        history = await RunRepo(session).history(connection_id, limit=2)
        summary = run_summary_of(history[0])

    assert [run.id for run in history] == ids[::-1][:2]
    assert (summary.run_id, summary.status, summary.trigger) == (ids[-1], "succeeded", "schedule")
