"""`qbo-bot demo`: the whole product, offline, driven exactly as Slack would drive it, with a readable transcript.

Emulated QuickBooks and Ontop and a fake Slack run on loopback; the real web app and worker run on SQLite. Every
step is a signed HTTP request to /slack/events. At the end the demo checks QuickBooks itself and exits non-zero if
any promise is broken.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import httpx
from sqlalchemy import select

from bot.config import Settings
from bot.logs import configure_logging
from devtools.render import render_call, render_message
from devtools.signing import SlackClientSimulator, view_state
from devtools.stack import ADMIN_USER, FINANCE_CHANNEL, MEMBER_USER, LocalStack, StackOptions
from emulators.qbo.state import DEFAULT_REALM
from handlers.ids import ConnectIds, DisconnectIds, FixIds, MappingIds, MiscIds, SettingsIds, VendorIds
from storage.db import create_engine, session_factory
from storage.models import RunStatus, SyncedInvoice, SyncRun
from sync.bills import doc_number_for

RULE = "─" * 78
QUIET_CALLS = {"auth.test", "users.info", "conversations.info", "conversations.join", "conversations.open"}
EXTERNAL_HISTORY_START = "2020-01-01"


@dataclass
class DemoOptions:
    workers: int = 12
    invoices: int = 60
    months: int = 3
    seed: int = 11
    faults: float = 0.0
    qbo_url: str | None = None
    ontop_url: str | None = None
    ontop_email: str | None = None
    ontop_password: str | None = field(default=None, repr=False)
    json_path: str | None = None
    keep: bool = False


@dataclass
class Verdict:
    paid_invoices: int = 0
    bills: int = 0
    missing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    wrong_amounts: list[str] = field(default_factory=list)
    preexisting_touched: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicated or self.wrong_amounts or self.preexisting_touched)


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
        response = await slack.command(text)
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

    async def run(self) -> Verdict:
        started = time.monotonic()
        admin = self.stack.slack(ADMIN_USER)
        member = self.stack.slack(MEMBER_USER)
        try:
            await self._walk(admin, member)
        finally:
            await admin.aclose()
            await member.aclose()
        verdict = self.verify()
        verdict.seconds = time.monotonic() - started
        await self._disconnect(admin)
        return verdict

    async def _walk(self, admin: SlackClientSimulator, member: SlackClientSimulator) -> None:
        t = self.t
        t.skip_seen()
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

        t.step("/qbo connect: QuickBooks sign-in (OAuth with the emulator), then the Ontop login")
        await self.command(admin, "ann", "connect")
        consent = find_url(self.view(ConnectIds.CALLBACK), self.stack.qbo_url)
        t.user("ann", "[Connect QuickBooks ↗] → Intuit consent → back to the bot")
        async with httpx.AsyncClient(follow_redirects=True, timeout=30) as browser:
            page = await browser.get(consent)
        t.say(_indent(f"browser: HTTP {page.status_code} · {_html_text(page.text)}"))
        await self.settle()
        t.show_slack()
        email = self.options.ontop_email or self.stack.options.ontop_email
        password = self.options.ontop_password or self.stack.options.ontop_password
        # The generated company's history starts months ago; Ann books all of it (the default is this month).
        backfill = (
            self.stack.ontop_state.generator.start.date().isoformat()
            if self.stack.ontop_state
            else EXTERNAL_HISTORY_START  # an emulator started separately: book its whole history
        )
        await self.submit(
            admin,
            ConnectIds.CALLBACK,
            {ConnectIds.EMAIL_BLOCK: email, ConnectIds.PASSWORD_BLOCK: "not-the-password"},
            "Save Ontop login (a typo in the password)",
        )
        await self.submit(
            admin,
            ConnectIds.CALLBACK,
            {ConnectIds.EMAIL_BLOCK: email, ConnectIds.PASSWORD_BLOCK: password, ConnectIds.BACKFILL_BLOCK: backfill},
            f"Save Ontop login, syncing invoices from {backfill}",
        )

        t.step("/qbo vendors: Ontop contracts next to QuickBooks suppliers; create the missing ones")
        await self.command(admin, "ann", "vendors")
        await self.submit(admin, VendorIds.CALLBACK, {}, "Create suppliers")

        newcomer = self._new_contractor_gets_paid()
        if newcomer:
            t.step("Meanwhile in Ontop: a new contractor finishes onboarding and is paid")
            t.say(_indent(newcomer))

        t.step("/qbo map: each Ontop concept to a QuickBooks expense account (the first sync starts by itself)")
        await self.command(admin, "ann", "map")
        await self.map_all(admin)
        first = await self.wait_for_runs(1)
        t.say(_indent(f"sync #{first} finished"))
        await self.settle()
        t.show_slack()

        t.step("Fixing what failed, from the buttons under the summary")
        runs_before = await self.finished_runs()
        summary = self.summary_message()
        fixes = buttons(summary) if summary else []
        if not fixes:
            t.say(_indent("nothing failed: no fix needed"))
        for action_id, label in fixes:
            assert summary is not None
            if action_id == FixIds.MAP:
                t.user("ann", f"[{label}]")
                await admin.click_message_button(FINANCE_CHANNEL, summary["ts"], action_id)
                await self.settle()
                t.show_slack()
                await self.map_all(admin)
            elif action_id == FixIds.CREATE_VENDOR:
                t.user("ann", f"[{label}]")
                await admin.click_message_button(FINANCE_CHANNEL, summary["ts"], action_id)
                await self.settle()
                t.show_slack()
        if fixes:
            runs = await self.wait_for_runs(runs_before + 1)
            t.say(_indent(f"retry sync #{runs} finished"))
            await self.settle()
            t.show_slack()

        t.step("/qbo sync again: nothing is ever created twice")
        runs_before = await self.finished_runs()
        await self.command(admin, "ann", "sync")
        await self.wait_for_runs(runs_before + 1)
        await self.settle()
        t.show_slack()

        runs_before = await self.finished_runs()
        webhook = await self._payment_webhook()
        if webhook:
            t.step("Near real time: Ontop pays another invoice and calls the bot's webhook")
            t.say(_indent(webhook))
            await self.wait_for_runs(runs_before + 1)
            await self.settle()
            t.show_slack()

        t.step("/qbo reconcile: Ontop's paid invoices against QuickBooks' bills, read again from both")
        await self.command(admin, "ann", "reconcile")

        t.step("/qbo status")
        await self.command(admin, "ann", "status")

    async def map_all(self, slack: SlackClientSimulator) -> None:
        """Answer the mapping modal: every concept to its natural account, found by typing in the select."""
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
        choices = ", ".join(
            f"{block_id[len(MappingIds.BLOCK_PREFIX) :]} → {option['text']['text']}"
            for block_id, option in answers.items()
        )
        self.t.say(_indent(f"(ann types in each select) {choices}"))
        await self.submit(slack, MappingIds.CALLBACK, answers, "Save mapping")

    def _new_contractor_gets_paid(self) -> str | None:
        """An invited worker finishes onboarding and one pending invoice is paid to them."""
        ontop = self.stack.ontop_state
        if ontop is None:
            return None
        invited = next((w for w in ontop.generator.workers if w.status == "INVITATION_SENT"), None)
        pending = self._pending_invoices()
        if invited is None or not pending:
            return None
        ontop.activate_worker(invited.agreement_id)
        self._pay(pending[0], agreementId=invited.agreement_id, workerEmail=invited.email)
        name = f"{invited.first_name or ''} {invited.last_name or ''}".strip() or invited.email
        return f"{name} <{invited.email}> is active; invoice {pending[0]['invoiceNumber']} is now PAID"

    def _pending_invoices(self) -> list[dict[str, Any]]:
        ontop = self.stack.ontop_state
        assert ontop is not None
        return [row for row in _invoice_rows(ontop) if row["status"] == "PENDING"]

    def _pay(self, pending: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """Ontop confirms the payment: PAID, with the exchange rate and USD amounts locked; returns the event."""
        ontop = self.stack.ontop_state
        assert ontop is not None
        rate = Decimal(str(pending.get("exchangeRate") or "0"))
        if pending["currency"] == "USD":
            rate = Decimal(1)
        elif rate <= 0:
            rate = Decimal("4.000000")  # a rate is locked at payment; any plausible one will do for the demo
        lines = [
            {**line, "amountUsd": str((Decimal(str(line["amount"])) / rate).quantize(Decimal("0.01")))}
            for line in pending["lines"]
        ]
        return ontop.touch_invoice(
            pending["invoiceId"],
            status="PAID",
            paidDate=str(ontop.now.date()) if ontop.now else None,
            exchangeRate=f"{rate:.6f}",
            totalUsd=str((Decimal(str(pending["total"])) / rate).quantize(Decimal("0.01"))),
            lines=lines,
            **changes,
        )

    async def _payment_webhook(self) -> str | None:
        """Ontop pays one more invoice and calls the bot's webhook; the sync follows within seconds."""
        ontop = self.stack.ontop_state
        if ontop is None or not ontop.webhook_url:
            return None
        pending = self._pending_invoices()
        if not pending:
            return None
        event = self._pay(pending[0])
        statuses = await ontop.deliver_webhook_async(event)
        return f"invoice {pending[0]['invoiceNumber']} is PAID; Ontop's signed webhook answered HTTP {statuses}"

    async def wait_for_runs(self, finished: int) -> int:
        """Wait until at least `finished` runs have ended and none is queued or running; the newest run's id."""
        # QBO's limits allow about 450 requests a minute, and a bill with its PDF costs about one: allow for that.
        timeout_seconds = 300.0 + self.options.invoices * 0.5
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            async with self.sessions() as session:
                runs = (await session.scalars(select(SyncRun).order_by(SyncRun.id))).all()
            done = [run for run in runs if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING)]
            active = [run for run in runs if run.status in (RunStatus.QUEUED, RunStatus.RUNNING)]
            if len(done) >= finished and not active:
                return done[-1].id
            await asyncio.sleep(0.2)
        raise DemoFailed(f"sync runs did not finish within {timeout_seconds:.0f} s")

    def summary_message(self) -> dict[str, Any] | None:
        """The latest run summary in the finance channel that offers fixes, if any."""
        for message in reversed(self.fake.messages(FINANCE_CHANNEL)):
            if buttons(message):
                return message
        return None

    async def finished_runs(self) -> int:
        async with self.sessions() as session:
            runs = (await session.scalars(select(SyncRun))).all()
        return sum(1 for run in runs if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING))

    async def _disconnect(self, admin: SlackClientSimulator) -> None:
        self.t.step("/qbo disconnect: tokens revoked, mapping forgotten, QuickBooks data left as it is")
        async with self.stack.slack(ADMIN_USER) as slack:
            await self.command(slack, "ann", "disconnect")
            await self.submit(slack, DisconnectIds.CALLBACK, {}, "Disconnect")
            await self.command(slack, "ann", "status")

    # --- the end state --------------------------------------------------------------------------------------------

    def verify(self) -> Verdict:
        """One bill per paid invoice, amounts equal, nothing that existed before touched."""
        qbo, ontop = self.stack.qbo_state, self.stack.ontop_state
        verdict = Verdict()
        if qbo is None or ontop is None:
            return verdict  # external emulators: the summary messages are the evidence
        company = qbo.companies[DEFAULT_REALM]
        with qbo.lock:
            bills = [dict(bill) for bill in company.of("Bill").values()]
            attachables = [dict(item) for item in company.of("Attachable").values()]
        by_doc = Counter(str(bill.get("DocNumber")) for bill in bills)
        bill_by_doc = {str(bill.get("DocNumber")): bill for bill in bills}
        paid = [row for row in _invoice_rows(ontop) if row["status"] == "PAID"]
        verdict.paid_invoices, verdict.bills = len(paid), len(bills)
        for row in paid:
            doc = doc_number_for(row["invoiceNumber"])
            if by_doc[doc] == 0:
                verdict.missing.append(row["invoiceNumber"])
            elif by_doc[doc] > 1:
                verdict.duplicated.append(row["invoiceNumber"])
            else:
                expected = Decimal(str(row["total"] if row["currency"] == "USD" else row["totalUsd"]))
                if Decimal(str(bill_by_doc[doc]["TotalAmt"])) != expected.quantize(Decimal("0.01")):
                    verdict.wrong_amounts.append(row["invoiceNumber"])
        verdict.preexisting_touched = sum(1 for entry in qbo.audit_log() if entry["touched_preexisting"])
        self._print_books(bills, attachables, company)
        return verdict

    def _print_books(self, bills: list[dict[str, Any]], attachables: list[dict[str, Any]], company: Any) -> None:
        self.t.step("What is now in QuickBooks")
        vendors = {vendor["Id"]: vendor["DisplayName"] for vendor in company.of("Vendor").values()}
        attached = {ref["EntityRef"]["value"] for item in attachables for ref in item.get("AttachableRef", [])}
        self.t.say(f"  {'DocNumber':<22} {'Supplier':<30} {'Amount':>12} {'Cur':<4} PDF")
        for bill in sorted(bills, key=lambda item: str(item.get("DocNumber")))[:40]:
            supplier = vendors.get(bill["VendorRef"]["value"], bill["VendorRef"]["value"])
            currency = (bill.get("CurrencyRef") or {}).get("value", "USD")
            pdf = "yes" if bill["Id"] in attached else "-"
            self.t.say(
                f"  {bill.get('DocNumber', ''):<22} {supplier[:30]:<30} {bill['TotalAmt']:>12} {currency:<4} {pdf}"
            )
        if len(bills) > 40:
            self.t.say(f"  … and {len(bills) - 40} more bills")
        created = [vendor for key, vendor in company.of("Vendor").items() if ("Vendor", key) not in company.preexisting]
        self.t.say(f"\n  {len(bills)} bills, {len(attached)} with the invoice PDF, {len(created)} suppliers created")

    async def aclose(self) -> None:
        await self.engine.dispose()

    async def ledger_counts(self) -> dict[str, int]:
        async with self.sessions() as session:
            rows = (await session.scalars(select(SyncedInvoice))).all()
        return dict(Counter(row.state for row in rows))


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


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for block in message.get("blocks", []):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            action_id = str(element.get("action_id", ""))
            if action_id in {str(fix) for fix in FixIds}:
                found.append((action_id, str(element.get("text", {}).get("text", ""))))
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


