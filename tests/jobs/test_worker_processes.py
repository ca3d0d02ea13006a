"""Several worker PROCESSES on one PostgreSQL queue: every run executes once; a killed worker's run is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import create_engine, session_factory, transaction
from storage.models import Base, RunTrigger, SyncRun
from sync import jobs
from tests.jobs.support import eventually, make_connection

pytestmark = pytest.mark.postgresql

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNS = 20
PROCESS_WAIT_LIMIT = 30.0
StartWorker = Callable[[Path, list[int]], "subprocess.Popen[bytes]"]


@pytest.fixture
async def pg_sessions(postgres_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The session PostgreSQL database, emptied (the `postgres_url` fixture skips, or fails on CI, without it)."""
    engine = create_engine(postgres_url)
    names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def start_worker(postgres_url: str, tmp_path: Path) -> Iterator[StartWorker]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(record_file: Path, hang: list[int]) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "tests.jobs.worker_process", postgres_url, str(record_file)]
        for connection_id in hang:
            command += ["--hang", str(connection_id)]
        log = (tmp_path / f"worker-{len(processes)}.log").open("wb")
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=PROCESS_WAIT_LIMIT)


def read_records(record_file: Path) -> list[tuple[str, int, int, int]]:
    if not record_file.exists():
        return []
    records = []
    for line in record_file.read_text().splitlines():
        event, run_id, pid, attempt = line.split()
        records.append((event, int(run_id), int(pid), int(attempt)))
    return records


async def test_worker_processes_run_each_run_once_and_take_over_from_killed_or_stopped_workers(
    pg_sessions: async_sessionmaker[AsyncSession], start_worker: StartWorker, tmp_path: Path
) -> None:
    record_file = tmp_path / "executions.log"
    connection_ids = [await make_connection(pg_sessions, team_id=f"T{index}") for index in range(RUNS)]
    killed_connection, stopped_connection = connection_ids[0], connection_ids[1]
    run_ids: dict[int, int] = {}
    for connection_id in connection_ids:
        async with transaction(pg_sessions) as session:
            run, _ = await jobs.enqueue_run(session, connection_id, RunTrigger.MANUAL, "U1")
            run_ids[connection_id] = run.id
    killed_run, stopped_run = run_ids[killed_connection], run_ids[stopped_connection]

    workers = [start_worker(record_file, [killed_connection, stopped_connection]) for _ in range(3)]

    async def both_hanging_runs_started() -> bool:
        started = {run_id for event, run_id, _, _ in read_records(record_file) if event == "start"}
        return {killed_run, stopped_run} <= started

    await eventually(both_hanging_runs_started, PROCESS_WAIT_LIMIT)
    first_starts = {run_id: pid for event, run_id, pid, _ in read_records(record_file) if event == "start"}
    killed_pid, stopped_pid = first_starts[killed_run], first_starts[stopped_run]
    os.kill(killed_pid, signal.SIGKILL)  # dies holding its lease: another worker takes over once it expires
    os.kill(stopped_pid, signal.SIGTERM)  # graceful: releases its run back to the queue
    assert next(w for w in workers if w.pid == stopped_pid).wait(timeout=PROCESS_WAIT_LIMIT) == 0

    async def all_runs_finished() -> bool:
        async with transaction(pg_sessions) as session:
            statuses = (await session.scalars(select(SyncRun.status))).all()
        return len(statuses) == RUNS and set(statuses) == {"succeeded"}

    await eventually(all_runs_finished, PROCESS_WAIT_LIMIT)
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=PROCESS_WAIT_LIMIT) == 0

    records = read_records(record_file)
    done = Counter(run_id for event, run_id, _, _ in records if event == "done")
    assert done == Counter(run_ids.values())  # every run completed exactly once
    for run_id, dead_pid in ((killed_run, killed_pid), (stopped_run, stopped_pid)):
        starts = [(pid, attempt) for event, rid, pid, attempt in records if event == "start" and rid == run_id]
        finisher = [pid for event, rid, pid, _ in records if event == "done" and rid == run_id]
        assert starts[0] == (dead_pid, 1) and starts[1][1] == 2 and len(starts) == 2
        assert finisher != [dead_pid]
    async with transaction(pg_sessions) as session:
        attempts = {run_id: attempt for run_id, attempt in await session.execute(select(SyncRun.id, SyncRun.attempt))}
    assert attempts[killed_run] == attempts[stopped_run] == 2
    assert {attempts[run_id] for run_id in run_ids.values() if run_id not in (killed_run, stopped_run)} == {1}
