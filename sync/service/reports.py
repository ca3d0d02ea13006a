"""Read models for Slack: a connection's status and a run's summary with its failures, from the database."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    ConnectionStatus,
    InvoiceState,
    NotificationState,
    PostingKind,
    PostingState,
    RunStatus,
    RunTrigger,
)
from storage.records import ConnectionRecord, LedgerEntry, NotificationRecord, RunRecord, WorkspaceRecord
from storage.repos.accounts import AccountRepo
from storage.repos.connections import ConnectionRepo
from storage.repos.ledger import LedgerRepo
from storage.repos.mappings import MappingRepo
from storage.repos.notifications import NotificationRepo
from storage.repos.postings import PostingRepo
from storage.repos.reviews import ReviewRepo
from storage.repos.runs import RunRepo
from storage.repos.vendor_links import VendorLinkRepo
from storage.repos.workspaces import WorkspaceRepo
from sync import messages, scheduler
from sync.api import (
    ConnectionChoice,
    ConnectionStatusView,
    Fix,
    FixKind,
    InvoiceFailure,
    QboLinks,
    ReviewCase,
    ReviewRef,
    ReviewState,
    RowOutcome,
    RunDetails,
    RunLedgerRow,
    RunSummary,
    TeamRef,
    WorkspaceSettings,
)
from sync.books import PAY_FROM_TYPES
from sync.failures import group_failures
from sync.plan import EXCLUDED_IN_REVIEW, REVIEW_CODES
from sync.service.base import ServiceContext, choice_of, resolve_connection

__all__ = ["Reports", "failures_csv", "group_failures", "run_summary_of", "workspace_settings"]

MAX_FAILURES_IN_SUMMARY = 50
RECENT_RUNS = 5  # the App Home's latest runs


def workspace_settings(
    team: TeamRef, workspace: WorkspaceRecord, connection: ConnectionRecord | None = None, connections: int = 0
) -> WorkspaceSettings:
    """The workspace's settings, or a connection's: its own channel, hour and time zone where it has them."""
    if connection is None:
        return WorkspaceSettings(
            team=team,
            finance_channel_id=workspace.finance_channel_id,
            sync_hour=workspace.sync_hour,
            timezone=workspace.timezone,
            admin_user_ids=list(workspace.admin_user_ids),
            auto_create_vendors=workspace.auto_create_vendors,
            installer_user_id=workspace.installed_by,
            connections=connections,
        )
    return WorkspaceSettings(
        team=team.on(connection.id),
        finance_channel_id=connection.finance_channel_id or workspace.finance_channel_id,
        sync_hour=workspace.sync_hour if connection.sync_hour is None else connection.sync_hour,
        timezone=connection.timezone or workspace.timezone,
        admin_user_ids=list(workspace.admin_user_ids),
        auto_create_vendors=workspace.auto_create_vendors,
        installer_user_id=workspace.installed_by,
        connection_id=connection.id,
        connection_name=connection.name,
        company_name=connection.company_name,
        connections=connections,
    )


def run_summary_of(run: RunRecord) -> RunSummary:
    """The handler-facing view of a run without its failures (those come from the ledger)."""
    return RunSummary(
        run_id=run.id,
        trigger=RunTrigger(run.trigger),
        status=RunStatus(run.status),
        requested_by=run.requested_by,
        queued_at=run.queued_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        invoices_seen=run.invoices_seen,
        bills_created=run.bills_created,
        already_synced=run.already_synced,
        skipped=run.skipped,
        failed=run.failed,
        vendors_created=run.vendors_created,
        api_calls=run.api_calls,
        error_summary=run.error_summary,
        payments_created=run.payments_created,
        fee_bills_created=run.fee_bills_created,
        credits_created=run.credits_created,
        home_differences=run.home_differences,
        held=run.held,
        review_count=run.review_cases,
        progress_message=(run.progress_channel, run.progress_ts) if run.progress_channel and run.progress_ts else None,
        connection_id=run.connection_id,
        attachments_created=run.attachments_created,
        payments_to_follow=run.payments_to_follow,
        fee_bills_to_follow=run.fee_bills_to_follow,
        pdfs_to_follow=run.pdfs_to_follow,
        follow_up_run_id=run.follow_up_run_id,
    )


def failure_of(entry: LedgerEntry) -> InvoiceFailure:
    worker = entry.worker_name or f"contract {entry.agreement_id}"
    fix = None
    if entry.fix_action:
        kind, target = FixKind(entry.fix_action), entry.fix_value or ""
        target_name = ""
        if kind is FixKind.CREATE_VENDOR:
            target_name = worker
        elif kind is FixKind.CREATE_VENDOR_IN_CURRENCY:  # target "agreement:CUR" -> "Ana Gómez (EUR)"
            target_name = f"{worker} ({target.rpartition(':')[2]})"
        elif kind in (FixKind.RETRY, FixKind.LINK_BILL, FixKind.SKIP_INVOICE):
            target_name = entry.invoice_number  # per-invoice fixes are named by the invoice
        fix = Fix(kind, target, target_name, entry.connection_id)
    return InvoiceFailure(
        invoice_id=entry.invoice_id,
        invoice_number=entry.invoice_number,
        worker_name=worker,
        amount=entry.amount,
        currency=entry.currency,
        reason=entry.error_message or entry.error_code or "failed",
        fix=fix,
        code=entry.error_code or "",
        amount_usd=entry.usd_total if entry.currency and entry.currency != "USD" else None,
    )


def review_case_of(entry: LedgerEntry) -> ReviewCase:
    return ReviewCase(
        invoice_id=entry.invoice_id,
        invoice_number=entry.invoice_number,
        worker_name=entry.worker_name or f"contract {entry.agreement_id}",
        reason=entry.error_message or entry.error_code or "",
        document_id=entry.qbo_bill_id,
        document_number=entry.doc_number,
    )


async def run_failures(session: AsyncSession, run: RunRecord) -> tuple[list[InvoiceFailure], list[ReviewCase]]:
    """All of a run's failures (connection-wide prompts first) and its review cases, however many there are."""
    entries = await LedgerRepo(session, run.connection_id).list_problems_of_run(run.id)
    failures = [failure_of(entry) for entry in entries if entry.state in (InvoiceState.FAILED, InvoiceState.PENDING)]
    reviews = [review_case_of(entry) for entry in entries if entry.error_code in REVIEW_CODES]
    connection = await ConnectionRepo(session).get(run.connection_id)
    if connection is not None and connection.status == ConnectionStatus.NEEDS_REAUTH:
        reconnect = Fix(FixKind.RECONNECT, str(connection.id), connection.company_name, connection.id)
        failures.insert(
            0, InvoiceFailure("", "", connection.company_name, None, None, messages.RECONNECT, reconnect, "reauth")
        )
    elif connection is not None and await _bills_wait_for_a_pay_from_account(session, connection):
        choose = Fix(FixKind.BOOKS, str(connection.id), connection.company_name, connection.id)
        failures.insert(
            0,
            InvoiceFailure(
                "", "", connection.company_name, None, None, messages.CHOOSE_PAY_FROM, choose, "no_pay_from"
            ),
        )
    return failures, reviews


