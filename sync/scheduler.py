"""When runs get queued: the daily run at each workspace's local hour, the first sync, and webhook-triggered runs.

The APScheduler job only ENQUEUES. Whether a daily run is due is a pure function of the clock
(`due_daily_runs`), and `enqueue_run` with `scheduled_for` fires each local date once, so a tick after downtime
catches up once, DST days neither skip nor double, and several schedulers ticking together queue one run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.models import ConnectionStatus, RunTrigger, utcnow
from storage.records import RunRecord
from storage.repos.connections import ConnectionRepo, DailySchedule
from storage.repos.mappings import MappingRepo
from storage.repos.runs import RunRepo
from sync.housekeeping import prune_expired
from sync.jobs import enqueue_run
from sync.review import sweep_reviews

logger = structlog.get_logger(__name__)

TICK_JOB_ID = "daily-sync-tick"
DEFAULT_TICK_SECONDS = 60.0
WEBHOOK_DEBOUNCE_SECONDS = 60.0
SYSTEM_REQUESTER = "system"


def is_time_zone(name: str) -> bool:
    """Whether `name` is an IANA time zone this machine knows (e.g. America/Bogota)."""
    if not name or name not in available_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zone_or_utc(name: str) -> tzinfo:
    """The IANA zone; an unknown name falls back to UTC (logged) so a typo delays a sync instead of losing it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown_timezone_using_utc", timezone=name)
        return UTC


def daily_due_at(local_date: date, sync_hour: int, zone: tzinfo) -> datetime:
    """The UTC instant of `sync_hour` o'clock on `local_date` in `zone`.

    In a fall-back overlap the first occurrence counts (fold=0). In a spring-forward gap the hour does not exist
    on the wall clock; the run is due at the next valid time, the instant the clocks jump.
    """
    wall = datetime.combine(local_date, time(hour=sync_hour))
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # In a gap. fold=1 maps the wall time to an instant before the jump; walk forward to the first instant whose
    # wall time is at or past the requested one (transitions fall on whole minutes; gaps last at most hours).
    probe = wall.replace(tzinfo=zone, fold=1).astimezone(UTC).replace(second=0, microsecond=0)
    while probe.astimezone(zone).replace(tzinfo=None) < wall:
        probe += timedelta(minutes=1)
    return probe


def due_daily_runs(schedules: Iterable[DailySchedule], now_utc: datetime) -> list[tuple[int, date]]:
    """(connection_id, local date) for every connection whose local sync hour today has passed.

    Only today's date is considered: after downtime the missed run is caught up once (the enqueue refuses a
    second run for the same date), and a run missed on an earlier day is covered by today's (syncs are
    incremental from the watermark).
    """
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    due: list[tuple[int, date]] = []
    for schedule in schedules:
        if not 0 <= schedule.sync_hour <= 23:
            # One bad row must not stop every other team's daily run.
            logger.warning("invalid_sync_hour_skipped", connection_id=schedule.connection_id, hour=schedule.sync_hour)
            continue
        zone = zone_or_utc(schedule.timezone)
        today = now_utc.astimezone(zone).date()
        if now_utc >= daily_due_at(today, schedule.sync_hour, zone):
            due.append((schedule.connection_id, today))
    return due


async def _without_fresh_runs(session: AsyncSession, due: list[tuple[int, date]]) -> list[tuple[int, date]]:
    """Drop connections that already had a run (any trigger) queued after today's daily hour: a first sync or a
    manual `/qbo sync` at 15:00 already did what the 07:00 run would have, so catching up would only repeat it."""
    if not due:
        return due
    schedules = {schedule.connection_id: schedule for schedule in await ConnectionRepo(session).list_daily_schedules()}
    latest = await RunRepo(session).latest_queued_at([connection_id for connection_id, _ in due])
    kept = []
    for connection_id, local_date in due:
        schedule = schedules.get(connection_id)
        last = latest.get(connection_id)
        if schedule is not None and last is not None:
            due_at = daily_due_at(local_date, schedule.sync_hour, zone_or_utc(schedule.timezone))
            if _aware(last) >= due_at:
                continue
        kept.append((connection_id, local_date))
    return kept


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def enqueue_due_daily_runs(sessions: async_sessionmaker[AsyncSession], now_utc: datetime) -> list[int]:
    """One scheduler tick: queue every due daily run not queued yet; returns the ids of runs it created.

    Each connection gets its own transaction, so one failing connection never stops the others.
    """
    async with transaction(sessions) as session:
        due = due_daily_runs(await ConnectionRepo(session).list_daily_schedules(), now_utc)
        if due:
            # Most ticks find every due run already queued: skip those without taking a lock per connection.
            # (A run queued after this read is still caught by the locked check inside enqueue_run.)
            already = await RunRepo(session).daily_runs_on({local_date.isoformat() for _, local_date in due})
            due = [(cid, local_date) for cid, local_date in due if (cid, local_date.isoformat()) not in already]
            due = await _without_fresh_runs(session, due)
    created: list[int] = []
    for connection_id, local_date in due:
        try:
            async with transaction(sessions) as session:
                run, joined = await enqueue_run(
                    session,
                    connection_id,
                    RunTrigger.SCHEDULE,
                    SYSTEM_REQUESTER,
                    scheduled_for=local_date.isoformat(),
                    now=now_utc,
                )
                if not joined:
                    created.append(run.id)
        except Exception as exc:
            logger.warning(
                "daily_enqueue_failed", connection_id=connection_id, error=type(exc).__name__, detail=str(exc)[:300]
            )
    if created:
        logger.info("daily_runs_queued", run_ids=created)
    return created


