"""The worker: claims queued runs, executes them under a renewed lease, records the outcome, notifies.

Runs embedded in `qbo-bot serve` or alone as `qbo-bot worker`; any number of workers can share one PostgreSQL.
The executor (the sync engine) knows nothing about Slack; the notifier (the Slack notification code) knows
nothing about the queue.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.models import ConnectionStatus, RunTrigger, utcnow
from storage.records import RunRecord
from storage.repos.connections import ConnectionRepo
from storage.repos.runs import RunRepo
from sync import messages
from sync.jobs import DEFAULT_MAX_ATTEMPTS, RunCounts, RunOutcome, queue_follow_up
from sync.outbox import owe_reauth_reminder, owe_run_result
from sync.run import SyncEngine
from sync.scheduler import DEFAULT_TICK_SECONDS, DailyScheduler

__all__ = [
    "EngineExecutor",
    "ProgressReporter",
    "RunCounts",
    "RunExecutor",
    "RunNotifier",
    "RunOutcome",
    "ThrottledProgress",
    "Worker",
    "default_worker_id",
    "run_jobs",
]

logger = structlog.get_logger(__name__)

NOTIFIER_TIMEOUT_SECONDS = 10.0
FINISH_ATTEMPTS = 3
DATABASE_ATTEMPTS = 3


class ProgressReporter(Protocol):
    async def __call__(self, done: int, total: int | None) -> None:
        """The executor reports progress (total None when unknown); cheap to call often (throttled for Slack)."""
        ...


class RunExecutor(Protocol):
    async def __call__(self, run: RunRecord, progress: ProgressReporter) -> RunOutcome:
        """Execute one claimed run. Must be cancellable at any await (the worker cancels it when its lease is lost)."""
        ...


class RunNotifier(Protocol):
    async def run_started(self, run: RunRecord) -> Any:
        """Post the 'sync started' message; returns a reference for later updates (or None)."""
        ...

    async def run_progress(self, ref: Any, done: int, total: int | None) -> Any:
        """Update the progress message (chat.update); returns the reference to use from now on (a scheduled run's
        message is only posted once it has work), or None to keep the old one."""
        ...

    async def run_finished(self, run_id: int, ref: Any) -> None:
        """The run's summary is owed in the outbox (committed with its outcome): deliver it now if possible."""
        ...


Clock = Callable[[], datetime]


class ThrottledProgress:
    """A ProgressReporter that forwards at most one update per `min_interval` to the notifier.

    The first report goes out at once; later ones inside the interval are dropped (the next one that gets
    through carries the newest figures). Notifier errors are logged and never reach the executor.
    """

    def __init__(
        self, notifier: RunNotifier | None, ref: Any, *, min_interval_seconds: float, clock: Clock, run_id: int
    ) -> None:
        self._notifier = notifier
        self._ref = ref
        self._min_interval = timedelta(seconds=min_interval_seconds)
        self._clock = clock
        self._run_id = run_id
        self._last_sent: datetime | None = None
        self.sent = 0

    async def __call__(self, done: int, total: int | None) -> None:
        if self._notifier is None:
            return
        moment = self._clock()
        if self._last_sent is not None and moment - self._last_sent < self._min_interval:
            return
        self._last_sent = moment
        self.sent += 1
        updated = await _call_notifier(
            self._notifier.run_progress(self._ref, done, total), "run_progress", self._run_id
        )
        if updated is not None:
            self._ref = updated


async def _call_notifier(call: Awaitable[Any], what: str, run_id: int) -> Any:
    # A Slack outage must never fail or stall a sync: notifications are best effort, with a time limit.
    try:
        return await asyncio.wait_for(call, NOTIFIER_TIMEOUT_SECONDS)
    except Exception as exc:
        logger.warning("notifier_failed", call=what, run_id=run_id, error=type(exc).__name__, detail=str(exc)[:300])
        return None


def _failure_summary(exc: BaseException) -> str:
    """What the finance channel reads: plain words and the error's kind, never its text (it can hold SQL or
    data); the details are in the logs under the run id."""
    return messages.unexpected_error(type(exc).__name__)


class EngineExecutor:
    """The worker's RunExecutor: runs the sync engine for a claimed run and returns the outcome to record."""

    def __init__(self, engine: SyncEngine) -> None:
        self._engine = engine

    async def __call__(self, run: RunRecord, progress: ProgressReporter) -> RunOutcome:
        for attempt in range(1, DATABASE_ATTEMPTS + 1):
            try:
                return await self._engine.run(run, progress, only_failed=run.trigger == RunTrigger.RETRY)
            except DBAPIError as exc:
                # The database dropped the connection (restart, failover): the pool reconnects, and resuming is
                # safe because the ledger was written before every create.
                logger.warning("sync.database_error", attempt=attempt, error=type(exc).__name__)
                if attempt == DATABASE_ATTEMPTS:
                    break
                await asyncio.sleep(attempt)
        return RunOutcome.failure(messages.DATABASE_KEPT_DROPPING)


