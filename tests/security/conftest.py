"""Fixtures for the security suite: the whole product on loopback, one or two workspaces."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bot.devtools.stack import LocalStack
from tests.reliability.support import Driver
from tests.security.support import TwoWorkspaceStack, small_options


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    with LocalStack(small_options()) as started:
        yield started


@pytest.fixture
async def driver(stack: LocalStack) -> AsyncIterator[Driver]:
    built = Driver(stack)
    yield built
    await built.aclose()


@pytest.fixture
def two_workspaces() -> Iterator[TwoWorkspaceStack]:
    with TwoWorkspaceStack(small_options()) as started:
        yield started


@pytest.fixture
async def driver_a(two_workspaces: TwoWorkspaceStack) -> AsyncIterator[Driver]:
    """Workspace A (T0001) of the two-workspace stack, connected and synced once."""
    built = Driver(two_workspaces)
    await built.connect()
    await built.wait_for_runs_to_settle()
    yield built
    await built.aclose()
