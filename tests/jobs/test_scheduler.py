"""The daily schedule, by time travel (no sleeping): time zones, DST, catch-up, several schedulers at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.db import create_engine, session_factory, transaction
from storage.models import Connection, ConnectionStatus, RunStatus, RunTrigger, Workspace
from storage.repos.runs import RunRepo
from sync import jobs
from sync.jobs import RunOutcome
from sync.scheduler import (
    DailySchedule,
    DailyScheduler,
    daily_due_at,
    due_daily_runs,
    enqueue_due_daily_runs,
    enqueue_first_sync,
    enqueue_webhook_run,
    next_daily_run_at,
)
from tests.jobs.support import T0, eventually, finish_run, make_connection, runs_of

Sessions = async_sessionmaker[AsyncSession]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def minutes(start: datetime, end: datetime, step: int = 1) -> Iterator[datetime]:
    moment = start
    while moment < end:
        yield moment
        moment += timedelta(minutes=step)


def simulate(schedule: DailySchedule, start: datetime, end: datetime) -> dict[date, datetime]:
    """Tick every minute from start to end; a date fires the first time it is due (as the enqueue guarantees)."""
    fired: dict[date, datetime] = {}
    for moment in minutes(start, end):
        for _, local_date in due_daily_runs([schedule], moment):
            fired.setdefault(local_date, moment)
    return fired


# --- the pure schedule ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "sync_hour", "expected_fires"),
    [
        # Bogota: UTC-5 all year; a late local hour falls on the next UTC day but stands for the local date.
        ("America/Bogota", 7, {date(2026, 1, 5): utc(2026, 1, 5, 12), date(2026, 1, 6): utc(2026, 1, 6, 12)}),
        ("America/Bogota", 22, {date(2026, 1, 4): utc(2026, 1, 5, 3), date(2026, 1, 5): utc(2026, 1, 6, 3)}),
        # Kolkata: UTC+5:30, the half hour carries through.
        ("Asia/Kolkata", 7, {date(2026, 1, 5): utc(2026, 1, 5, 1, 30), date(2026, 1, 6): utc(2026, 1, 6, 1, 30)}),
        ("Europe/Madrid", 7, {date(2026, 1, 5): utc(2026, 1, 5, 6), date(2026, 1, 6): utc(2026, 1, 6, 6)}),
    ],
)
def test_each_local_date_fires_once_at_the_local_hour(
    timezone: str, sync_hour: int, expected_fires: dict[date, datetime]
) -> None:
    fired = simulate(DailySchedule(1, sync_hour, timezone), utc(2026, 1, 5, 0), utc(2026, 1, 7, 0))
    # The first tick also fires the date already due when the simulation starts (catch-up); ignore it here.
    assert {day: moment for day, moment in fired.items() if day in expected_fires} == expected_fires
    assert all(moment.astimezone(ZoneInfo(timezone)).hour == sync_hour for moment in expected_fires.values())


def test_madrid_spring_forward_day_runs_once_at_the_next_valid_time() -> None:
    # 2026-03-29 02:00 CET jumps to 03:00 CEST: a 02:00 sync hour does not exist that day.
    zone = ZoneInfo("Europe/Madrid")
    assert datetime(2026, 3, 28, 12, tzinfo=zone).utcoffset() != datetime(2026, 3, 30, 12, tzinfo=zone).utcoffset()

    fired = simulate(DailySchedule(1, 2, "Europe/Madrid"), utc(2026, 3, 27, 23, 30), utc(2026, 3, 31, 0))

    assert fired == {
        date(2026, 3, 28): utc(2026, 3, 28, 1),  # 02:00 CET
        date(2026, 3, 29): utc(2026, 3, 29, 1),  # 03:00 CEST, the instant the clocks jump
        date(2026, 3, 30): utc(2026, 3, 30, 0),  # 02:00 CEST
    }


def test_madrid_fall_back_day_runs_once_at_the_first_occurrence_of_the_hour() -> None:
    # 2026-10-25 03:00 CEST falls back to 02:00 CET: 02:xx happens twice that night.
    fired = simulate(DailySchedule(1, 2, "Europe/Madrid"), utc(2026, 10, 23, 23, 30), utc(2026, 10, 27, 0))

    assert fired == {
        date(2026, 10, 24): utc(2026, 10, 24, 0),  # 02:00 CEST
        date(2026, 10, 25): utc(2026, 10, 25, 0),  # the first 02:00 (CEST); the second one (CET) fires nothing
        date(2026, 10, 26): utc(2026, 10, 26, 1),  # 02:00 CET
    }


def test_new_york_dst_days_neither_skip_nor_double_a_morning_hour() -> None:
    schedule = DailySchedule(1, 7, "America/New_York")
    spring = simulate(schedule, utc(2026, 3, 7, 12, 30), utc(2026, 3, 10, 0))
    autumn = simulate(schedule, utc(2026, 10, 31, 12, 30), utc(2026, 11, 3, 0))

    assert spring == {
        date(2026, 3, 7): utc(2026, 3, 7, 12, 30),  # already due when the simulation starts: caught up at once
        date(2026, 3, 8): utc(2026, 3, 8, 11),  # 07:00 EDT, the first day of summer time
        date(2026, 3, 9): utc(2026, 3, 9, 11),
    }
    assert autumn == {
        date(2026, 10, 31): utc(2026, 10, 31, 12, 30),
        date(2026, 11, 1): utc(2026, 11, 1, 12),  # 07:00 EST, the first day of winter time
        date(2026, 11, 2): utc(2026, 11, 2, 12),
    }


DST_TRANSITIONS = [
    ("Europe/Madrid", date(2026, 3, 29)),
    ("Europe/Madrid", date(2026, 10, 25)),
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2026, 11, 1)),
    ("America/Santiago", date(2026, 4, 5)),  # southern hemisphere, transition at midnight
    ("America/Santiago", date(2026, 9, 6)),
    ("Australia/Lord_Howe", date(2026, 10, 4)),  # a 30-minute shift
]


@settings(max_examples=40, deadline=None)
@given(transition=st.sampled_from(DST_TRANSITIONS), sync_hour=st.integers(min_value=0, max_value=23))
def test_around_any_dst_change_every_day_fires_once_about_a_day_apart(
    transition: tuple[str, date], sync_hour: int
) -> None:
    timezone, day = transition
    start = datetime.combine(day - timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    fired: dict[date, datetime] = {}
    for moment in minutes(start, start + timedelta(days=5), step=10):
        for _, local_date in due_daily_runs([DailySchedule(1, sync_hour, timezone)], moment):
            fired.setdefault(local_date, moment)

    dates = sorted(fired)
    assert dates == [dates[0] + timedelta(days=offset) for offset in range(len(dates))]  # no day skipped
    assert len(dates) >= 4
    gaps = [later - earlier for earlier, later in zip(list(fired.values())[1:], list(fired.values())[2:], strict=False)]
    assert all(timedelta(hours=22, minutes=50) <= gap <= timedelta(hours=25, minutes=10) for gap in gaps)


def test_a_half_hour_gap_runs_at_the_end_of_the_gap() -> None:
    # Lord Howe Island springs forward by 30 minutes: 2026-10-04 02:00 (+10:30) becomes 02:30 (+11:00).
    zone = ZoneInfo("Australia/Lord_Howe")
    due = daily_due_at(date(2026, 10, 4), 2, zone)

    assert due == utc(2026, 10, 3, 15, 30)
    assert due.astimezone(zone).replace(tzinfo=None) == datetime(2026, 10, 4, 2, 30)


def test_an_unknown_time_zone_falls_back_to_utc() -> None:
    assert due_daily_runs([DailySchedule(1, 7, "Mars/Olympus_Mons")], utc(2026, 1, 5, 7)) == [(1, date(2026, 1, 5))]
    assert due_daily_runs([DailySchedule(1, 7, "Mars/Olympus_Mons")], utc(2026, 1, 5, 6, 59)) == []


def test_an_invalid_sync_hour_skips_only_that_connection() -> None:
    schedules = [DailySchedule(1, 24, "UTC"), DailySchedule(2, 7, "UTC")]
    assert due_daily_runs(schedules, utc(2026, 1, 5, 8)) == [(2, date(2026, 1, 5))]


def test_next_daily_run_is_today_before_the_hour_and_tomorrow_after_it() -> None:
    assert next_daily_run_at(7, "Asia/Kolkata", utc(2026, 1, 5, 1)) == utc(2026, 1, 5, 1, 30)
    assert next_daily_run_at(7, "Asia/Kolkata", utc(2026, 1, 5, 1, 30)) == utc(2026, 1, 6, 1, 30)


# --- ticks against the database ---------------------------------------------------------------------------


async def _tick(sessions: Sessions, now: datetime) -> list[int]:
    return await enqueue_due_daily_runs(sessions, now)


async def test_a_missed_daily_run_is_caught_up_once_after_downtime(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions, sync_hour=7, timezone="America/Bogota")
    assert await _tick(sessions, utc(2026, 1, 5, 11, 59)) == []  # 06:59 in Bogota; then the process is down

    caught_up = await _tick(sessions, utc(2026, 1, 5, 15, 30))  # back at 10:30 local
    assert len(caught_up) == 1
    assert await _tick(sessions, utc(2026, 1, 5, 15, 31)) == []
    async with transaction(sessions) as session:
        await RunRepo(session).claim_next("w1", 60, utc(2026, 1, 5, 15, 31))
        await finish_run(session, caught_up[0], "w1", RunOutcome(RunStatus.SUCCEEDED))
    assert await _tick(sessions, utc(2026, 1, 6, 4)) == []  # 23:00 local, same date: already done
    next_day = await _tick(sessions, utc(2026, 1, 6, 12))

    runs = await runs_of(sessions, connection_id)
    assert [(run.trigger, run.scheduled_for) for run in runs] == [
        ("schedule", "2026-01-05"),
        ("schedule", "2026-01-06"),
    ]
    assert next_day == [runs[1].id]


async def test_two_schedulers_ticking_at_once_queue_one_run(sessions: Sessions, engine: AsyncEngine) -> None:
    connection_ids = [await make_connection(sessions, team_id=f"T{index}", sync_hour=7) for index in range(3)]
    other_engine = create_engine(engine.url.render_as_string(hide_password=False))
    try:
        other_sessions = session_factory(other_engine)
        results = await asyncio.gather(
            _tick(sessions, utc(2026, 1, 5, 8)), _tick(other_sessions, utc(2026, 1, 5, 8, 0, 30))
        )
    finally:
        await other_engine.dispose()

    assert sorted(results[0] + results[1]) == sorted(set(results[0] + results[1]))
    for connection_id in connection_ids:
        assert [run.scheduled_for for run in await runs_of(sessions, connection_id)] == ["2026-01-05"]


async def test_a_daily_tick_during_a_manual_run_joins_it_instead_of_running_twice(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions, sync_hour=7)
    async with transaction(sessions) as session:
        manual, _ = await jobs.enqueue_run(session, connection_id, RunTrigger.MANUAL, "U1", now=utc(2026, 1, 5, 6))

    assert await _tick(sessions, utc(2026, 1, 5, 7)) == []
    assert await _tick(sessions, utc(2026, 1, 5, 9)) == []
    assert [(run.id, run.scheduled_for) for run in await runs_of(sessions, connection_id)] == [
        (manual.id, "2026-01-05")
    ]


async def test_a_sync_finished_after_todays_hour_already_counts_as_todays_daily_run(sessions: Sessions) -> None:
    """Connected at 10:30 with the daily hour at 07:00: the first sync did today's work; no catch-up repeats it."""
    connection_id = await make_connection(sessions, sync_hour=7, timezone="America/Bogota")
    async with transaction(sessions) as session:
        first, _ = await jobs.enqueue_run(session, connection_id, RunTrigger.FIRST, "U1", now=utc(2026, 1, 5, 15, 30))
    async with transaction(sessions) as session:
        await RunRepo(session).claim_next("w1", 60, utc(2026, 1, 5, 15, 30))
        await finish_run(session, first.id, "w1", RunOutcome(RunStatus.SUCCEEDED))

    assert await _tick(sessions, utc(2026, 1, 5, 15, 35)) == []
    assert len(await _tick(sessions, utc(2026, 1, 6, 12, 1))) == 1  # tomorrow 07:01 local runs as usual


