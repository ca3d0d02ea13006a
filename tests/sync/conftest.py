"""A whole world for engine tests: QBO and Ontop emulators on loopback, a database, the real clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devtools.server import BackgroundServer
from emulators.ontop.app import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, OntopEmulatorState, create_ontop_emulator
from emulators.ontop.generator import CompanyGenerator
from emulators.qbo.app import create_qbo_emulator
from emulators.qbo.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, QboEmulatorState
from storage.crypto import SecretBox
from storage.db import transaction
from storage.models import RunTrigger, utcnow
from storage.records import RunRecord
from storage.repos.runs import RunRepo
from sync import jobs
from sync.api import CREATE_WALLET, BooksChoice, ReviewSettings, TeamRef
from sync.connections import ClientFactory, QboSettings
from sync.jobs import RunOutcome
from sync.qbo.limiter import RateLimits
from sync.run import Progress, SyncEngine
from sync.service import Service

TEAM = TeamRef("T0001")
ADMIN = "U0ADMIN"
TIME_SCALE = 0.01  # QBO's minute becomes 0.6 s on both sides: rate limits stay real, tests stay fast
WORKER = "test-worker"
# The product asks an admin to approve a connection's first sync; most engine tests are about other promises.
NO_REVIEW = ReviewSettings(first_sync=False)


@dataclass
class Emulators:
    qbo: QboEmulatorState
    ontop: OntopEmulatorState
    qbo_url: str
    ontop_url: str


@pytest.fixture
def company() -> CompanyGenerator:
    return CompanyGenerator(workers=12, invoices=60, months=3, seed=11)


@pytest.fixture
def emulators(company: CompanyGenerator, request: pytest.FixtureRequest) -> Iterator[Emulators]:
    """QBO (seeded with `seed_company(**request.param)` when parametrized indirectly) and Ontop on loopback."""
    qbo_state = QboEmulatorState(seed=3)
    qbo_state.switches.time_scale = TIME_SCALE
    qbo_state.register_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    qbo_state.seed_company(**getattr(request, "param", {}))
    ontop_state = OntopEmulatorState(generator=company)
    with (
        BackgroundServer(create_qbo_emulator(qbo_state)) as qbo,
        BackgroundServer(create_ontop_emulator(ontop_state)) as ontop,
    ):
        yield Emulators(qbo_state, ontop_state, qbo.url, ontop.url)


@dataclass
class World:
    emulators: Emulators
    sessions: async_sessionmaker[AsyncSession]
    clients: ClientFactory
    service: Service
    engine: SyncEngine
    claims_at: datetime = field(default_factory=utcnow)

    async def connect_qbo(self) -> int:
        consent = await self.service.start_qbo_connect(TEAM, ADMIN)
        async with httpx.AsyncClient() as http:
            answer = await http.get(consent, follow_redirects=False)
        query = parse_qs(urlparse(answer.headers["location"]).query)
        connected = await self.service.complete_qbo_connect(query["state"][0], query["code"][0], query["realmId"][0])
        return connected.connection_id

    async def connect(
        self,
        *,
        map_all: bool = True,
        backfill_from: date | None = None,
        pay_from: str | None = CREATE_WALLET,
        review: ReviewSettings = NO_REVIEW,
    ) -> int:
        """QBO and Ontop connected, syncing from the generated history's first day (or `backfill_from`), bills paid
        from a new "Ontop wallet" (`pay_from=None`: the books part of the mapping modal never answered), with the
        approval gate `review` (default: off, so runs post; `ReviewSettings()` is the product's default)."""
        connection_id = await self.connect_qbo()
        start = backfill_from or self.emulators.ontop.generator.start.date()
        await self.service.save_ontop_credentials(TEAM, ADMIN, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, start)
        await self.set_review(review)
        if pay_from is not None:
            await self.service.save_books(TEAM, ADMIN, BooksChoice(pay_from=pay_from))
        if map_all:
            await self.map_everything()
        return connection_id

    async def set_review(self, review: ReviewSettings) -> None:
        """The connection's approval gate, as an admin saves it in `/qbo settings`."""
        current = await self.service.workspace_settings(TEAM)
        await self.service.update_settings(
            TEAM,
            ADMIN,
            finance_channel_id=current.finance_channel_id,
            sync_hour=current.sync_hour,
            timezone=current.timezone,
            admin_user_ids=current.admin_user_ids,
            auto_create_vendors=current.auto_create_vendors,
            review=review,
        )

    async def sync(
        self,
        connection_id: int,
        *,
        retry: bool = False,
        engine: SyncEngine | None = None,
        progress: Progress | None = None,
    ) -> RunOutcome:
        """One run as a worker does it: queue (or join) a run, claim it, run the engine, record the outcome.

        Each claim happens an hour after the last one, so a debounced run is due and the lease of a run whose
        engine crashed has expired (the run is taken over, as another worker would).
        """
        trigger = RunTrigger.RETRY if retry else RunTrigger.MANUAL
        self.claims_at = max(self.claims_at, utcnow()) + timedelta(hours=1)
        async with transaction(self.sessions) as session:
            await jobs.enqueue_run(session, connection_id, trigger, ADMIN)
            run = await RunRepo(session).claim_next(WORKER, 60, self.claims_at, max_attempts=100)
        assert run is not None, "nothing to run"
        return await self._execute(run, engine or self.engine, progress)

    async def run_queued(self, *, engine: SyncEngine | None = None) -> tuple[RunRecord, RunOutcome]:
        """The run already queued (by an approval, a fix, a mapping), claimed and run as a worker does it."""
        self.claims_at = max(self.claims_at, utcnow()) + timedelta(hours=1)
        async with transaction(self.sessions) as session:
            run = await RunRepo(session).claim_next(WORKER, 60, self.claims_at, max_attempts=100)
        assert run is not None, "nothing is queued"
        return run, await self._execute(run, engine or self.engine, None)

    async def _execute(self, run: RunRecord, engine: SyncEngine, progress: Progress | None) -> RunOutcome:
        outcome = await engine.run(run, progress, only_failed=run.trigger == RunTrigger.RETRY)
        async with transaction(self.sessions) as session:
            await RunRepo(session).finish(
                run.id,
                WORKER,
                status=outcome.status,
                totals=outcome.counts.totals(),
                error_summary=outcome.error_summary,
                watermark_after=outcome.watermark_after,
                review_id=outcome.review_id,
            )
            await jobs.queue_follow_up(session, run, outcome)  # as the worker does (a bills-first run's follow-up)
        return outcome

    async def map_everything(self, except_concepts: tuple[str, ...] = ()) -> None:
        accounts = await self.service.account_options(TEAM)
        contractors = next(option for option in accounts if "Contractors" in option.name)
        rows = await self.service.mapping_rows(TEAM)
        await self.service.save_mappings(
            TEAM, ADMIN, {row.concept: contractors.account_id for row in rows if row.concept not in except_concepts}
        )


def build_world(emulators: Emulators, sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> World:
    clients = ClientFactory(
        sessions,
        box,
        QboSettings(
            client_id=DEFAULT_CLIENT_ID,
            client_secret=DEFAULT_CLIENT_SECRET,
            redirect_uri="http://127.0.0.1:9/qbo/callback",
            api_base_url=emulators.qbo_url,
            oauth_base_url=emulators.qbo_url,
            rate_limits=RateLimits(time_scale=TIME_SCALE),
            throttle_wait_seconds=60 * TIME_SCALE,
        ),
        ontop_base_url=emulators.ontop_url,
    )
    return World(emulators, sessions, clients, Service(sessions, clients), SyncEngine(sessions, clients))


@pytest.fixture
async def world(
    emulators: Emulators, sqlite_sessions: async_sessionmaker[AsyncSession], secret_box: SecretBox
) -> AsyncIterator[World]:
    built = build_world(emulators, sqlite_sessions, secret_box)
    yield built
    await built.clients.aclose()
