"""A driver for the whole product on loopback (devtools.stack.LocalStack) and the checks every fault test ends with.

The stack's web app and embedded worker run in their own thread and event loop; the test talks to the same database
through its own `Runtime` (built from the stack's settings), so no connection pool is shared across event loops.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

import httpx
from sqlalchemy import select

from bot.runtime import Runtime, build_runtime
from devtools.browser import Browser, Page
from devtools.stack import ADMIN_USER, FINANCE_CHANNEL, TEAM_ID, LocalStack
from emulators.ontop.app import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD
from emulators.qbo.state import DEFAULT_REALM
from storage.models import InvoiceState, LedgerPosting, PostingKind, RunStatus, SyncedInvoice, SyncRun
from storage.repos.connections import ConnectionRepo
from storage.repos.workspaces import WorkspaceRepo
from sync.api import CREATE_WALLET, BooksChoice, ReviewSettings, TeamRef
from sync.bills import doc_number_for
from sync.qbo.limiter import RateLimits

TEAM = TeamRef(TEAM_ID)
UNKNOWN_CONCEPT = "HOLIDAY_PAY"  # the generated company uses one concept Ontop does not document: never mapped
TERMINAL = {RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.CANCELLED}


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, timeout_seconds: float = 30.0, what: str = "condition"
) -> None:
    """Poll `check` every few milliseconds until it holds; fail with `what` after the timeout (never a fixed sleep)."""
    deadline = time.monotonic() + timeout_seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class Outcome:
    """What the checks found after the runs settled."""

    expected_doc_numbers: set[str]
    bill_counts: Counter[str]
    runs: list[SyncRun]

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self.bill_counts.values() if count > 1)

    @property
    def lost(self) -> int:
        return len(self.expected_doc_numbers - set(self.bill_counts))


def is_left_for_next_run(row: SyncedInvoice) -> bool:
    """Outcome unknown (pending) or a transient failure the engine said the next run will retry."""
    return row.state == InvoiceState.PENDING or (
        row.state == InvoiceState.FAILED and "the next run will" in (row.error_message or "")
    )


NO_REVIEW = ReviewSettings(first_sync=False)  # the product asks an admin to approve the first sync; not here


class Driver:
    """Set-up steps an admin does in Slack (done through the service, plus the real QBO callback route) and checks."""

    def __init__(self, stack: LocalStack) -> None:
        assert stack.settings is not None
        self.stack = stack
        self.runtime: Runtime = build_runtime(
            stack.settings, rate_limits=RateLimits(time_scale=stack.options.time_scale)
        )
        self.connection_id: int | None = None

    async def aclose(self) -> None:
        await self.runtime.aclose()

    # --- set-up -------------------------------------------------------------------------------------------------

    async def configure(
        self,
        *,
        finance_channel: str | None = FINANCE_CHANNEL,
        auto_create_vendors: bool = True,
        review: ReviewSettings | None = None,
    ) -> None:
        """Workspace settings; `review`: the connection's approval gate (once QuickBooks is connected)."""
        service = self.runtime.service
        current = await service.ensure_workspace(TEAM, "Acme")
        await service.update_settings(
            TEAM,
            ADMIN_USER,
            finance_channel_id=finance_channel,
            sync_hour=current.sync_hour,
            timezone=current.timezone,
            admin_user_ids=[ADMIN_USER],
            auto_create_vendors=auto_create_vendors,
            review=review,
        )

    async def connect_qbo(self) -> httpx.Response:
        """The connect modal's QuickBooks button in one browser: the app's /qbo/start (sets the cookie), consent at
        the QBO emulator, then its redirect to the app's real /qbo/callback route (with the cookie)."""
        start = await self.runtime.service.qbo_connect_page(TEAM, ADMIN_USER)
        async with httpx.AsyncClient(timeout=10, follow_redirects=True) as browser:
            answer = await browser.get(start)
        assert urlparse(str(answer.url)).path == "/qbo/callback", answer.url
        return answer

    async def connect_ontop_in_browser(self) -> Page:
        """The connect modal's Ontop button: the app's login page, filled and submitted in a browser."""
        assert self.stack.ontop_state is not None
        page_url = await self.runtime.service.ontop_login_page(TEAM, ADMIN_USER)
        async with Browser() as browser:
            return await browser.fill_ontop_login(
                page_url,
                DEFAULT_ADMIN_EMAIL,
                DEFAULT_ADMIN_PASSWORD,
                self.stack.ontop_state.generator.start.date().isoformat(),  # the generated history, not this month
            )

    async def connect(self, *, map_all: bool = True, ontop_in_browser: bool = False) -> int:
        """Workspace settings, QBO, Ontop; mapping every known concept queues the first sync (the worker runs it).

        Args:
            ontop_in_browser: save the Ontop login through the app's login page (else through the service).
        """
        await self.configure()
        answer = await self.connect_qbo()
        assert answer.status_code == 200, answer.text
        assert self.stack.ontop_state is not None
        if ontop_in_browser:
            page = await self.connect_ontop_in_browser()
            assert page.status == 200, page.text
        else:
            await self.runtime.service.save_ontop_credentials(
                TEAM,
                ADMIN_USER,
                DEFAULT_ADMIN_EMAIL,
                DEFAULT_ADMIN_PASSWORD,
                self.stack.ontop_state.generator.start.date(),  # the generated history, not just this month
            )
        await self.runtime.service.save_books(TEAM, ADMIN_USER, BooksChoice(pay_from=CREATE_WALLET))
        await self.configure(review=NO_REVIEW)  # these suites check other promises: the first sync posts at once
        self.connection_id = await self.current_connection_id()
        if map_all:
            await self.map_everything()
        return self.connection_id

    async def current_connection_id(self) -> int:
        async with self.runtime.sessions() as session:
            workspace = await WorkspaceRepo(session).find(TEAM.team_id, None)
            assert workspace is not None
            connection = await ConnectionRepo(session).current(workspace.id)
            assert connection is not None
            return connection.id

    async def map_everything(self) -> None:
        service = self.runtime.service
        accounts = await service.account_options(TEAM)
        contractors = next(option for option in accounts if "Contractors" in option.name)
        rows = await service.mapping_rows(TEAM)
        await service.save_mappings(
            TEAM, ADMIN_USER, {row.concept: contractors.account_id for row in rows if row.concept != UNKNOWN_CONCEPT}
        )

    # --- waiting ------------------------------------------------------------------------------------------------

    async def runs(self) -> list[SyncRun]:
        async with self.runtime.sessions() as session:
            return list((await session.scalars(select(SyncRun).order_by(SyncRun.id))).all())

    async def wait_for_runs_to_settle(self, *, at_least: int = 1, timeout_seconds: float = 45.0) -> list[SyncRun]:
        """Until `at_least` runs exist and none is queued or running (the embedded worker did its work)."""

        async def settled() -> bool:
            runs = await self.runs()
            return len(runs) >= at_least and all(run.status in TERMINAL for run in runs)

        await wait_until(settled, timeout_seconds=timeout_seconds, what=f"{at_least} run(s) to finish")
        return await self.runs()

    # --- facts --------------------------------------------------------------------------------------------------

    def qbo_bills(self) -> list[dict[str, Any]]:
        state = self.stack.qbo_state
        assert state is not None
        with state.lock:
            return [dict(bill) for bill in state.companies[DEFAULT_REALM].of("Bill").values()]

    def eligible_invoices(self) -> list[dict[str, Any]]:
        """PAID invoices whose every line has a mapped concept: each must end up as exactly one Bill."""
        ontop = self.stack.ontop_state
        assert ontop is not None
        current = [ontop.invoice_row(int(row["invoiceId"])) for row in ontop.generator.invoice_rows(ontop.now)]
        return [
            row
            for row in current
            if row is not None
            and row["status"] == "PAID"
            and all(line["concept"] != UNKNOWN_CONCEPT for line in row["lines"])
        ]

    async def ledger(self) -> list[SyncedInvoice]:
        async with self.runtime.sessions() as session:
            return list((await session.scalars(select(SyncedInvoice).order_by(SyncedInvoice.id))).all())

    async def check_exactly_once(
        self, *, not_ours: frozenset[str] = frozenset(), refused: frozenset[str] = frozenset()
    ) -> Outcome:
        """Every eligible invoice has exactly one Bill (and one fee bill when it has Ontop fees), no Bill is extra,
        every Bill is paid exactly once, and the ledger agrees with QBO.

        Args:
            not_ours: ids of bills that existed in QBO before the bot (ignored, and checked untouched elsewhere).
            refused: DocNumbers QBO refuses for a reason the user must fix (they must have no bill of ours).
        """
        bills = [bill for bill in self.qbo_bills() if str(bill["Id"]) not in not_ours]
        counts = Counter(str(bill.get("DocNumber")) for bill in bills)
        eligible = self.eligible_invoices()
        expected = {doc_number_for(row["invoiceNumber"]) for row in eligible} - refused
        fee_numbers = {
            doc_number_for(row["invoiceNumber"], "-F")
            for row in eligible
            if doc_number_for(row["invoiceNumber"]) not in refused
            and any(line["concept"] == "FEE" for line in row["lines"])
        }
        assert expected, "the generated company has eligible invoices"
        duplicated = {doc: n for doc, n in counts.items() if n > 1}
        assert not duplicated, f"duplicate bills: {duplicated}"
        assert expected | fee_numbers == set(counts), (
            f"missing: {sorted((expected | fee_numbers) - set(counts))[:5]}, "
            f"unexpected: {sorted(set(counts) - expected - fee_numbers)[:5]}"
        )
        bill_ids = {str(bill["Id"]): str(bill.get("DocNumber")) for bill in bills}
        created = [row for row in await self.ledger() if row.state == InvoiceState.CREATED]
        fee_ids = {posting.qbo_id for posting in await self.postings() if posting.kind == PostingKind.FEE_BILL}
        assert {row.qbo_bill_id for row in created} | fee_ids == set(bill_ids), "ledger and QBO disagree on bill ids"
        for row in created:
            assert bill_ids[str(row.qbo_bill_id)] == row.doc_number, row.ontop_invoice_id
        by_doc = {str(bill.get("DocNumber")): bill for bill in bills}
        for row in created:
            assert row.amount is not None
            assert Decimal(str(by_doc[str(row.doc_number)]["TotalAmt"])) == row.amount, row.ontop_invoice_id
        self.check_paid_once(bills)
        return Outcome(expected, counts, await self.runs())

    def check_paid_once(self, bills: list[dict[str, Any]]) -> None:
        """Every bill of ours is paid, by exactly one payment."""
        state = self.stack.qbo_state
        assert state is not None
        with state.lock:
            payments = [dict(p) for p in state.companies[DEFAULT_REALM].of("BillPayment").values()]
        paid = Counter(link["TxnId"] for payment in payments for line in payment["Line"] for link in line["LinkedTxn"])
        for bill in bills:
            assert Decimal(str(bill["Balance"])) == 0 and paid[str(bill["Id"])] == 1, bill["DocNumber"]

    async def postings(self) -> list[LedgerPosting]:
        async with self.runtime.sessions() as session:
            return list((await session.scalars(select(LedgerPosting).order_by(LedgerPosting.id))).all())

    async def describe(self) -> str:
        """The runs and the open ledger rows, for failure messages."""
        lines = [
            f"run {run.id} {run.trigger} {run.status} attempt={run.attempt} created={run.bills_created} "
            f"already={run.already_synced} failed={run.failed} error={run.error_summary!r}"
            for run in await self.runs()
        ]
        lines += [
            f"ledger {row.invoice_number} {row.state} {row.error_code} {row.error_message!r}"
            for row in await self.ledger()
            if row.state != InvoiceState.CREATED
        ]
        return "\n".join(lines)

    async def request_sync_in_slack(self) -> None:
        """An admin types `/qbo sync` in the finance channel."""
        async with self.stack.slack(ADMIN_USER) as slack:
            answer = await slack.command("sync")
        assert answer.status_code == 200, answer.text

    async def settle_and_finish(self, *, max_extra_runs: int = 2) -> list[SyncRun]:
        """Wait for the runs; while invoices are left for the next run or the last run failed, ask for another sync
        (as the person reading the summary would)."""
        runs = await self.wait_for_runs_to_settle()
        for _ in range(max_extra_runs):
            open_rows = [row for row in await self.ledger() if is_left_for_next_run(row)]
            last_failed = bool(runs) and runs[-1].status == RunStatus.FAILED
            if not open_rows and not last_failed:
                break
            await self.request_sync_in_slack()
            runs = await self.wait_for_runs_to_settle(at_least=len(runs) + 1)
        return runs

    async def check_user_was_told(self, runs: list[SyncRun], channel_id: str = FINANCE_CHANNEL) -> None:
        """Each finished run has exactly one summary in the finance channel (and one reply that notifies), found by
        the run id its message metadata carries: at least once, and never twice, whatever was killed when."""
        for run in runs:

            async def posted(run_id: int = run.id) -> bool:
                return len(self.summaries_of(run_id, channel_id)) >= 1

            await wait_until(posted, timeout_seconds=20, what=f"the summary of run #{run.id} in {channel_id}")
        await asyncio.sleep(0.5)  # a redelivery racing the check would show up as a second summary
        for run in runs:
            summaries = self.summaries_of(run.id, channel_id)
            assert len(summaries) == 1, f"run #{run.id} has {len(summaries)} summaries"
            assert f"#{run.id}" in str(summaries[0].get("text")), summaries[0].get("text")
            replies = [m for m in self.parts_of(run.id, channel_id) if m[0] == "reply"]
            assert len(replies) == 1, f"run #{run.id} has {len(replies)} notifying replies"

    def parts_of(self, run_id: int, channel_id: str = FINANCE_CHANNEL) -> list[tuple[str, dict[str, Any]]]:
        """(part, message) of every message the bot posted about a run (top-level and in threads)."""
        found = []
        for message in self.finance_messages(channel_id):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("run_id") == run_id:
                found.append((str(payload.get("part")), message))
        return found

    def summaries_of(self, run_id: int, channel_id: str = FINANCE_CHANNEL) -> list[dict[str, Any]]:
        return [message for part, message in self.parts_of(run_id, channel_id) if part == "top"]

    def finance_messages(self, channel_id: str = FINANCE_CHANNEL) -> list[dict[str, Any]]:
        return self.stack.fake_slack.messages(channel_id)


