"""A worker process for the multi-process tests: `python -m tests.jobs.worker_process DB_URL RECORD_FILE ...`.

Its fake executor appends one line per execution start and end to RECORD_FILE (O_APPEND writes of one short line
are atomic, so several processes can share the file). A run of a connection listed in --hang blocks on its first
attempt, so the test can kill or stop the worker in the middle of it. SIGTERM stops the worker gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import create_engine, session_factory, transaction
from storage.models import RunStatus, SyncRun
from storage.records import RunRecord
from sync.worker import ProgressReporter, RunCounts, RunOutcome, Worker


class RecordingExecutor:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], record_file: str, hang: set[int]) -> None:
        self._sessions = sessions
        self._record_file = record_file
        self._hang = hang

    def _record(self, *fields: object) -> None:
        line = " ".join(str(value) for value in fields) + "\n"
        descriptor = os.open(self._record_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line.encode())
        finally:
            os.close(descriptor)

    async def __call__(self, run: RunRecord, progress: ProgressReporter) -> RunOutcome:
        run_id = run.id
        async with transaction(self._sessions) as session:
            run = await session.get(SyncRun, run_id)
            assert run is not None
            connection_id, attempt = run.connection_id, run.attempt
        self._record("start", run_id, os.getpid(), attempt)
        if connection_id in self._hang and attempt == 1:
            await asyncio.Event().wait()  # until the test kills or stops this process
        await asyncio.sleep(0.02)  # a little work, so runs overlap across processes
        await progress(1, 1)
        self._record("done", run_id, os.getpid(), attempt)
        return RunOutcome(RunStatus.SUCCEEDED, RunCounts(invoices_seen=1, bills_created=1))


async def main(arguments: argparse.Namespace) -> None:
    engine = create_engine(arguments.database_url)
    sessions = session_factory(engine)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    worker = Worker(
        sessions,
        RecordingExecutor(sessions, arguments.record_file, set(arguments.hang)),
        None,
        worker_id=f"proc-{os.getpid()}",
        lease_seconds=arguments.lease_seconds,
        poll_seconds=0.05,
        shutdown_grace_seconds=arguments.grace_seconds,
    )
    try:
        await worker.run_forever(stop)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("record_file")
    parser.add_argument("--lease-seconds", type=float, default=1.0)
    parser.add_argument("--grace-seconds", type=float, default=0.2)
    parser.add_argument("--hang", type=int, action="append", default=[])
    asyncio.run(main(parser.parse_args()))