async def test_only_active_installed_connections_past_their_first_sync_are_scheduled(sessions: Sessions) -> None:
    scheduled = await make_connection(sessions, team_id="T1")
    pending = await make_connection(sessions, team_id="T2", status=ConnectionStatus.PENDING)
    reauth = await make_connection(sessions, team_id="T3", status=ConnectionStatus.NEEDS_REAUTH)
    before_first = await make_connection(sessions, team_id="T4", first_sync_enqueued=False)
    uninstalled = await make_connection(sessions, team_id="T5")
    async with transaction(sessions) as session:
        connection = await session.get(Connection, uninstalled)
        assert connection is not None
        workspace = await session.get(Workspace, connection.workspace_id)
        assert workspace is not None
        workspace.uninstalled_at = T0

    await _tick(sessions, utc(2026, 1, 5, 8))

    assert len(await runs_of(sessions, scheduled)) == 1
    for connection_id in (pending, reauth, before_first, uninstalled):
        assert await runs_of(sessions, connection_id) == []


async def test_the_apscheduler_job_ticks_on_start_and_only_enqueues(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions, sync_hour=0, timezone="UTC")  # due every day from midnight
    scheduler = DailyScheduler(sessions, tick_seconds=3600)
    scheduler.start()
    try:
        await eventually(lambda: _has_runs(sessions, connection_id))
    finally:
        scheduler.shutdown()

    [run] = await runs_of(sessions, connection_id)
    assert (run.trigger, run.status) == ("schedule", "queued")
    assert run.scheduled_for == datetime.now(UTC).date().isoformat()


