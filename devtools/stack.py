"""The whole product on loopback: QBO and Ontop emulators, a fake Slack, and the real web app with its worker.

The demo, the reliability and security suites and the benchmarks all start this; everything talks real HTTP.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from bot.config import Settings
from bot.processes import EmbeddedWorker, freeze_startup_heap
from bot.runtime import Runtime, build_runtime
from bot.server import build_web_app
from devtools.fake_slack import FakeSlack
from devtools.server import BackgroundServer, free_port
from devtools.signing import SlackClientSimulator
from emulators.ontop.app import (
    DEFAULT_ADMIN_EMAIL,
    DEFAULT_ADMIN_PASSWORD,
    OntopEmulatorState,
    add_company,
    create_ontop_emulator,
)
from emulators.ontop.generator import CompanyGenerator
from emulators.qbo.app import create_qbo_emulator
from emulators.qbo.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REALM, QboEmulatorState
from storage.crypto import generate_key
from sync.qbo.limiter import RateLimits

BOT_TOKEN = "xoxb-local-stack"  # the fake Slack's token for the demo workspace
FAKE_CLIENT_SECRET = "local-stack-client-secret"  # the fake Slack's app credential, not a real secret
SIGNING_SECRET = "local-stack-signing-secret"  # a fixed value of the local fake Slack, not a real secret
TEAM_ID = "T0001"
ADMIN_USER = "U0ANN"
MEMBER_USER = "U0BOB"
FINANCE_CHANNEL = "C0FIN"


@dataclass
class StackOptions:
    workers: int = 12
    invoices: int = 60
    months: int = 3
    seed: int = 11
    time_scale: float = 1.0  # < 1 shrinks QBO's rate windows on both sides (tests, quick benchmarks)
    multicurrency: bool = False
    database_url: str | None = None  # default: a SQLite file in a temporary directory
    with_worker: bool = True
    worker_poll_seconds: float = 0.2
    qbo_url: str | None = None  # an emulator started separately (then QBO_CLIENT_ID/SECRET must match it)
    ontop_url: str | None = None
    qbo_client_id: str = DEFAULT_CLIENT_ID
    qbo_client_secret: str = field(default=DEFAULT_CLIENT_SECRET, repr=False)
    ontop_email: str = DEFAULT_ADMIN_EMAIL
    ontop_password: str = field(default=DEFAULT_ADMIN_PASSWORD, repr=False)
    log_level: str = "warning"
    webhook_delay_seconds: int = 1  # Ontop payment webhook → sync, quickly for the demo
    install_via_oauth: bool = False  # many-workspace mode: the workspace installs the app through /slack/install


class LocalStack:
    """Start with `with LocalStack(options) as stack:`; `stack.slack(user)` gives a signed-request simulator."""

    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self._workdir = tempfile.TemporaryDirectory(prefix="qbo-bot-stack-")
        self.qbo_state: QboEmulatorState | None = None
        self.ontop_state: OntopEmulatorState | None = None
        self._ontop_app: Any = None
        self._servers: list[BackgroundServer] = []
        self.fake_slack = FakeSlack(bot_token=BOT_TOKEN, client_secret=FAKE_CLIENT_SECRET)
        self.app_port = free_port()
        self.app_url = f"http://127.0.0.1:{self.app_port}"
        self.qbo_url = self.options.qbo_url or ""
        self.ontop_url = self.options.ontop_url or ""
        self.settings: Settings | None = None
        self.runtime: Runtime | None = None

    @property
    def workdir(self) -> Path:
        return Path(self._workdir.name)

    def start(self) -> LocalStack:
        options = self.options
        if not options.qbo_url:
            self.qbo_state = QboEmulatorState(seed=options.seed)
            self.qbo_state.switches.time_scale = options.time_scale
            self.qbo_state.register_client(
                options.qbo_client_id, options.qbo_client_secret, [f"{self.app_url}/qbo/callback"]
            )
            self.qbo_state.seed_company(DEFAULT_REALM, multicurrency_enabled=options.multicurrency)
            self.qbo_url = self._serve(create_qbo_emulator(self.qbo_state))
        if not options.ontop_url:
            generator = CompanyGenerator(
                workers=options.workers, invoices=options.invoices, months=options.months, seed=options.seed
            )
            self.ontop_state = OntopEmulatorState(generator=generator)
            self._ontop_app = create_ontop_emulator(self.ontop_state)
            self.ontop_url = self._serve(self._ontop_app)
        self.fake_slack.start()
        self.settings = Settings(
            _env_file=None,
            database_url=options.database_url or f"sqlite+aiosqlite:///{self.workdir / 'qbo-bot.sqlite3'}",
            public_base_url=self.app_url,
            encryption_keys=generate_key(),
            slack_signing_secret=SIGNING_SECRET,
            slack_bot_token=None if options.install_via_oauth else BOT_TOKEN,
            slack_client_id=self.fake_slack.client_id if options.install_via_oauth else None,
            slack_client_secret=FAKE_CLIENT_SECRET if options.install_via_oauth else None,
            slack_api_base_url=self.fake_slack.api_url,
            qbo_client_id=options.qbo_client_id,
            qbo_client_secret=options.qbo_client_secret,
            qbo_api_base_url=self.qbo_url,
            qbo_oauth_base_url=self.qbo_url,
            ontop_api_base_url=self.ontop_url,
            log_level=options.log_level,
            ontop_webhook_delay_seconds=options.webhook_delay_seconds,
        )
        self.runtime = build_runtime(
            self.settings,
            rate_limits=RateLimits(time_scale=options.time_scale),
            throttle_wait_seconds=60 * options.time_scale,
        )
        embedded = EmbeddedWorker(
            self.runtime, options.with_worker, poll_seconds=options.worker_poll_seconds, close_runtime=True
        )
        web = build_web_app(
            self.settings,
            self.runtime.service,
            self.runtime.engine,
            self.runtime.box,
            on_startup=[embedded.start, freeze_startup_heap],  # as `qbo-bot serve` does
            on_shutdown=[embedded.stop],
        )
        server = BackgroundServer(web, port=self.app_port)
        server.start(timeout_seconds=30)
        self._servers.append(server)
        return self

    def add_preexisting_vendor(self, display_name: str, email: str | None, currency: str) -> dict[str, Any]:
        """A supplier the QuickBooks company had before the bot (in any currency: multicurrency companies), counted
        as pre-existing like the seeded ones, so the audit log shows whether the bot ever changes it."""
        state = self.qbo_state
        if state is None:
            raise RuntimeError("a QBO emulator started separately: add the supplier there")
        with state.lock:
            company = state.companies[DEFAULT_REALM]
            record = state.name_record(company, display_name, email, True)
            record["CurrencyRef"] = state.currency_ref(currency)
            vendor = state.add_entity(company, "Vendor", record)
            company.preexisting.add(("Vendor", vendor["Id"]))
            return dict(vendor)

    def add_qbo_company(self, realm_id: str, company_name: str) -> None:
        """Another company in the QuickBooks emulator, one the same Intuit user may consent to (single-currency)."""
        if self.qbo_state is None:
            raise RuntimeError("a QBO emulator started separately: seed the company there")
        self.qbo_state.seed_company(realm_id, company_name=company_name)

    def add_ontop_company(self, state: OntopEmulatorState) -> OntopEmulatorState:
        """Another Ontop client company behind the same Ontop address, with its own admin login and client id."""
        if self._ontop_app is None:
            raise RuntimeError("an Ontop emulator started separately: add the company there")
        add_company(self._ontop_app, state)
        return state

    def _serve(self, app: object) -> str:
        server = BackgroundServer(app).start()
        self._servers.append(server)
        return server.url

    async def install_slack_app(self, user_id: str = ADMIN_USER) -> str:
        """Install into the fake workspace as a browser would: /slack/install, Slack's consent, the redirect back."""
        async with httpx.AsyncClient(base_url=self.app_url, timeout=30) as browser:
            page = await browser.get("/slack/install")
            cookie = SimpleCookie()
            cookie.load(page.headers.get("set-cookie", ""))
            if "slack-app-oauth-state" not in cookie:
                raise RuntimeError(f"/slack/install answered {page.status_code} without an OAuth state")
            state = cookie["slack-app-oauth-state"].value
            code = self.fake_slack.issue_oauth_code(team_id=TEAM_ID, user_id=user_id)
            done = await browser.get(
                "/slack/oauth_redirect",
                params={"code": code, "state": state},
                headers={"Cookie": f"slack-app-oauth-state={state}"},
            )
        if done.status_code != 200:
            raise RuntimeError(f"the OAuth redirect answered {done.status_code}")
        return done.text

    def slack(self, user_id: str = ADMIN_USER) -> SlackClientSimulator:
        return SlackClientSimulator(self.app_url, SIGNING_SECRET, TEAM_ID, user_id, self.fake_slack)

    def stop(self) -> None:
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        self.fake_slack.stop()
        self._workdir.cleanup()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