async def run_summary(session: AsyncSession, run: RunRecord) -> RunSummary:
    """A run with every failure counted by cause (a sample listed), its review cases, and connection prompts."""
    failures, reviews = await run_failures(session, run)
    connection = await ConnectionRepo(session).get(run.connection_id)
    posted = await ReviewRepo(session).get_posted_by_run(run.id)
    booked = await LedgerRepo(session, run.connection_id).usd_booked_by_runs([run.id])
    return dataclasses.replace(
        run_summary_of(run),
        failures=failures[:MAX_FAILURES_IN_SUMMARY],
        failure_groups=group_failures(failures),
        review_cases=reviews[:MAX_FAILURES_IN_SUMMARY],
        review_count=max(len(reviews), run.review_cases),
        home_currency=connection.home_currency if connection else "USD",
        connection_name=connection.name if connection else "",
        review=await review_ref(session, run),
        posted_review_id=posted.id if posted else None,
        usd_booked=booked.get(run.id),
    )


async def review_ref(session: AsyncSession, run: RunRecord) -> ReviewRef | None:
    """The review a run made (it then posted nothing) or waited for (another one was pending)."""
    reviews = ReviewRepo(session)
    made = await reviews.get_made_by_run(run.id)
    found = made or (await reviews.get(run.review_id) if run.review_id is not None else None)
    if found is None:
        return None
    return ReviewRef(found.id, ReviewState(found.state), await reviews.count_included(found.id), made is not None)


