"""Fixtures for the security suite: the whole product on loopback, one or two workspaces."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from devtools.stack import LocalStack
from tests.reliability.support import Driver
from tests.security.support import TwoWorkspaceStack, empty_postgres, small_options


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """None: the stack's own SQLite file; else the session's PostgreSQL database, emptied. Refusals that rest on
    row locks (a state used once, a realm taken meanwhile) only mean something on PostgreSQL."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(empty_postgres(url))
    return url


@pytest.fixture
def stack(backend: str | None) -> Iterator[LocalStack]:
    with LocalStack(small_options(database_url=backend)) as started:
        yield started


@pytest.fixture
async def driver(stack: LocalStack) -> AsyncIterator[Driver]:
    built = Driver(stack)
    yield built
    await built.aclose()


@pytest.fixture(scope="module")
def connected_stack() -> Iterator[LocalStack]:
    """One stack per module, connected and synced once, for tests that must leave it unchanged (refusals)."""
    with LocalStack(small_options()) as stack:

        async def connect() -> None:
            driver = Driver(stack)
            try:
                await driver.connect()
                await driver.wait_for_runs_to_settle()
            finally:
                await driver.aclose()

        asyncio.run(connect())
        yield stack


@pytest.fixture
async def connected(connected_stack: LocalStack) -> AsyncIterator[Driver]:
    """A driver on the module's connected stack (runs from earlier tests of the module are settled)."""
    built = Driver(connected_stack)
    built.connection_id = await built.current_connection_id()
    await built.wait_for_runs_to_settle()
    yield built
    await built.aclose()


@pytest.fixture
def two_workspaces(backend: str | None) -> Iterator[TwoWorkspaceStack]:
    with TwoWorkspaceStack(small_options(database_url=backend)) as started:
        yield started


@pytest.fixture
async def driver_a(two_workspaces: TwoWorkspaceStack) -> AsyncIterator[Driver]:
    """Workspace A (T0001) of the two-workspace stack, connected and synced once."""
    built = Driver(two_workspaces)
    await built.connect()
    await built.wait_for_runs_to_settle()
    yield built
    await built.aclose()