def _invoice_rows(ontop: Any) -> list[dict[str, Any]]:
    rows: dict[int, dict[str, Any]] = {}
    for row in ontop.generator.invoice_rows(ontop.now):
        current = ontop.invoice_row(row["invoiceId"]) or row
        rows[current["invoiceId"]] = current
    return list(rows.values())


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
            Path(options.json_path).write_text(json.dumps({"ok": verdict.ok, **asdict(verdict)}, indent=2))
        if options.keep:
            keep_running(stack, stream)
    return 0 if verdict.ok else 1


async def _run(demo: Demo) -> Verdict:
    try:
        return await demo.run()
    finally:
        await demo.aclose()


def report(verdict: Verdict, transcript: Transcript) -> None:
    transcript.step("Checked")
    if not verdict.paid_invoices:
        transcript.say("  (emulators started separately: see the summaries above)")
        return
    transcript.say(f"  {verdict.paid_invoices} paid Ontop invoices, {verdict.bills} bills in QuickBooks")
    transcript.say(
        f"  missing: {len(verdict.missing)} · duplicated: {len(verdict.duplicated)} · "
        f"wrong amount: {len(verdict.wrong_amounts)} · pre-existing records touched: "
        f"{verdict.preexisting_touched}"
    )
    transcript.say(f"  walkthrough took {verdict.seconds:.1f} s")
    transcript.say("  ✅ every promise held" if verdict.ok else "  ❌ a promise was broken (see above)")


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