async def run_history(session: AsyncSession, connection_id: int, limit: int) -> list[RunSummary]:
    """The connection's latest runs, newest first, each with what it booked in USD and its review."""
    runs = await RunRepo(session).history(connection_id, limit=limit)
    booked = await LedgerRepo(session, connection_id).usd_booked_by_runs([run.id for run in runs])
    return [
        dataclasses.replace(run_summary_of(run), usd_booked=booked.get(run.id), review=await review_ref(session, run))
        for run in runs
    ]


def row_outcome(entry: LedgerEntry) -> RowOutcome:
    """What became of an invoice, from its ledger row."""
    if entry.error_code in REVIEW_CODES:
        return RowOutcome.REVIEW
    if entry.state == InvoiceState.CREATED:
        return RowOutcome.CREATED
    if entry.state == InvoiceState.FAILED or (entry.state == InvoiceState.PENDING and entry.error_code):
        return RowOutcome.FAILED
    if entry.state == InvoiceState.PENDING:
        return RowOutcome.PENDING
    return RowOutcome.EXCLUDED if entry.error_code == EXCLUDED_IN_REVIEW else RowOutcome.SKIPPED


async def run_ledger_rows(session: AsyncSession, run: RunRecord) -> list[RunLedgerRow]:
    """Every invoice the run wrote about, with its documents (bill or credit, payment) and its outcome."""
    entries = await LedgerRepo(session, run.connection_id).list_of_run(run.id)
    postings = await PostingRepo(session, run.connection_id).of_invoices([entry.invoice_id for entry in entries])
    rows = []
    for entry in entries:
        payment = postings.get((entry.invoice_id, PostingKind.PAYMENT))
        outcome = row_outcome(entry)
        usd = entry.usd_total if entry.usd_total is not None else (entry.amount if entry.currency == "USD" else None)
        rows.append(
            RunLedgerRow(
                invoice_id=entry.invoice_id,
                invoice_number=entry.invoice_number,
                worker_name=entry.worker_name or f"contract {entry.agreement_id}",
                amount=entry.amount,
                currency=entry.currency,
                amount_usd=usd,
                outcome=outcome,
                message=entry.error_message or "",
                bill_id=entry.qbo_bill_id,
                document=entry.document,
                payment_id=payment.qbo_id if payment is not None and payment.state == PostingState.DONE else None,
                fix=failure_of(entry).fix if outcome is RowOutcome.FAILED else None,
            )
        )
    return rows


def failures_csv(failures: list[InvoiceFailure], reviews: list[ReviewCase]) -> str:
    """Every failure and review case of a run, one row each, for a spreadsheet (the complete list)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["kind", "invoice", "worker", "amount", "currency", "amount_usd", "reason", "fix", "fix_target", "bill"]
    )
    for failure in failures:
        writer.writerow(
            _cell(value)
            for value in [
                "failure",
                failure.invoice_number,
                failure.worker_name,
                "" if failure.amount is None else f"{failure.amount:.2f}",
                failure.currency or "",
                "" if failure.amount_usd is None else f"{failure.amount_usd:.2f}",
                failure.reason,
                str(failure.fix.kind) if failure.fix else "",
                failure.fix.target_name or failure.fix.target if failure.fix else "",
                "",
            ]
        )
    for case in reviews:
        row = ["review", case.invoice_number, case.worker_name, "", "", "", case.reason, "", "", case.document_number]
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


LEDGER_CSV_COLUMNS = [
    "invoice",
    "worker",
    "amount",
    "currency",
    "amount_usd",
    "bill_id",
    "bill_link",
    "payment_id",
    "outcome",
    "message",
]


def ledger_csv(rows: list[RunLedgerRow], links: QboLinks | None = None) -> str:
    """A run's ledger rows, one per invoice, for a spreadsheet (`links`: the QuickBooks host for bill links)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(LEDGER_CSV_COLUMNS)
    for row in rows:
        link = ""
        if links is not None and row.bill_id:
            link = links.vendor_credit(row.bill_id) if row.document == "vendor_credit" else links.bill(row.bill_id)
        values = [
            row.invoice_number,
            row.worker_name,
            _amount(row.amount),
            row.currency or "",
            _amount(row.amount_usd),
            row.bill_id or "",
            link,
            row.payment_id or "",
            str(row.outcome),
            row.message,
        ]
        writer.writerow([_cell(value) for value in values])
    return out.getvalue()


