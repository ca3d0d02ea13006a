"""The bot's side of an engine benchmark: a fresh SQLite database, the real clients, Service and SyncEngine.

Mirrors tests/sync/conftest.py: connect QBO through the emulator's OAuth, store the Ontop login, map every concept.
"""

from __future__ import annotations

import inspect
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from emulators.ontop.app import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD
from emulators.ontop.generator import DEFAULT_START
from emulators.qbo.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from storage import migrate
from storage.crypto import SecretBox, generate_key
from storage.db import create_engine, session_factory, transaction
from storage.models import RunTrigger
from storage.records import RunRecord
from storage.repos.runs import RunRepo
from sync import jobs
from sync.api import CREATE_WALLET, BooksChoice, ReviewSettings, TeamRef
from sync.connections import ClientFactory, QboSettings
from sync.qbo.client import QboClient
from sync.qbo.limiter import RateLimits
from sync.run import SyncEngine
from sync.service import Service
from sync.worker import EngineExecutor, Worker

TEAM = TeamRef("T0BENCH")
BACKFILL_FROM = DEFAULT_START.date()  # the generated companies' first day
ADMIN = "U0BENCH"


@dataclass(frozen=True)
class WorldOptions:
    qbo_url: str
    ontop_url: str
    time_scale: float = 1.0  # the client limiter's windows, matching the emulator's
    limiter: bool = True  # False: the client limiter is opened wide (engine overhead runs, emulator limits off)


def _rate_limits(options: WorldOptions) -> RateLimits:
    if options.limiter:
        # The limiter scales its safety margin with the windows itself (never below its 5 ms floor); scaling it here
        # too would shrink it twice, to the floor, and let a run be throttled.
        default = RateLimits()
        return RateLimits(time_scale=options.time_scale, margin_seconds=default.margin_seconds)
    return RateLimits(per_minute=10**9, per_second=10**9, max_in_flight=64, batch_per_minute=10**9, margin_seconds=0)


class EngineWorld:
    """`async with EngineWorld(options) as world:` then `await world.connect()` and `await world.sync()`."""

    def __init__(self, options: WorldOptions) -> None:
        self.options = options
        self._workdir = tempfile.TemporaryDirectory(prefix="qbo-bot-bench-")
        self.database_url = f"sqlite+aiosqlite:///{Path(self._workdir.name) / 'bench.sqlite3'}"
        self.engine: AsyncEngine = create_engine(self.database_url)
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(self.engine)
        self.clients = ClientFactory(
            self.sessions,
            SecretBox(generate_key()),
            QboSettings(
                client_id=DEFAULT_CLIENT_ID,
                client_secret=DEFAULT_CLIENT_SECRET,
                redirect_uri="http://127.0.0.1:9/qbo/callback",
                api_base_url=options.qbo_url,
                oauth_base_url=options.qbo_url,
                rate_limits=_rate_limits(options),
                throttle_wait_seconds=60 * options.time_scale,
            ),
            ontop_base_url=options.ontop_url,
        )
        self.service = Service(self.sessions, self.clients)
        # One run does everything inline (no bills-first follow-up), so a figure measures the engine as one run.
        self.sync_engine = SyncEngine(self.sessions, self.clients, bills_first_over=None)
        self.worker = Worker(self.sessions, EngineExecutor(self.sync_engine), None, worker_id="bench-worker")
        self.connection_id: int | None = None
        self.realm_id: str | None = None

    async def __aenter__(self) -> EngineWorld:
        await migrate.upgrade(self.engine)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.clients.aclose()
        await self.engine.dispose()
        self._workdir.cleanup()

    async def connect_qbo(self) -> int:
        """Consent in the emulator, then complete the connection as the web app's callback would."""
        consent = await self.service.start_qbo_connect(TEAM, ADMIN)
        async with httpx.AsyncClient() as http:
            answer = await http.get(consent, follow_redirects=False)
        query = parse_qs(urlparse(answer.headers["location"]).query)
        connected = await self.service.complete_qbo_connect(query["state"][0], query["code"][0], query["realmId"][0])
        self.connection_id = connected.connection_id
        self.realm_id = query["realmId"][0]
        return connected.connection_id

    async def connect(self, *, map_concepts: bool = True) -> int:
        """QBO and Ontop connected and (unless told otherwise) every concept mapped to the contractors account."""
        connection_id = await self.connect_qbo()
        save_ontop: Any = self.service.save_ontop_credentials
        if "backfill_from" in inspect.signature(save_ontop).parameters:
            # The first sync reads from this day (the product's default is the current month's start, which is
            # after every generated invoice): from the generated company's first day, so all of it is synced.
            await save_ontop(TEAM, ADMIN, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, backfill_from=BACKFILL_FROM)
        else:
            await save_ontop(TEAM, ADMIN, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
        await self.service.save_books(TEAM, ADMIN, BooksChoice(pay_from=CREATE_WALLET))
        await self._no_review_gate()
        if not map_concepts:
            return connection_id
        accounts = await self.service.account_options(TEAM)
        contractors = next(option for option in accounts if "Contractors" in option.name)
        rows = await self.service.mapping_rows(TEAM)
        await self.service.save_mappings(TEAM, ADMIN, {row.concept: contractors.account_id for row in rows})
        return connection_id

    async def _no_review_gate(self) -> None:
        """Runs post at once: a benchmark measures the engine, not a person approving the first sync."""
        update: Any = self.service.update_settings
        if "review" not in inspect.signature(update).parameters:
            return  # a product without the approval gate
        current = await self.service.workspace_settings(TEAM)
        await update(
            TEAM,
            ADMIN,
            finance_channel_id=current.finance_channel_id,
            sync_hour=current.sync_hour,
            timezone=current.timezone,
            admin_user_ids=current.admin_user_ids,
            auto_create_vendors=current.auto_create_vendors,
            review=ReviewSettings(first_sync=False, later_runs=False),
        )

    def qbo_client(self) -> QboClient:
        """A client of the connected realm, with the stored tokens and the shared limiter."""
        if self.connection_id is None or self.realm_id is None:
            raise RuntimeError("connect first")
        return self.clients.qbo_client(self.connection_id, self.realm_id)

    async def sync(self) -> RunRecord:
        """One run over everything Ontop has changed since the watermark, queued and run as a worker runs it."""
        if self.connection_id is None:
            raise RuntimeError("connect first")
        async with transaction(self.sessions) as session:
            await jobs.enqueue_run(session, self.connection_id, RunTrigger.MANUAL, ADMIN)
        run = await self._run_queued()
        if run.review_id is not None and not run.bills_created:
            # The gate asked anyway (a product whose settings do not switch it off): approve, as an admin would, and
            # run the posting the approval queued.
            await self.service.approve_review(TEAM, ADMIN, run.review_id)
            run = await self._run_queued()
        return run

    async def _run_queued(self) -> RunRecord:
        run_id = await self.worker.run_once()
        if run_id is None:
            raise RuntimeError("the queued run was not due")
        async with self.sessions() as session:
            run = await RunRepo(session).get(run_id)
        assert run is not None
        return run