class Worker:
    """Claims and executes runs, up to `concurrency` at a time (always on different connections)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        execute: RunExecutor,
        notifier: RunNotifier | None,
        *,
        worker_id: str,
        concurrency: int = 1,
        lease_seconds: float = 60,
        poll_seconds: float = 1.0,
        clock: Clock = utcnow,
        progress_interval_seconds: float = 5.0,
        shutdown_grace_seconds: float = 30.0,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self._sessions = sessions
        self._execute = execute
        self._notifier = notifier
        self.worker_id = worker_id
        self._concurrency = concurrency
        self._lease_seconds = lease_seconds
        self._poll_seconds = poll_seconds
        self._clock = clock
        self._progress_interval = progress_interval_seconds
        self._shutdown_grace = shutdown_grace_seconds
        self._max_attempts = max_attempts
        self._log = logger.bind(worker_id=worker_id)

    @property
    def heartbeat_seconds(self) -> float:
        # Three renewals per lease: one slow database round trip does not cost the lease.
        return self._lease_seconds / 3

    async def run_once(self) -> int | None:
        """Claim one due run and execute it to the end; its id, or None when nothing was due."""
        run = await self._claim()
        if run is None:
            return None
        await self._process(run)
        return run.id

    async def run_forever(self, stop_event: asyncio.Event) -> None:
        """Work until stop_event is set; then finish in-flight runs within the grace period or release them."""
        in_flight: set[asyncio.Task[None]] = set()
        stop_waiter = asyncio.create_task(stop_event.wait())
        self._log.info("worker_started", concurrency=self._concurrency, lease_seconds=self._lease_seconds)
        try:
            while not stop_event.is_set():
                idle = False
                while len(in_flight) < self._concurrency and not stop_event.is_set():
                    run = await self._claim()
                    if run is None:
                        idle = True
                        break
                    in_flight.add(asyncio.create_task(self._process(run), name=f"sync-run-{run.id}"))
                # Wake up when a run ends (a slot frees), on stop, or after the poll interval when idle.
                await asyncio.wait(
                    {*in_flight, stop_waiter},
                    timeout=self._poll_seconds if idle or not in_flight else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                in_flight = {task for task in in_flight if not task.done()}
        finally:
            stop_waiter.cancel()
            await self._drain(in_flight)
            self._log.info("worker_stopped")

    async def _drain(self, in_flight: set[asyncio.Task[None]]) -> None:
        if not in_flight:
            return
        self._log.info("worker_draining", runs=len(in_flight), grace_seconds=self._shutdown_grace)
        _, pending = await asyncio.wait(in_flight, timeout=self._shutdown_grace)
        for task in pending:
            task.cancel()  # _process releases the run back to the queue
        await asyncio.gather(*pending, return_exceptions=True)

    async def _claim(self) -> RunRecord | None:
        try:
            async with transaction(self._sessions) as session:
                runs = RunRepo(session)
                claimed = await runs.claim_next(
                    self.worker_id, self._lease_seconds, self._clock(), max_attempts=self._max_attempts
                )
                for abandoned in runs.abandoned:  # a run that kept killing its worker still owes its summary
                    await owe_run_result(session, abandoned.connection_id, abandoned.id, self._clock())
                return claimed
        except IntegrityError:
            # Lost a race for a connection's single running slot; another worker has it. Try again next poll.
            self._log.info("claim_race_lost")
            return None
        except Exception as exc:
            self._log.warning("claim_failed", error=type(exc).__name__, detail=str(exc)[:300])
            return None

    async def _process(self, run: RunRecord) -> None:
        """Execute one claimed run; never raises except on cancellation (after releasing the run)."""
        log = self._log.bind(run_id=run.id, connection_id=run.connection_id, attempt=run.attempt)
        try:
            await self._process_claimed(run, log)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The worker must survive anything one run does; the lease expiry hands the run to another worker.
            log.exception("run_processing_crashed")

    async def _process_claimed(self, run: RunRecord, log: Any) -> None:
        log.info("run_started")
        ref = await _call_notifier(self._notifier.run_started(run), "run_started", run.id) if self._notifier else None
        progress = ThrottledProgress(
            self._notifier, ref, min_interval_seconds=self._progress_interval, clock=self._clock, run_id=run.id
        )
        executing = asyncio.create_task(self._execute(run, progress), name=f"execute-run-{run.id}")
        lease_lost = asyncio.Event()
        keeper = asyncio.create_task(self._keep_lease(run.id, executing, lease_lost), name=f"lease-run-{run.id}")
        try:
            await asyncio.wait({executing})
        except asyncio.CancelledError:
            # Shutdown after the grace period: stop the executor, then hand the run back to the queue.
            executing.cancel()
            keeper.cancel()
            await asyncio.gather(executing, keeper, return_exceptions=True)
            await self._release(run.id, log)
            raise
        # The keeper notices the executor is done at its next wake-up; let an in-flight heartbeat complete rather
        # than cancelling it mid-statement, but never wait on a stuck one for longer than a lease.
        _, stuck = await asyncio.wait({keeper}, timeout=self._lease_seconds)
        for task in stuck:
            task.cancel()
        await asyncio.gather(keeper, return_exceptions=True)

        if lease_lost.is_set():
            log.warning("run_stopped_lease_lost")
            return
        if executing.cancelled():
            outcome = RunOutcome.failure(messages.RUN_CANCELLED)
        elif (error := executing.exception()) is not None:
            log.error("run_executor_failed", error=type(error).__name__, exc_info=error)
            outcome = RunOutcome.failure(_failure_summary(error))
        else:
            outcome = executing.result()
        if await self._finish(run, outcome, log) and self._notifier is not None:
            # The summary is owed in the outbox already (written with the run's final state); this only asks for
            # it to be delivered now rather than at the outbox's next poll.
            await _call_notifier(self._notifier.run_finished(run.id, ref), "run_finished", run.id)

    async def _keep_lease(self, run_id: int, executing: asyncio.Task[RunOutcome], lease_lost: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        renewed_at = loop.time()
        while True:
            finished, _ = await asyncio.wait({executing}, timeout=self.heartbeat_seconds)
            if finished:
                return
            try:
                async with transaction(self._sessions) as session:
                    still_ours = await RunRepo(session).heartbeat(
                        run_id, self.worker_id, self._lease_seconds, self._clock()
                    )
                renewed_at = loop.time()
            except Exception as exc:
                # A database hiccup: the lease has slack for two more tries. Once a whole lease has passed without
                # a renewal, another worker may own the run, so this one must stop.
                self._log.warning("heartbeat_failed", run_id=run_id, error=type(exc).__name__)
                still_ours = loop.time() - renewed_at < self._lease_seconds
            if not still_ours:
                lease_lost.set()
                executing.cancel()
                return

    async def _finish(self, run: RunRecord, outcome: RunOutcome, log: Any) -> bool:
        """Record the outcome and, in the same transaction, owe its summary (and any reconnect reminder due)."""
        for attempt in range(1, FINISH_ATTEMPTS + 1):
            try:
                async with transaction(self._sessions) as session:
                    finished = await RunRepo(session).finish(
                        run.id,
                        self.worker_id,
                        status=outcome.status,
                        totals=outcome.counts.totals(),
                        error_summary=outcome.error_summary,
                        watermark_after=outcome.watermark_after,
                        now=self._clock(),
                        review_id=outcome.review_id,
                    )
                    if finished:
                        # Before the summary is owed: it names the run that finishes what this one left.
                        await queue_follow_up(session, run, outcome, self._clock())
                        await owe_run_result(session, run.connection_id, run.id, self._clock())
                        connection = await ConnectionRepo(session).get(run.connection_id)
                        if connection is not None and connection.status == ConnectionStatus.ACTIVE:
                            await owe_reauth_reminder(session, connection, self._clock())
                    return finished
            except Exception as exc:
                log.warning("finish_failed", attempt=attempt, error=type(exc).__name__)
                await asyncio.sleep(min(self._poll_seconds, 1.0) * attempt)
        log.error("finish_gave_up")  # the lease will expire and another worker re-runs it (idempotently)
        return False

    async def _release(self, run_id: int, log: Any) -> None:
        try:
            async with transaction(self._sessions) as session:
                released = await RunRepo(session).release(run_id, self.worker_id, self._clock())
            log.info("run_released_on_shutdown", released=released)
        except Exception as exc:
            log.warning("release_failed", error=type(exc).__name__)  # the lease expiry releases it instead


def default_worker_id() -> str:
    """host:pid:random — unique per process, readable in the run history and the logs."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def run_jobs(
    sessions: async_sessionmaker[AsyncSession],
    execute: RunExecutor,
    notifier: RunNotifier | None,
    stop_event: asyncio.Event,
    *,
    worker_id: str | None = None,
    concurrency: int = 1,
    lease_seconds: float = 60,
    poll_seconds: float = 1.0,
    with_scheduler: bool = True,
    tick_seconds: float = DEFAULT_TICK_SECONDS,
    shutdown_grace_seconds: float = 30.0,
) -> None:
    """What `qbo-bot worker` (and the embedded worker of `qbo-bot serve`) runs until stop_event is set:
    the daily scheduler's tick plus a worker. Must be awaited inside the running event loop."""
    scheduler = DailyScheduler(sessions, tick_seconds=tick_seconds) if with_scheduler else None
    worker = Worker(
        sessions,
        execute,
        notifier,
        worker_id=worker_id or default_worker_id(),
        concurrency=concurrency,
        lease_seconds=lease_seconds,
        poll_seconds=poll_seconds,
        shutdown_grace_seconds=shutdown_grace_seconds,
    )
    if scheduler is not None:
        scheduler.start()
    try:
        await worker.run_forever(stop_event)
    finally:
        if scheduler is not None:
            scheduler.shutdown()
