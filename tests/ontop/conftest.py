"""Fixtures: a small generated company, the Ontop emulator on loopback, and a client with instant back-off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from devtools.server import BackgroundServer
from emulators.ontop.app import (
    DEFAULT_ADMIN_EMAIL,
    DEFAULT_ADMIN_PASSWORD,
    OntopEmulatorState,
    create_ontop_emulator,
)
from emulators.ontop.generator import CompanyGenerator
from sync.ontop.client import OntopClient, OntopCredentials
from sync.retry import Backoff

FAST_BACKOFF = Backoff(attempts=4, base_seconds=0.001, max_seconds=0.005)
PAGE_SIZE = 25


class SleepRecorder:
    """Stands in for asyncio.sleep: records each pause and yields control without waiting."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def company() -> CompanyGenerator:
    return CompanyGenerator(workers=12, invoices=240, months=3, seed=11)


@pytest.fixture
def state(company: CompanyGenerator) -> OntopEmulatorState:
    return OntopEmulatorState(generator=company)


@pytest.fixture
def server(state: OntopEmulatorState) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_ontop_emulator(state)) as running:
        yield running


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def credentials() -> OntopCredentials:
    return OntopCredentials(DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)


@pytest.fixture
async def client(
    server: BackgroundServer, credentials: OntopCredentials, sleeps: SleepRecorder
) -> AsyncIterator[OntopClient]:
    async with OntopClient(server.url, credentials, backoff=FAST_BACKOFF, page_size=PAGE_SIZE, sleep=sleeps) as ontop:
        yield ontop