async def assert_nothing_lost_nor_doubled(
    driver: Driver,
    *,
    not_ours: frozenset[str] = frozenset(),
    refused: frozenset[str] = frozenset(),
    taken_over: bool = False,
) -> Outcome:
    """What every fault test promises: one bill per eligible invoice, ledger = QBO, summaries right and posted.

    Args:
        taken_over: a run was taken over from a killed worker (its counts restart with the new attempt).
    """
    runs = await driver.settle_and_finish()
    try:
        outcome = await driver.check_exactly_once(not_ours=not_ours, refused=refused)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{await driver.describe()}") from None
    counts = [
        (run.id, run.status, run.attempt, run.bills_created, run.fee_bills_created, run.already_synced) for run in runs
    ]
    fee_bills = sum(count for number, count in outcome.bill_counts.items() if number.endswith("-F"))
    own_bills = sum(outcome.bill_counts.values()) - fee_bills
    created = sum(run.bills_created for run in runs)
    fees_created = sum(run.fee_bills_created for run in runs)
    if taken_over:
        # A run taken over from a killed worker counts the dead attempt's invoices as "already synced" (see
        # docs/reliability.md), fee bills included: the counts still account for every bill, none twice.
        already = sum(run.already_synced for run in runs)
        assert created <= own_bills <= created + already, f"runs vs QBO: {counts}"
        assert fees_created <= fee_bills <= fees_created + already, f"runs vs QBO: {counts}"
    else:
        assert (created, fees_created) == (own_bills, fee_bills), f"runs vs QBO: {counts}"
    await driver.check_user_was_told(runs)
    return outcome