def _amount(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _cell(value: str | None) -> str:
    """A spreadsheet cell that stays text: names from Ontop never run as formulas (CSV injection)."""
    text = value or ""
    if text[:1] not in ("=", "+", "-", "@", "\t", "\r"):
        return text
    try:
        Decimal(text)  # a negative amount is a number, not a formula
        return text
    except InvalidOperation:
        return "'" + text


async def _bills_wait_for_a_pay_from_account(session: AsyncSession, connection: ConnectionRecord) -> bool:
    """Payments are on, but no usable account pays the bills (never chosen, or deleted in QuickBooks since)."""
    if not connection.payments_enabled:
        return False
    usable = await AccountRepo(session).list_active(connection.id, types=PAY_FROM_TYPES)
    if any(account.qbo_id == connection.pay_from_account_id for account in usable):
        return False
    return bool(await PostingRepo(session, connection.id).list_unpaid_bills(1))


async def connection_status(
    session: AsyncSession, team: TeamRef, workspace: WorkspaceRecord, connection: ConnectionRecord
) -> ConnectionStatusView:
    """What `/qbo status` and the App Home show about a workspace's connection."""
    ledger = LedgerRepo(session, connection.id)
    runs = RunRepo(session)
    mappings = await MappingRepo(session).get_all(connection.id)
    blocked = await ledger.count_failed_by_fix_target(FixKind.MAP_CONCEPT)
    history = await runs.history(connection.id, limit=RECENT_RUNS)
    active = await runs.active(connection.id)
    last = next((run for run in history if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING)), None)
    latest = await NotificationRepo(session).latest_settled(workspace.id)
    failed = await ledger.list_in_states([InvoiceState.FAILED])
    settings = workspace_settings(
        team, workspace, connection, len(await ConnectionRepo(session).list_open(workspace.id))
    )
    return ConnectionStatusView(
        connection_id=connection.id,
        status=connection.status,
        company_name=connection.company_name,
        realm_id=connection.realm_id,
        home_currency=connection.home_currency,
        multicurrency_enabled=connection.multicurrency_enabled,
        ontop_connected=connection.ontop_connected,
        mapped_concepts=len(mappings),
        unmapped_concepts=sorted(set(blocked) - set(mappings)),
        vendors_linked=len(await VendorLinkRepo(session).get_all(connection.id)),
        bills_created_total=await ledger.count_in_state(InvoiceState.CREATED),
        failed_invoices=len(failed),
        last_run=await run_summary(session, last) if last else None,
        active_run=run_summary_of(active) if active else None,
        next_daily_run_at=scheduler.next_daily_run_at(settings.sync_hour, settings.timezone, datetime.now(UTC)),
        settings=settings,
        open_failures=group_failures(
            [failure_of(entry) for entry in await ledger.list_in_states([InvoiceState.FAILED])]
        ),
        open_reviews=[review_case_of(entry) for entry in await ledger.list_with_codes(sorted(REVIEW_CODES))],
        last_notification_at=latest.delivered_at if latest else None,
        notifications_problem=notification_problem(latest),
        recent_runs=await run_history(session, connection.id, RECENT_RUNS),
        name=connection.name,
    )