async def _has_runs(sessions: Sessions, connection_id: int) -> bool:
    return bool(await runs_of(sessions, connection_id))


# --- first sync and webhooks ------------------------------------------------------------------------------


async def test_the_first_sync_is_queued_once_when_the_connection_is_active_and_mapped(sessions: Sessions) -> None:
    unmapped = await make_connection(sessions, team_id="T1", first_sync_enqueued=False, mapped=False)
    pending = await make_connection(sessions, team_id="T2", first_sync_enqueued=False, status=ConnectionStatus.PENDING)
    ready = await make_connection(sessions, team_id="T3", first_sync_enqueued=False)

    async with transaction(sessions) as session:
        assert await enqueue_first_sync(session, unmapped) is None
        assert await enqueue_first_sync(session, pending) is None
        first = await enqueue_first_sync(session, ready, "U1", now=T0)
    async with transaction(sessions) as session:
        again = await enqueue_first_sync(session, ready, "U1", now=T0)

    assert first is not None and (first.trigger, first.requested_by, first.not_before) == ("first", "U1", T0)
    assert again is None
    assert len(await runs_of(sessions, ready)) == 1


async def test_a_webhook_burst_makes_one_run_a_minute_after_the_first_delivery(sessions: Sessions) -> None:
    connection_id = await make_connection(sessions)
    async with transaction(sessions) as session:
        run, joined = await enqueue_webhook_run(session, connection_id, now=T0)
    async with transaction(sessions) as session:
        later, later_joined = await enqueue_webhook_run(session, connection_id, now=T0 + timedelta(seconds=30))

    assert (joined, later_joined, later.id) == (False, True, run.id)
    [stored] = await runs_of(sessions, connection_id)
    assert (stored.trigger, stored.not_before) == ("webhook", T0 + timedelta(seconds=60))
