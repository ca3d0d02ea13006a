"""`qbo-bot demo`: the whole product, offline, driven exactly as Slack would drive it, with a readable transcript.

Emulated QuickBooks and Ontop and a fake Slack run on loopback; the real web app and worker run on SQLite. Every
step is a signed HTTP request to /slack/events. At the end the demo checks QuickBooks itself (devtools/demo_checks.py)
and exits non-zero if any promise is broken. `--multicurrency` turns multicurrency on in the QuickBooks company and
adds the case of a contractor whose QuickBooks supplier is in one currency while Ontop now pays them in another.
Before the end, the workspace connects a second company (another QuickBooks realm, another Ontop account) with its
own finance channel; the end check runs for each company, and each channel must name no other company's worker.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

import httpx
from sqlalchemy import select

from bot.config import Settings
from bot.logs import configure_logging
from devtools.browser import ONTOP_LOGIN_PATH, QBO_START_PATH, Browser, link_in
from devtools.demo_checks import (
    DemoVerdict,
    TrackingChosen,
    Verdict,
    booked_to,
    books_table,
    check_books,
    check_tracking,
    demo_verdict_lines,
    failing_without_fix,
    is_run_summary,
    ledger_failures,
    names_in,
    posted_summaries,
    read_qbo,
    summary_run,
    tracked_bills,
    worker_names,
)
from devtools.demo_world import WALLET_NAME, CurrencyChange, OutsideWorld, invoice_rows
from devtools.render import render_call, render_message
from devtools.signing import SlackClientSimulator, view_state
from devtools.stack import ADMIN_USER, FINANCE_CHANNEL, MEMBER_USER, LocalStack, StackOptions
from emulators.ontop.app import OntopEmulatorState
from emulators.ontop.generator import CompanyGenerator
from emulators.qbo.state import DEFAULT_REALM
from handlers.ids import (
    BooksIds,
    ChooseIds,
    ConnectIds,
    DisconnectIds,
    FixIds,
    MappingIds,
    MiscIds,
    ReviewIds,
    SettingsIds,
    TrackingIds,
    VendorIds,
)
from storage.db import create_engine, session_factory
from storage.models import (
    Connection,
    LedgerPosting,
    Review,
    ReviewItem,
    RunStatus,
    RunTrigger,
    SyncedInvoice,
    SyncRun,
)
from sync.api import CREATE_WALLET

RULE = "─" * 78
QUIET_CALLS = {"auth.test", "users.info", "conversations.info", "conversations.join", "conversations.open"}
EXTERNAL_HISTORY_START = "2020-01-01"
# The fixes a bookkeeper applies from a summary without more information (linking or skipping a bill someone else
# made, or reconnecting QuickBooks, is a decision the demo leaves to the check).
PRESSED_FIXES = {FixIds.MAP, FixIds.BOOKS, FixIds.CREATE_VENDOR, FixIds.CREATE_VENDOR_IN_CURRENCY, FixIds.RETRY}
MAP_FIXES = {FixIds.MAP, FixIds.BOOKS}
FIX_ROUNDS = 3
# The second company: another realm of the same Intuit user, another Ontop client with its own admin, a channel.
SECOND_REALM = "9341453050000002"
SECOND_COMPANY = "Acme Europe"
SECOND_CHANNEL = "C0EUR"
SECOND_CHANNEL_NAME = "finance-europe"
SECOND_ONTOP_EMAIL = "finance@acme-europe.test"
SECOND_ONTOP_PASSWORD = "acme-europe-demo-password"  # the emulated Ontop account's login, not a real secret
SECOND_ONTOP_CLIENT_ID = 200
SECOND_WORKERS = 8  # the generator's fewest
SECOND_INVOICES = 20


@dataclass
class DemoOptions:
    workers: int = 12
    invoices: int = 60
    months: int = 3
    seed: int = 11
    faults: float = 0.0
    multicurrency: bool = False
    qbo_url: str | None = None
    ontop_url: str | None = None
    ontop_email: str | None = None
    ontop_password: str | None = field(default=None, repr=False)
    json_path: str | None = None
    keep: bool = False


@dataclass
class DemoCompany:
    """One QuickBooks company the walkthrough connects, its Ontop account, and what Ann chose for it."""

    label: str  # the company's name in QuickBooks
    realm_id: str
    channel: str
    ontop: OntopEmulatorState | None  # None: an Ontop emulator started separately
    ontop_email: str | None = None
    ontop_password: str | None = field(default=None, repr=False)
    name: str = ""  # its short name in commands, once connected
    connection_id: int | None = None
    mapped: dict[str, str] = field(default_factory=dict)  # concept -> the account id Ann chose
    fees_on_ontop: bool = True
    excluded: list[str] = field(default_factory=list)  # invoice numbers Ann left out of the first sync's review
    tracking: TrackingChosen | None = None  # the classes and location Ann chose in /qbo tracking
    change: CurrencyChange | None = None


@dataclass(frozen=True)
class Button:
    action_id: str
    label: str
    value: str


class DemoFailed(Exception):
    """A step did not do what a user would expect; the message says which."""


class Transcript:
    """Prints each step and what Slack showed because of it (Block Kit rendered as text)."""

    def __init__(self, stack: LocalStack, out: TextIO) -> None:
        self._stack = stack
        self._out = out
        self._cursor = 0
        self._steps = 0

    def say(self, text: str = "") -> None:
        print(text, file=self._out, flush=True)

    def step(self, title: str) -> None:
        self._steps += 1
        self.say(f"\n{RULE}\n {self._steps}. {title}\n{RULE}")

    def user(self, who: str, text: str) -> None:
        self.say(f"\n  {who} » {text}")

    def skip_seen(self) -> None:
        self._cursor = len(self._stack.fake_slack.calls())

    def show_slack(self) -> None:
        calls = self._stack.fake_slack.calls()
        for call in calls[self._cursor :]:
            if call.method in QUIET_CALLS or call.error:
                continue
            rendered = render_call(call)
            if rendered:
                self.say(_indent(rendered))
        self._cursor = len(calls)


class Demo:
    def __init__(self, stack: LocalStack, transcript: Transcript, options: DemoOptions) -> None:
        self.stack = stack
        self.fake = stack.fake_slack
        self.t = transcript
        self.options = options
        assert stack.settings is not None
        self.engine = create_engine(stack.settings.database_url)
        self.sessions = session_factory(self.engine)
        self.pressed: set[tuple[str, str, str]] = set()  # (summary ts, action id, value)
        self.world = OutsideWorld(stack)
        first = DemoCompany(
            stack.qbo_state.companies[DEFAULT_REALM].company_name if stack.qbo_state else "QuickBooks",
            DEFAULT_REALM,
            FINANCE_CHANNEL,
            stack.ontop_state,
            options.ontop_email or stack.options.ontop_email,
            options.ontop_password or stack.options.ontop_password,
        )
        self.companies = [first]
        self.company = first  # the company the current step is about

    # --- Slack plumbing -------------------------------------------------------------------------------------------

    async def settle(self, quiet_seconds: float = 0.4, timeout_seconds: float = 20.0) -> None:
        """Wait until the app has stopped calling Slack (its work after the ack is done)."""
        deadline = time.monotonic() + timeout_seconds
        seen, since = len(self.fake.calls()), time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            now = len(self.fake.calls())
            if now != seen:
                seen, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_seconds:
                return

    async def command(self, slack: SlackClientSimulator, who: str, text: str) -> None:
        self.t.user(who, f"/qbo {text}".rstrip())
        response = await slack.command(text, channel_id=self.company.channel)
        if response.status_code != 200:
            raise DemoFailed(f"/qbo {text} answered HTTP {response.status_code}")
        if response.content:
            self.t.say(_indent(render_message(response.json())))
        await self.settle()
        await self._wait_while_loading(slack.actor.user_id)
        self.t.show_slack()

    async def _wait_while_loading(self, user_id: str, timeout_seconds: float = 180.0) -> None:
        """A modal opened as 'Loading…' is updated when the app's work is done (slower when QBO misbehaves)."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            latest = self.fake.last_view(user_id=user_id, view_type="modal")
            if latest is None or latest.get("callback_id") != MiscIds.LOADING:
                break
            await asyncio.sleep(0.1)
        await self.settle()

    def _view_updates(self, view_id: str) -> int:
        return sum(1 for call in self.fake.calls("views.update") if call.params.get("view_id") == view_id)

    async def _wait_for_view_update(self, view_id: str, before: int, timeout_seconds: float = 120.0) -> None:
        """The app acked the submission; its answer arrives as a views.update of the same modal."""
        deadline = time.monotonic() + timeout_seconds
        while self._view_updates(view_id) <= before and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a fake
            await asyncio.sleep(0.05)

    def view(self, callback_id: str) -> dict[str, Any]:
        found = self.fake.last_view(callback_id, user_id=ADMIN_USER)
        if found is None:
            raise DemoFailed(f"the {callback_id} modal did not open")
        return found

    async def submit(
        self, slack: SlackClientSimulator, callback_id: str, answers: dict[str, Any], what: str
    ) -> httpx.Response:
        view = self.view(callback_id)
        self.t.user("ann", f"[{what}]")
        updates_before = self._view_updates(view["id"])
        response = await slack.submit_view(view["id"], view_state(view, answers))
        if response.status_code != 200:
            raise DemoFailed(f"submitting {callback_id} answered HTTP {response.status_code}")
        answered = response.json().get("response_action") if response.content else None
        if answered == "errors":
            for field_name, error in response.json()["errors"].items():
                self.t.say(_indent(f"⚠ {field_name}: {error}"))
        if answered is None or (answered == "update" and _is_loading(response.json().get("view") or {})):
            await self._wait_for_view_update(view["id"], updates_before)
        await self.settle()
        self.t.show_slack()
        return response

    # --- the walkthrough ------------------------------------------------------------------------------------------

    async def run(self) -> DemoVerdict:
        started = time.monotonic()
        admin = self.stack.slack(ADMIN_USER)
        member = self.stack.slack(MEMBER_USER)
        try:
            await self._walk(admin, member)
            await self._second_company(admin)
            verdict = DemoVerdict([await self.verify(company) for company in self.companies])
            verdict.seconds = time.monotonic() - started
            await self._disconnect(admin)
        finally:
            await admin.aclose()
            await member.aclose()
        return verdict

    async def _walk(self, admin: SlackClientSimulator, member: SlackClientSimulator) -> None:
        t = self.t
        t.skip_seen()
        self.company.change = change = self.world.supplier_in_another_currency() if self.options.multicurrency else None
        if change is not None:
            t.step("Before the bot: QuickBooks (multicurrency on) already pays one contractor in another currency")
            t.say(
                _indent(
                    f"QuickBooks supplier {change.name} <{change.email}> is in {change.supplier_currency}; "
                    f"Ontop now pays their contract {change.agreement_id} in {change.paid_in}"
                )
            )
        t.step("Ann installs the app into the Acme workspace (Slack OAuth: /slack/install → consent → redirect)")
        installed_page = await self.stack.install_slack_app(ADMIN_USER)
        t.say(_indent(f"browser: {_html_text(installed_page)}"))
        await self.settle()
        t.show_slack()
        t.step("Anyone can ask for help")
        await self.command(member, "bob", "")

        t.step("Settings: the finance channel, the daily hour, and no silent supplier creation")
        await self.command(admin, "ann", "settings")
        await self.submit(
            admin,
            SettingsIds.CALLBACK,
            {
                SettingsIds.CHANNEL_BLOCK: FINANCE_CHANNEL,
                SettingsIds.HOUR_BLOCK: "7",
                SettingsIds.TIMEZONE_BLOCK: "America/Bogota",
                SettingsIds.AUTO_CREATE_BLOCK: [],
            },
            "Save settings",
        )

        t.step("Only admins connect: Bob is politely refused")
        await self.command(member, "bob", "connect")

        t.step("/qbo connect: QuickBooks sign-in (OAuth with the emulator), then the Ontop login on the bot's page")
        await self.command(admin, "ann", "connect")
        await self.connect_in_browser(admin, with_typo=True)

        t.step("/qbo vendors: Ontop contracts next to QuickBooks suppliers; create the missing ones")
        await self.command(admin, "ann", "vendors")
        await self.submit(admin, VendorIds.CALLBACK, {}, "Create suppliers")

        newcomer = self.world.new_contractor_gets_paid()
        if newcomer:
            t.step("Meanwhile in Ontop: a new contractor finishes onboarding and is paid")
            t.say(_indent(newcomer))

        t.step("/qbo map: each concept to an account, and how invoices are booked (the first sync starts by itself)")
        await self.command(admin, "ann", "map")
        await self.map_all(admin)
        wallet = self.world.wallet_line()
        if wallet:
            t.say(_indent(wallet))
        first = await self.wait_for_runs(1)
        t.say(_indent(f"sync #{first} finished: it posted nothing and waits for approval"))
        await self.settle()
        t.show_slack()

        t.step("/qbo tracking: QuickBooks now tracks classes and locations; Ann sets a concept's and a worker's")
        await self.turn_on_tracking()
        await self.command(admin, "ann", "tracking")
        await self.choose_tracking(admin)

        t.step("The first sync waits for approval: Ann leaves one invoice out, then approves the rest")
        await self.approve_first_review(admin)

        t.step("/qbo sync preview: the invoice Ann left out stays out (a button includes it again)")
        await self.command(admin, "ann", "sync preview")

        t.step("Fixing what failed, from the buttons under the first sync's summary")
        if not await self.fix_rounds(admin, first_run=first):
            t.say(_indent("nothing failed: no fix needed"))

        t.step("/qbo sync again: nothing is ever created twice")
        runs_before = await self.finished_runs()
        await self.command(admin, "ann", "sync")
        await self.wait_for_runs(runs_before + 1)
        await self.settle()
        t.show_slack()

        runs_before = await self.finished_runs()
        webhook = await self.world.payment_webhook()
        if webhook:
            t.step("Near real time: Ontop pays another invoice and calls the bot's webhook")
            t.say(_indent(webhook))
            await self.wait_for_runs(runs_before + 1)
            await self.settle()
            t.show_slack()

        if self._fixes_offered():
            t.step("The last runs' summary offers fixes too: Ann applies them")
            await self.fix_rounds(admin)

        t.step("/qbo reconcile: Ontop's paid invoices against QuickBooks' bills, read again from both")
        await self.command(admin, "ann", "reconcile")

        t.step("/qbo status")
        await self.command(admin, "ann", "status")

    async def connect_in_browser(self, admin: SlackClientSimulator, *, with_typo: bool = False) -> None:
        """The connect modal's two buttons in one browser (Intuit's consent, picking the company's realm when it is
        not the first; the Ontop login on the bot's page), then *Check*."""
        t, company = self.t, self.company
        connect = self.view(ConnectIds.CALLBACK)
        email, password = company.ontop_email or "", company.ontop_password or ""
        # The generated company's history starts months ago; Ann books all of it (the default is this month).
        backfill = (
            company.ontop.generator.start.date().isoformat()
            if company.ontop
            else EXTERNAL_HISTORY_START  # an emulator started separately: book its whole history
        )
        realm = None if company is self.companies[0] else company.realm_id
        async with Browser() as browser:  # one browser: the cookie /qbo/start sets must come back to the callback
            pick = f" (Ann picks {company.label} among her companies)" if realm else ""
            t.user("ann", f"[Connect QuickBooks ↗] → the bot's /qbo/start → Intuit consent{pick} → back to the bot")
            page = await browser.consent_qbo(link_in(connect, QBO_START_PATH), realm)
            t.say(_indent(f"browser: HTTP {page.status} · {page.text}"))
            await self.settle()
            t.show_slack()
            t.user("ann", "[Enter Ontop login ↗] → the bot's own login page (the password never goes through Slack)")
            if with_typo:
                t.user("ann", "[Save Ontop login] (a typo in the password)")
                page = await browser.fill_ontop_login(link_in(connect, ONTOP_LOGIN_PATH), email, "not-the-password")
                t.say(_indent(f"browser: HTTP {page.status} · {page.text}"))
            t.user("ann", f"[Save Ontop login] as {email}, syncing invoices from {backfill}")
            page = await browser.fill_ontop_login(link_in(connect, ONTOP_LOGIN_PATH), email, password, backfill)
            t.say(_indent(f"browser: HTTP {page.status} · {page.text}"))
        if page.status != 200:
            raise DemoFailed(f"the Ontop login page answered HTTP {page.status}: {page.text}")
        await self.settle()
        t.show_slack()
        await self.submit(admin, ConnectIds.CALLBACK, {}, "Check")
        await self._learn_connection(company)

    async def _learn_connection(self, company: DemoCompany) -> None:
        """The connection the bot made for this company's realm, and the short name it gave it."""
        async with self.sessions() as session:
            connection = await session.scalar(
                select(Connection)
                .where(Connection.realm_id == company.realm_id, Connection.status != "disconnected")
                .order_by(Connection.id.desc())
                .limit(1)
            )
            if connection is None and company is self.companies[0]:  # a QBO emulator started separately: any realm
                connection = await session.scalar(select(Connection).order_by(Connection.id.desc()).limit(1))
        if connection is not None:
            company.connection_id, company.name = connection.id, connection.name
            company.label = connection.company_name or company.label

    # --- the second company ----------------------------------------------------------------------------------------

    def add_second_company(self) -> DemoCompany | None:
        """Acme Europe: another QuickBooks company Ann can consent to, and Acme Europe's own Ontop account (another
        client behind the same Ontop address, with its own admin), small. None with emulators started separately."""
        if self.stack.qbo_state is None or self.stack.ontop_state is None:
            return None
        self.stack.add_qbo_company(SECOND_REALM, SECOND_COMPANY)
        first = self.stack.ontop_state
        generator = CompanyGenerator(
            workers=SECOND_WORKERS,
            invoices=SECOND_INVOICES,
            months=1,
            seed=self.options.seed + 1000,
            start=first.generator.start,
        )
        ontop = OntopEmulatorState(
            generator=generator,
            admin_email=SECOND_ONTOP_EMAIL,
            admin_password=SECOND_ONTOP_PASSWORD,
            client_id=SECOND_ONTOP_CLIENT_ID,
            now=first.now,
            webhook_retry_delays=first.webhook_retry_delays,
        )
        self.stack.add_ontop_company(ontop)
        self.fake.add_channel(SECOND_CHANNEL, SECOND_CHANNEL_NAME)
        company = DemoCompany(
            SECOND_COMPANY, SECOND_REALM, SECOND_CHANNEL, ontop, SECOND_ONTOP_EMAIL, SECOND_ONTOP_PASSWORD
        )
        self.companies.append(company)
        return company

    async def _second_company(self, admin: SlackClientSimulator) -> None:
        """`/qbo connect new` for Acme Europe, its own channel, suppliers and mapping, its first sync approved; then an
        unnamed `/qbo sync` asks which company."""
        t, first = self.t, self.companies[0]
        second = self.add_second_company()
        if second is None:
            t.step("A second company needs the built-in emulators (started separately here): skipped")
            return
        self.company = second
        t.step(f"/qbo connect new: a second company, {second.label}, with its own QuickBooks and Ontop account")
        await self.command(admin, "ann", "connect new")
        await self.connect_in_browser(admin)
        if not second.name:
            raise DemoFailed(f"{second.label} did not get a connection")
        t.say(_indent(f"(the bot names it {second.name}; {first.label} is {first.name})"))

        t.step(f"/qbo settings {second.name}: its own finance channel #{SECOND_CHANNEL_NAME}")
        await self.command(admin, "ann", f"settings {second.name}")
        await self.submit(
            admin,
            SettingsIds.CALLBACK,
            {
                SettingsIds.CHANNEL_BLOCK: second.channel,
                SettingsIds.HOUR_BLOCK: "8",
                SettingsIds.TIMEZONE_BLOCK: "Europe/Madrid",
                SettingsIds.AUTO_CREATE_BLOCK: [],
            },
            "Save settings",
        )

        t.step(f"/qbo vendors {second.name}: Acme Europe's contracts; create the missing suppliers")
        await self.command(admin, "ann", f"vendors {second.name}")
        await self.submit(admin, VendorIds.CALLBACK, {}, "Create suppliers")

        t.step(f"/qbo map {second.name}: its own mapping; its first sync waits for approval in #{SECOND_CHANNEL_NAME}")
        runs_before = await self.finished_runs()
        await self.command(admin, "ann", f"map {second.name}")
        await self.map_all(admin)
        run = await self.wait_for_runs(runs_before + 1)
        t.say(_indent(f"sync #{run} finished: it posted nothing and waits for approval"))
        await self.settle()
        t.show_slack()

        t.step(f"{second.label}'s review: Ann approves it in #{SECOND_CHANNEL_NAME}, and it syncs")
        await self.approve_first_review(admin, leave_one_out=False)
        await self.fix_rounds(admin, first_run=run)

        t.step("/qbo sync with no name: with two companies, the bot asks which one")
        seen = len(self.fake.ephemerals(user_id=ADMIN_USER))
        await self.command(admin, "ann", "sync")
        question = await self._ephemeral_after(seen)
        t.user("ann", f"[chooses {second.name}]")
        runs_before = await self.finished_runs()
        response = await admin.choose_in_ephemeral(
            second.channel, question, ChooseIds.SELECT, str(second.connection_id)
        )
        if response.status_code != 200:
            raise DemoFailed(f"choosing a company answered HTTP {response.status_code}")
        await self.settle()
        t.show_slack()
        await self.wait_for_runs(runs_before + 1)
        await self.settle()
        t.show_slack()

    async def _ephemeral_after(self, seen: int, timeout_seconds: float = 10.0) -> dict[str, Any]:
        """The first ephemeral answer to Ann past the `seen` first ones (the bot's question with its select)."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            found = self.fake.ephemerals(user_id=ADMIN_USER)
            if len(found) > seen:
                return found[seen]
            await asyncio.sleep(0.05)
        raise DemoFailed("an unnamed /qbo sync did not ask which company")

    async def approve_first_review(self, admin: SlackClientSimulator, *, leave_one_out: bool = True) -> None:
        """The review message in the finance channel: *Review details*, tick the largest invoice to leave it out,
        *Save*, then *Approve and post*; the run that follows must post exactly the approved invoices."""
        channel = self.company.channel
        review = await self.wait_for_review()
        ts = str(review["ts"])
        if leave_one_out:
            await self._leave_out_largest(admin, ts)
        approved = await self._reviewed_bills()
        runs_before = await self.finished_runs()
        newest_before = max((run.id for run in await self._runs()), default=0)
        self.t.user("ann", "[Approve and post] → [Approve and post] (the confirmation)")
        await admin.click_message_button(channel, ts, ReviewIds.APPROVE)
        await self.settle()
        await self.wait_for_runs(runs_before + 1)
        await self.settle()
        self.t.show_slack()
        # The run the approval queued (a big one then queues a follow-up for payments, fee bills and PDFs).
        posted = [run for run in await self._runs() if run.id > newest_before and run.trigger == RunTrigger.APPROVAL]
        run = posted[0] if posted else None
        posting = run.id if run is not None else 0
        booked = run.bills_created + run.credits_created if run is not None else -1
        if booked != approved:
            raise DemoFailed(f"sync #{posting} booked {booked} invoices; {approved} were approved")
        self.t.say(_indent(f"sync #{posting} booked exactly the {approved} approved invoices"))

    async def _leave_out_largest(self, admin: SlackClientSimulator, ts: str) -> None:
        """*Review details*, tick the largest invoice and *Save*: it stays out of the run the approval starts."""
        self.t.user("ann", "[Review details]")
        await admin.click_message_button(self.company.channel, ts, ReviewIds.DETAILS)
        await self.settle()
        await self._wait_while_loading(ADMIN_USER)
        self.t.show_slack()
        details = self.view(ReviewIds.DETAILS_CALLBACK)
        group = next(block for block in details["blocks"] if block.get("type") == "input")
        left_out = group["element"]["options"][0]
        label = str(left_out["text"]["text"])
        self.company.excluded.append(label.split(" · ")[0])
        await self.submit(admin, ReviewIds.DETAILS_CALLBACK, {group["block_id"]: [left_out]}, f"tick {label} · Save")

    async def wait_for_review(self, timeout_seconds: float = 30.0) -> dict[str, Any]:
        """The review message the outbox posts in the finance channel after the first sync."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            for message in reversed(self.fake.top_level(self.company.channel)):
                if any(button.action_id == ReviewIds.APPROVE for button in buttons(message, ReviewIds)):
                    return message
            await asyncio.sleep(0.1)
        raise DemoFailed("the first sync's review did not reach the finance channel")

    async def _reviewed_bills(self) -> int:
        """The invoices of the latest review an admin did not leave out."""
        async with self.sessions() as session:
            latest = select(Review.id).where(Review.connection_id == self.company.connection_id)
            review_id = await session.scalar(latest.order_by(Review.id.desc()).limit(1))
            items = (await session.scalars(select(ReviewItem).where(ReviewItem.review_id == review_id))).all()
        return sum(1 for item in items if not item.excluded)

    async def fix_rounds(self, admin: SlackClientSimulator, first_run: int | None = None) -> bool:
        """Press the fix buttons of the latest summary (first those of `first_run`'s, when given), wait for the syncs
        they start, again while new ones appear."""
        pressed_any = False
        for round_number in range(FIX_ROUNDS):
            summary = self.summary_of(first_run if round_number == 0 else None)
            fixes = self._fixes_offered(summary)
            if summary is None or not fixes:
                break
            for fix in fixes:
                self.pressed.add((str(summary["ts"]), fix.action_id, fix.value))
                self.t.user("ann", f"[{fix.label}]")
                await admin.click_message_button(self.company.channel, summary["ts"], fix.action_id, value=fix.value)
                await self.settle()
                await self._wait_while_loading(ADMIN_USER)
                self.t.show_slack()
                if fix.action_id in MAP_FIXES:
                    await self.map_all(admin)
            pressed_any = True
            run_id = await self.wait_until_idle()
            self.t.say(_indent(f"retry sync #{run_id} finished"))
            await self.settle()
            self.t.show_slack()
        return pressed_any

    def _fixes_offered(self, summary: dict[str, Any] | None = None) -> list[Button]:
        """A summary's fix buttons (the latest's by default) the demo has not pressed yet (and would press)."""
        summary = summary or self.latest_summary()
        if summary is None:
            return []
        return [
            fix
            for fix in buttons(summary)
            if fix.action_id in PRESSED_FIXES and (str(summary["ts"]), fix.action_id, fix.value) not in self.pressed
        ]

    async def map_all(self, slack: SlackClientSimulator) -> None:
        """Answer the mapping modal: every concept to its natural account, found by typing in the select, and the
        books part: pay from an "Ontop wallet" bank account (created by the bot), fees on the Ontop supplier."""
        view = self.view(MappingIds.CALLBACK)
        answers: dict[str, Any] = {}
        for block in view.get("blocks", []):
            block_id = str(block.get("block_id", ""))
            if not block_id.startswith(MappingIds.BLOCK_PREFIX):
                continue
            concept = block_id[len(MappingIds.BLOCK_PREFIX) :]
            response = await slack.suggest(view["id"], block_id, MappingIds.ACCOUNT, account_hint(concept))
            options = response.json().get("options", []) if response.content else []
            if not options:
                response = await slack.suggest(view["id"], block_id, MappingIds.ACCOUNT, "Contractors")
                options = response.json().get("options", []) if response.content else []
            if options:
                answers[block_id] = options[0]
                self.company.mapped[concept] = str(options[0]["value"])
        choices = ", ".join(
            f"{block_id[len(MappingIds.BLOCK_PREFIX) :]} → {option['text']['text']}"
            for block_id, option in answers.items()
        )
        self.t.say(_indent(f"(ann types in each select) {choices}"))
        books, said = books_answers(view)
        answers.update(books)
        if said:
            self.t.say(_indent(f"(ann {said})"))
        self.company.fees_on_ontop = books.get(BooksIds.FEES_BLOCK, {}).get("value", BooksIds.FEES_ON_ONTOP) == (
            BooksIds.FEES_ON_ONTOP
        )
        await self.submit(slack, MappingIds.CALLBACK, answers, "Save mapping")

    async def turn_on_tracking(self) -> None:
        """The finance team turns on class tracking (one per row) and locations in QuickBooks' settings."""
        flags = {"class_tracking_per_line": True, "track_departments": True}
        self.t.say(_indent("(in QuickBooks: Settings → Account and settings → Advanced → Categories: track classes, "
                           "one to each row; track locations)"))  # fmt: skip
        if self.stack.qbo_state is not None:
            self.stack.qbo_state.set_preferences(DEFAULT_REALM, flags)
            return
        async with httpx.AsyncClient() as http:  # an emulator started separately: its control endpoint
            response = await http.post(f"{self.stack.qbo_url}/_emulator/preferences", json=flags)
        if response.status_code != 200:
            raise DemoFailed(f"the QuickBooks emulator refused the tracking preferences: {response.text}")

    async def choose_tracking(self, slack: SlackClientSimulator) -> None:
        """Answer the tracking modal by typing in its selects: Bonus (or the first concept) → "Sales"; the first
        worker → "Engineering:Platform" and "Latin America". The end check reads these back from QuickBooks."""
        view = self.view(TrackingIds.CALLBACK)
        blocks = [str(block.get("block_id", "")) for block in view.get("blocks", []) if block.get("type") == "input"]
        concepts = [block for block in blocks if block.startswith(TrackingIds.CONCEPT_PREFIX)]
        workers = [block for block in blocks if block.startswith(TrackingIds.WORKER_CLASS_PREFIX)]
        if not concepts or not workers:
            raise DemoFailed("the tracking modal shows no concept or no worker to choose a class for")
        concept_block = next((block for block in concepts if block.endswith("BONUS")), concepts[0])
        worker = workers[0][len(TrackingIds.WORKER_CLASS_PREFIX) :]
        location_block = f"{TrackingIds.WORKER_LOCATION_PREFIX}{worker}"
        answers: dict[str, Any] = {}
        for block_id, action_id, typed in (
            (concept_block, TrackingIds.CLASS, "Sales"),
            (workers[0], TrackingIds.CLASS, "Platform"),
            (location_block, TrackingIds.LOCATION, "Latin"),
        ):
            response = await slack.suggest(view["id"], block_id, action_id, typed)
            options = response.json().get("options", []) if response.content else []
            if not options:
                raise DemoFailed(f"typing {typed!r} in {block_id} offered nothing")
            answers[block_id] = options[0]
        label = next(
            (block["label"]["text"] for block in view["blocks"] if block.get("block_id") == workers[0]), worker
        )
        self.t.say(
            _indent(
                f"(ann types in the selects) {concept_block[len(TrackingIds.CONCEPT_PREFIX) :]} → "
                f"{answers[concept_block]['text']['text']}; {label} → {answers[workers[0]]['text']['text']}, "
                f"location → {answers[location_block]['text']['text']}"
            )
        )
        await self.submit(slack, TrackingIds.CALLBACK, answers, "Save")
        self.company.tracking = TrackingChosen(
            concept=concept_block[len(TrackingIds.CONCEPT_PREFIX) :],
            concept_class_id=str(answers[concept_block]["value"]),
            agreement_id=worker,
            worker_class_id=str(answers[workers[0]]["value"]),
            location_id=str(answers[location_block]["value"]),
        )

    # --- runs and summaries -------------------------------------------------------------------------------------

    async def _runs(self) -> list[SyncRun]:
        async with self.sessions() as session:
            return list((await session.scalars(select(SyncRun).order_by(SyncRun.id))).all())

    async def wait_for_runs(self, finished: int) -> int:
        """Wait until at least `finished` runs have ended and none is queued or running; the newest run's id."""
        # QBO's limits allow about 450 requests a minute, and a bill with its PDF costs about one: allow for that.
        timeout_seconds = 300.0 + self.options.invoices * 0.5
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            runs = await self._runs()
            done = [run for run in runs if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING)]
            active = [run for run in runs if run.status in (RunStatus.QUEUED, RunStatus.RUNNING)]
            if len(done) >= finished and not active:
                newest = done[-1].id if done else 0
                if newest:
                    await self.wait_for_summary(newest)
                return newest
            await asyncio.sleep(0.2)
        raise DemoFailed(f"sync runs did not finish within {timeout_seconds:.0f} s")

    async def wait_for_summary(self, run_id: int, timeout_seconds: float = 30.0) -> None:
        """A finished run's summary reaches the finance channel soon after the run (its delivery is retried);
        without one in time the demo goes on, and the end check counts the failures nobody was shown."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if any(summary_run(message) == run_id for message in self.fake.top_level(self.company.channel)):
                return
            await asyncio.sleep(0.1)

    async def wait_until_idle(self) -> int:
        """Wait until no run is queued or running (a fix may or may not have started one); the newest run's id."""
        return await self.wait_for_runs(0)

    def summary_of(self, run_id: int | None) -> dict[str, Any] | None:
        """The summary of run `run_id` in the finance channel (None: the latest summary)."""
        if run_id is None:
            return self.latest_summary()
        channel = self.company.channel
        return next((m for m in reversed(self.fake.top_level(channel)) if summary_run(m) == run_id), None)

    def latest_summary(self) -> dict[str, Any] | None:
        """The finance channel's latest run summary (a run's message once it has finished)."""
        return next((m for m in reversed(self.fake.top_level(self.company.channel)) if is_run_summary(m)), None)

    async def finished_runs(self) -> int:
        return sum(1 for run in await self._runs() if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING))

    async def _disconnect(self, admin: SlackClientSimulator) -> None:
        first = self.company = self.companies[0]
        several = len(self.companies) > 1
        named = f" {first.name}" if several and first.name else ""
        self.t.step(
            f"/qbo disconnect{named}: tokens revoked, mapping forgotten, QuickBooks data left as it is"
            + (" (the other company stays connected)" if several else "")
        )
        async with self.stack.slack(ADMIN_USER) as slack:
            await self.command(slack, "ann", f"disconnect{named}")
            await self.submit(slack, DisconnectIds.CALLBACK, {}, "Disconnect")
            if several:
                self.t.say(_indent(f"({first.label} is disconnected; with one company left, commands need no name)"))
            await self.command(slack, "ann", "status")

    # --- the end state --------------------------------------------------------------------------------------------

    async def verify(self, company: DemoCompany) -> Verdict:
        """QuickBooks against Ontop (devtools/demo_checks.py) for one company, the failures its channel shows
        against their fixes, and no other company's worker in its channel."""
        qbo, ontop = self.stack.qbo_state, company.ontop
        if qbo is None or ontop is None:
            return Verdict()  # external emulators: the summary messages are the evidence
        books = read_qbo(qbo, company.realm_id)
        invoices = invoice_rows(ontop)
        verdict = check_books(
            books,
            invoices,
            fees_on_ontop=company.fees_on_ontop,
            fee_account_id=_fee_account(company.mapped),
            excluded=company.excluded,
        )
        verdict.company, verdict.name, verdict.channel = company.label, company.name, company.channel
        verdict.channel_name = str(self.fake.channel_ref(company.channel).get("name", ""))
        top_level = self.fake.top_level(company.channel)
        threads = {str(message["ts"]): self.fake.replies(company.channel, str(message["ts"])) for message in top_level}
        async with self.sessions() as session:
            mine = company.connection_id
            ledger = list(await session.scalars(select(SyncedInvoice).where(SyncedInvoice.connection_id == mine)))
            postings = list(await session.scalars(select(LedgerPosting).where(LedgerPosting.connection_id == mine)))
        verdict.failing_without_fix = failing_without_fix(
            posted_summaries(top_level, threads), ledger_failures(ledger, postings)
        )
        if company.tracking is not None:
            verdict.wrong_tracking = check_tracking(
                books, invoices, company.tracking, fees_on_ontop=company.fees_on_ontop
            )
        messages = top_level + [reply for replies in threads.values() for reply in replies]
        own = worker_names(ontop.generator.workers)
        others = {name for other in self.companies if other.ontop and other is not company
                  for name in worker_names(other.ontop.generator.workers)} - own  # fmt: skip
        verdict.others_in_channel, _ = names_in(messages, others)
        _, verdict.own_workers_named = names_in(messages, own)
        self.t.step(f"What is now in QuickBooks: {company.label}")
        for line in books_table(books, invoices):
            self.t.say(line)
        if company.tracking is not None:
            carried = tracked_bills(books, company.tracking)
            self.t.say(
                f"  classes and locations: {carried} bills carry the class or location Ann chose "
                "(read back from QuickBooks)"
            )
        if company.change is not None:
            change = company.change
            booked = booked_to(books, invoices, change.agreement_id, change.paid_in)
            self.t.say(
                f"  {change.name}, paid in {change.paid_in} since their supplier was in "
                f"{change.supplier_currency}: {booked}"
            )
        return verdict

    async def aclose(self) -> None:
        await self.engine.dispose()