def notification_problem(latest: NotificationRecord | None) -> str | None:
    """Why the latest summary or alert did not reach the finance channel (None when it did)."""
    if latest is None:
        return None
    if latest.state == NotificationState.FAILED:
        return messages.notification_reached_nobody()
    if latest.fell_back:
        return messages.notification_fell_back(latest.fell_back)
    return None


class Reports:
    """`/qbo status`, the App Home and run summaries."""

    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def status(self, team: TeamRef) -> ConnectionStatusView | None:
        async with self._context.sessions() as session:
            workspace = await WorkspaceRepo(session).find(team.team_id, team.enterprise_id)
            connection = await resolve_connection(session, workspace.id, team) if workspace else None
            if workspace is None or connection is None:
                return None
            return await connection_status(session, team, workspace, connection)

    async def statuses(self, team: TeamRef) -> list[ConnectionStatusView]:
        async with self._context.sessions() as session:
            workspace = await WorkspaceRepo(session).find(team.team_id, team.enterprise_id)
            if workspace is None:
                return []
            connections = await ConnectionRepo(session).list_open(workspace.id)
            return [await connection_status(session, team.on(one.id), workspace, one) for one in connections]

    async def connections(self, team: TeamRef) -> list[ConnectionChoice]:
        async with self._context.sessions() as session:
            workspace = await WorkspaceRepo(session).find(team.team_id, team.enterprise_id)
            connections = await ConnectionRepo(session).list_open(workspace.id) if workspace else []
        return [choice_of(connection) for connection in connections]

    async def run_summary(self, team: TeamRef, run_id: int) -> RunSummary | None:
        async with self._context.sessions() as session:
            workspace = await WorkspaceRepo(session).find(team.team_id, team.enterprise_id)
            run = await RunRepo(session).get(run_id)
            if workspace is None or run is None:
                return None
            connection = await ConnectionRepo(session).get(run.connection_id)
            if connection is None or connection.workspace_id != workspace.id:
                return None  # never show another workspace's run
            return await run_summary(session, run)

    async def run_failures(self, team: TeamRef, run_id: int) -> tuple[list[InvoiceFailure], list[ReviewCase]]:
        """Every failure and review case of one of the workspace's runs (for the thread pages and the CSV)."""
        async with self._context.sessions() as session:
            run = await self._own_run(session, team, run_id)
            return await run_failures(session, run) if run is not None else ([], [])

    async def run_failures_csv(self, team: TeamRef, run_id: int) -> str:
        failures, reviews = await self.run_failures(team, run_id)
        return failures_csv(failures, reviews)

    async def run_details(self, team: TeamRef, run_id: int) -> RunDetails | None:
        """`/qbo run N`: the run's summary and every invoice it wrote about."""
        async with self._context.sessions() as session:
            run = await self._own_run(session, team, run_id)
            if run is None:
                return None
            return RunDetails(await run_summary(session, run), await run_ledger_rows(session, run))

    async def run_ledger_csv(self, team: TeamRef, run_id: int, links: QboLinks | None = None) -> str:
        async with self._context.sessions() as session:
            run = await self._own_run(session, team, run_id)
            rows = await run_ledger_rows(session, run) if run is not None else []
        return ledger_csv(rows, links)

    async def run_history(self, team: TeamRef, limit: int = 20) -> list[RunSummary]:
        connection = await self._context.find_connection(team)
        if connection is None:
            return []
        async with self._context.sessions() as session:
            return await run_history(session, connection.id, limit)

    async def _own_run(self, session: AsyncSession, team: TeamRef, run_id: int) -> RunRecord | None:
        workspace = await WorkspaceRepo(session).find(team.team_id, team.enterprise_id)
        run = await RunRepo(session).get(run_id)
        if workspace is None or run is None:
            return None
        connection = await ConnectionRepo(session).get(run.connection_id)
        if connection is None or connection.workspace_id != workspace.id:
            return None  # never another workspace's run
        return run
