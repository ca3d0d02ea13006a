"""Fixtures for the reliability suite: the whole product on loopback, and the --soak option."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from devtools.stack import LocalStack, StackOptions
from storage.db import create_engine
from storage.models import Base
from tests.reliability.support import Driver

REPO_ROOT = Path(__file__).resolve().parents[2]
PROCESS_WAIT_SECONDS = 30.0
StartWorker = Callable[..., "subprocess.Popen[bytes]"]

TIME_SCALE = 0.01  # QBO's rate windows shrink a hundredfold on both sides: limits stay real, tests stay fast


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", default=False, help="run the long reliability soak")
    parser.addoption("--soak-rounds", type=int, default=30, help="sync rounds in the soak (with --soak)")
    parser.addoption(
        "--soak-seed", type=int, default=None, help="the soak's schedule of faults and kills (default: random, printed)"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stack(**options): StackOptions overrides for the `stack` fixture")


CI_SOAK_ROUNDS = 10  # CI's short soak: a new schedule per commit, within the suite's time budget


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak") or on_ci():
        return
    skip = pytest.mark.skip(reason="soak: opt in with --soak (CI runs a short one)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


def commit_seed() -> int | None:
    """A seed derived from the commit under test: each commit explores a new schedule, reproducibly."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return int(head[:8], 16) if head else None


@pytest.fixture
def soak_plan(request: pytest.FixtureRequest) -> tuple[int, int]:
    """(rounds, seed): --soak-rounds/--soak-seed; on CI without --soak, a short soak seeded by the commit;
    otherwise a random seed. The seed is always printed, so a failure reproduces with --soak-seed."""
    config = request.config
    seed: int | None = config.getoption("--soak-seed")
    rounds: int = config.getoption("--soak-rounds")
    if not config.getoption("--soak") and on_ci():
        rounds, seed = CI_SOAK_ROUNDS, seed if seed is not None else commit_seed()
    if seed is None:
        seed = random.SystemRandom().randrange(1, 2**31)
    print(f"\nSOAK SEED {seed} ({rounds} rounds): reproduce with --soak --soak-seed {seed} --soak-rounds {rounds}")
    return rounds, seed


def stack_options(**overrides: object) -> StackOptions:
    values: dict[str, object] = {
        "workers": 8,
        "invoices": 30,
        "months": 2,
        "time_scale": TIME_SCALE,
        "worker_poll_seconds": 0.05,
    }
    values.update(overrides)
    return StackOptions(**values)  # type: ignore[arg-type]


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    marker = request.node.get_closest_marker("stack")
    with LocalStack(stack_options(**(marker.kwargs if marker else {}))) as started:
        yield started


@pytest.fixture
async def driver(stack: LocalStack) -> AsyncIterator[Driver]:
    built = Driver(stack)
    yield built
    await built.aclose()


async def empty_postgres(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """None: the stack's own SQLite file; else the session's PostgreSQL database, emptied."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(empty_postgres(url))
    return url


@pytest.fixture
def headless_stack(backend: str | None) -> Iterator[LocalStack]:
    """Emulators, fake Slack and the web app, but no embedded worker: worker processes do the syncing."""
    options = stack_options(invoices=90, workers=10, with_worker=False, database_url=backend)
    with LocalStack(options) as started:
        yield started


@pytest.fixture
async def headless_driver(headless_stack: LocalStack) -> Any:
    built = Driver(headless_stack)
    yield built
    await built.aclose()


def settings_file(stack: LocalStack, directory: Path) -> Path:
    assert stack.settings is not None
    values = {
        key: value.get_secret_value() if isinstance(value, SecretStr) else value
        for key, value in stack.settings.model_dump().items()
        if value is not None
    }
    path = directory / "worker-settings.json"
    path.write_text(json.dumps(values, default=str))
    return path


@pytest.fixture
def start_worker(headless_stack: LocalStack, tmp_path: Path) -> Iterator[StartWorker]:
    processes: list[subprocess.Popen[bytes]] = []
    config = settings_file(headless_stack, tmp_path)

    def start(*flags: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "tests.reliability.worker_process", str(config), *flags]
        log = (tmp_path / f"worker-{len(processes)}.log").open("wb")
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=PROCESS_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=PROCESS_WAIT_SECONDS)