def _fee_account(mapped: dict[str, str]) -> str | None:
    """The account Ann mapped the FEE concept to, when no other concept shares it."""
    account = mapped.get("FEE")
    if account is None or any(other == account for concept, other in mapped.items() if concept != "FEE"):
        return None
    return account


def account_hint(concept: str) -> str:
    """What a bookkeeper would type to find the account for a concept in the demo company's chart."""
    return {
        "COMPENSATION": "Contractors",
        "BONUS": "Contractors",
        "COMMISSION": "Commissions",
        "REIMBURSEMENT": "Reimburs",
        "FEE": "Bank",
        "DEDUCTION": "Contractors",
    }.get(concept, "Contractors")


def books_answers(view: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The mapping modal's books part as Ann answers it, and what she did in words: pay from a new "Ontop wallet"
    (or the one that exists), fees on a bill to the Ontop supplier, suppliers in the contract's currency, and the
    preselected A/P accounts and tax code. Empty when the modal has no books part."""
    answers: dict[str, Any] = {}
    kept: list[str] = []
    chose: list[str] = []
    wanted: dict[str, tuple[str, Callable[[dict[str, Any]], bool]]] = {
        BooksIds.PAY_FROM_BLOCK.value: ("pay bills from", lambda o: o["value"] == CREATE_WALLET or _is_wallet(o)),
        BooksIds.FEES_BLOCK.value: ("fees", lambda o: o["value"] == BooksIds.FEES_ON_ONTOP),
        BooksIds.SUPPLIER_CURRENCY_BLOCK.value: ("new suppliers", lambda o: o["value"] == "contract"),
    }
    for block in view.get("blocks", []):
        block_id, element = str(block.get("block_id", "")), block.get("element") or {}
        options = _options(element)
        initial = element.get("initial_option")
        if block_id in wanted:
            what, test = wanted[block_id]
            option = next((o for o in options if test(o)), initial)
        elif block_id.startswith(BooksIds.AP_BLOCK_PREFIX) or block_id == BooksIds.TAX_DEFAULT_BLOCK:
            what = block_id.replace("books-", "").replace("-", " ")
            option = initial or (options[0] if options else None)
        else:
            continue
        if option is None:
            continue
        answers[block_id] = option
        said = f"{what} → {option['text']['text']}"
        (kept if initial is not None and initial.get("value") == option["value"] else chose).append(said)
    parts = ([f"keeps: {'; '.join(kept)}"] if kept else []) + ([f"chooses: {'; '.join(chose)}"] if chose else [])
    return answers, " · ".join(parts)


def _is_wallet(option: dict[str, Any]) -> bool:
    return str(option.get("text", {}).get("text", "")).startswith(WALLET_NAME)


def _options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def buttons(message: dict[str, Any], ids: type[StrEnum] = FixIds) -> list[Button]:
    """The message's buttons among `ids` (the fix buttons by default)."""
    found = []
    fixes = {str(fix) for fix in ids}
    for block in message.get("blocks", []):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            action_id = str(element.get("action_id", ""))
            if action_id in fixes:
                found.append(
                    Button(action_id, str(element.get("text", {}).get("text", "")), str(element.get("value", "")))
                )
    return found


def _is_loading(view: dict[str, Any]) -> bool:
    """The app answered with a 'working on it' view and will update it when done."""
    return view.get("callback_id") == MiscIds.LOADING or "hourglass" in json.dumps(view.get("blocks", []))


def find_url(view: dict[str, Any], prefix: str) -> str:
    text = json.dumps(view)
    start = text.find(prefix)
    if start < 0:
        raise DemoFailed("the connect modal has no QuickBooks sign-in button")
    end = text.find('"', start)
    return text[start:end]


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" if line else "" for line in text.splitlines())


def _html_text(html: str) -> str:
    refresh = re.search(r'URL=([^"\s>]+)', html)
    if refresh:
        return f"installed; the page sends the browser back to Slack ({refresh.group(1)})"
    title = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S) or re.search(r"<title>(.*?)</title>", html, re.S)
    return re.sub(r"<[^>]+>", "", title.group(1)).strip() if title else html[:80]


