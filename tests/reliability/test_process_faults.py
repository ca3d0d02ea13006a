"""Worker processes die (SIGKILL) at random points, lose their database connection, or race for the same run:
every eligible invoice still ends as exactly one bill, the ledger agrees with QuickBooks, the channel is told."""

from __future__ import annotations

import asyncio
import os
import random
import signal

import pytest
from sqlalchemy import text

from devtools.stack import LocalStack
from storage.db import create_engine
from tests.reliability.conftest import PROCESS_WAIT_SECONDS, StartWorker
from tests.reliability.support import Driver, assert_nothing_lost_nor_doubled, wait_until


def slow_batches(stack: LocalStack) -> None:
    """Each bill batch takes a moment, so a kill lands mid-run (sometimes with a batch in flight)."""
    assert stack.qbo_state is not None
    stack.qbo_state.inject("*/batch", "timeout", None, delay_seconds=0.25)


async def wait_for_a_running_run(driver: Driver) -> None:
    async def running() -> bool:
        return any(run.status == "running" for run in await driver.runs())

    await wait_until(running, timeout_seconds=PROCESS_WAIT_SECONDS, what="a worker to start the run")


@pytest.mark.parametrize("seed", [7])
async def test_a_worker_killed_at_random_points_mid_sync_loses_and_doubles_nothing(
    headless_driver: Driver, start_worker: StartWorker, seed: int
) -> None:
    driver = headless_driver
    chooser = random.Random(seed)
    slow_batches(driver.stack)
    await driver.connect()  # queues the first sync; no worker yet

    for _ in range(2):  # two workers in a row die at a random moment of the run
        victim = start_worker()
        await wait_for_a_running_run(driver)
        await asyncio.sleep(chooser.uniform(0.05, 0.8))  # the random point of death
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=PROCESS_WAIT_SECONDS) == -signal.SIGKILL
    assert driver.stack.qbo_state is not None
    driver.stack.qbo_state.clear_faults()
    start_worker()  # the survivor takes the run over once the dead worker's lease expires

    outcome = await assert_nothing_lost_nor_doubled(driver, taken_over=True)
    assert outcome.lost == 0 and outcome.duplicates == 0
    [first, *_] = outcome.runs
    assert first.attempt >= 2, "the first run was taken over after the kill"


async def test_a_worker_killed_between_finishing_a_run_and_posting_its_summary_still_tells_the_channel_once(
    headless_driver: Driver, start_worker: StartWorker
) -> None:
    driver = headless_driver
    await driver.connect()
    victim = start_worker("--die-after-finish")  # commits the run's outcome, then dies before any Slack call

    assert victim.wait(timeout=PROCESS_WAIT_SECONDS) == -signal.SIGKILL
    [run] = await driver.runs()
    assert run.status in ("succeeded", "partial")  # committed; the summary is only owed (the victim posted nothing)
    start_worker()  # any process's outbox delivers what is owed

    await driver.check_user_was_told([run])


async def test_two_workers_racing_for_the_same_run_create_each_bill_once(
    headless_driver: Driver, start_worker: StartWorker
) -> None:
    driver = headless_driver
    slow_batches(driver.stack)
    await driver.connect()

    workers = [start_worker(), start_worker(), start_worker()]
    await wait_for_a_running_run(driver)
    assert driver.stack.qbo_state is not None
    driver.stack.qbo_state.clear_faults()

    outcome = await assert_nothing_lost_nor_doubled(driver)
    assert outcome.lost == 0 and outcome.duplicates == 0
    assert [run.attempt for run in outcome.runs][:1] == [1], "one worker claimed the run, once"
    assert all(worker.poll() is None for worker in workers), "no worker crashed"


async def terminate_other_backends(url: str) -> int:
    """pg_terminate_backend on every other connection to this database (the workers' and the web app's)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            return int(result.scalar_one())
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_database_connections_dropped_mid_run_lose_and_double_nothing(
    headless_driver: Driver, start_worker: StartWorker, backend: str
) -> None:
    driver = headless_driver
    slow_batches(driver.stack)
    await driver.connect()
    start_worker()
    await wait_for_a_running_run(driver)

    terminated = 0
    for _ in range(3):  # the connections die three times during the run
        await asyncio.sleep(0.3)
        terminated += await terminate_other_backends(backend)
    assert terminated >= 1, "some connections were dropped"
    assert driver.stack.qbo_state is not None
    driver.stack.qbo_state.clear_faults()

    outcome = await assert_nothing_lost_nor_doubled(driver, taken_over=True)
    assert outcome.lost == 0 and outcome.duplicates == 0
    for run in outcome.runs:  # a run the outage failed tells the channel in plain words, without SQL or driver names
        summary = run.error_summary or ""
        for internal in ("SQL", "DBAPIError", "sqlalchemy", "asyncpg"):
            assert internal not in summary, f"run {run.id} shows internals to the channel: {summary[:300]!r}"