class DailyScheduler:
    """APScheduler 3 AsyncIOScheduler with one interval job that enqueues due daily runs.

    Start it inside the running event loop of the process that runs the worker (`qbo-bot serve`/`worker`).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        tick_seconds: float = DEFAULT_TICK_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._tick_seconds = tick_seconds
        self._clock = clock
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        """Tick now and then every tick_seconds (ticks never overlap; missed ticks collapse into one)."""
        self._scheduler.add_job(
            self.tick,
            IntervalTrigger(seconds=self._tick_seconds, timezone=UTC),
            id=TICK_JOB_ID,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
            next_run_time=datetime.now(UTC),
        )
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def tick(self) -> list[int]:
        try:
            # Reviews waiting for approval: a reminder on day 6, the expiry on day 7 (sync/review.py).
            await sweep_reviews(self._sessions, self._clock())
        except Exception as exc:
            logger.warning("review_sweep_failed", error=type(exc).__name__, detail=str(exc)[:300])
        try:
            await prune_expired(self._sessions, self._clock())  # expired connect states, old webhook deliveries
        except Exception as exc:
            logger.warning("housekeeping_failed", error=type(exc).__name__, detail=str(exc)[:300])
        try:
            return await enqueue_due_daily_runs(self._sessions, self._clock())
        except Exception as exc:
            # The next tick retries; a database outage must not kill the scheduler job.
            logger.warning("scheduler_tick_failed", error=type(exc).__name__, detail=str(exc)[:300])
            return []


# --- first sync and webhook runs --------------------------------------------------------------------------


async def enqueue_first_sync(
    session: AsyncSession, connection_id: int, requested_by: str | None = None, *, now: datetime | None = None
) -> RunRecord | None:
    """Queue the connection's first sync once it is active and mapped (at least one concept mapping).

    Returns the run when this call queued (or joined) it; None when not ready or already done before.
    Call it after connecting Ontop and after saving mappings; extra calls are harmless.
    """
    connections = ConnectionRepo(session)
    connection = await connections.get(connection_id, for_update=True)
    if connection is None or connection.first_sync_enqueued or connection.status != ConnectionStatus.ACTIVE:
        return None
    if not await MappingRepo(session).has_any(connection_id):
        return None
    run, _ = await enqueue_run(session, connection_id, RunTrigger.FIRST, requested_by or SYSTEM_REQUESTER, now=now)
    await connections.mark_first_sync_enqueued(connection_id)
    return run


async def enqueue_webhook_run(
    session: AsyncSession,
    connection_id: int,
    *,
    now: datetime | None = None,
    debounce_seconds: float = WEBHOOK_DEBOUNCE_SECONDS,
) -> tuple[RunRecord, bool]:
    """A debounced run after an Ontop webhook: due `debounce_seconds` from now, or joins the queued run.

    A burst of deliveries therefore makes one run, at most a minute after the first of them.
    """
    moment = now or utcnow()
    return await enqueue_run(
        session,
        connection_id,
        RunTrigger.WEBHOOK,
        SYSTEM_REQUESTER,
        not_before=moment + timedelta(seconds=debounce_seconds),
        now=moment,
    )


def next_daily_run_at(sync_hour: int, timezone: str, now_utc: datetime) -> datetime:
    """The next daily run instant (UTC) strictly after now: for the status view's `next_daily_run_at`."""
    zone = zone_or_utc(timezone)
    today = now_utc.astimezone(zone).date()
    due = daily_due_at(today, sync_hour, zone)
    return due if due > now_utc else daily_due_at(today + timedelta(days=1), sync_hour, zone)