def run_demo(options: DemoOptions, settings: Settings, out: TextIO | None = None) -> int:
    """Run the walkthrough; 0 when every promise held, 1 otherwise."""
    stream = out or sys.stdout
    configure_logging("warning", "console", stream=sys.stderr)
    stack_options = StackOptions(
        workers=options.workers,
        invoices=options.invoices,
        months=options.months,
        seed=options.seed,
        multicurrency=options.multicurrency,
        qbo_url=options.qbo_url,
        ontop_url=options.ontop_url,
        install_via_oauth=True,
    )
    if options.qbo_url:
        stack_options.qbo_client_id = settings.qbo_client_id or stack_options.qbo_client_id
        if settings.qbo_client_secret is not None:
            stack_options.qbo_client_secret = settings.qbo_client_secret.get_secret_value()
    if options.ontop_email:
        stack_options.ontop_email = options.ontop_email
    if options.ontop_password:
        stack_options.ontop_password = options.ontop_password
    print("Starting emulated QuickBooks, Ontop and Slack, and the bot, on loopback…", file=stream, flush=True)
    with LocalStack(stack_options) as stack:
        if options.faults and stack.qbo_state is not None:
            # QBO sends no Retry-After (the client then waits 60 s); the demo's throttles say 2 s to stay short.
            stack.qbo_state.switches.retry_after = "2"
            for kind in ("500", "503", "429", "reset"):
                stack.qbo_state.inject("*", kind, count=None, probability=options.faults / 4)
        transcript = Transcript(stack, stream)
        demo = Demo(stack, transcript, options)
        try:
            verdict = asyncio.run(_run(demo))
        except DemoFailed as failure:
            print(f"\nDEMO FAILED: {failure}", file=stream)
            return 1
        report(verdict, transcript)
        if options.json_path:
            Path(options.json_path).write_text(json.dumps(verdict.as_json(), indent=2))
        if options.keep:
            keep_running(stack, stream)
    return 0 if verdict.ok else 1


async def _run(demo: Demo) -> DemoVerdict:
    try:
        return await demo.run()
    finally:
        await demo.aclose()


def report(verdict: DemoVerdict, transcript: Transcript) -> None:
    transcript.step("Checked, company by company")
    if not verdict.paid_invoices:
        transcript.say("  (emulators started separately: see the summaries above)")
        return
    for line in demo_verdict_lines(verdict):
        transcript.say(line)


def keep_running(stack: LocalStack, out: TextIO) -> None:
    print(
        f"\nStill running (Ctrl-C to stop):\n  bot     {stack.app_url}\n  QBO     {stack.qbo_url}\n"
        f"  Ontop   {stack.ontop_url}\n  Slack   {stack.fake_slack.url}",
        file=out,
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
