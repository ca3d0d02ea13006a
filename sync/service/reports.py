"""Read models for Slack: a connection's status and a run's summary with its failures, from the database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConnectionStatus, InvoiceState, RunStatus, RunTrigger
from storage.records import ConnectionRecord, LedgerEntry, RunRecord, WorkspaceRecord
from storage.repos.accounts import AccountRepo
from storage.repos.connections import ConnectionRepo
from storage.repos.ledger import LedgerRepo
from storage.repos.mappings import MappingRepo
from storage.repos.postings import PostingRepo
from storage.repos.runs import RunRepo
from storage.repos.vendor_links import VendorLinkRepo
from storage.repos.workspaces import WorkspaceRepo
from sync import messages, scheduler
from sync.api import ConnectionStatusView, Fix, FixKind, InvoiceFailure, RunSummary, TeamRef, WorkspaceSettings
from sync.books import PAY_FROM_TYPES
from sync.service.base import ServiceContext

MAX_FAILURES_IN_SUMMARY = 50


def workspace_settings(team: TeamRef, workspace: WorkspaceRecord) -> WorkspaceSettings:
    return WorkspaceSettings(
        team=team,
        finance_channel_id=workspace.finance_channel_id,
        sync_hour=workspace.sync_hour,
        timezone=workspace.timezone,
        admin_user_ids=list(workspace.admin_user_ids),
        auto_create_vendors=workspace.auto_create_vendors,
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
        fix = Fix(kind, target, target_name)
    return InvoiceFailure(
        invoice_id=entry.invoice_id,
        invoice_number=entry.invoice_number,
        worker_name=worker,
        amount=entry.amount,
        currency=entry.currency,
        reason=entry.error_message or entry.error_code or "failed",
        fix=fix,
    )


async def run_summary(session: AsyncSession, run: RunRecord) -> RunSummary:
    """A run with its failed invoices and a reconnect prompt when QuickBooks refuses us."""
    entries = await LedgerRepo(session, run.connection_id).list_problems_of_run(run.id)
    failures = [failure_of(entry) for entry in entries[:MAX_FAILURES_IN_SUMMARY]]
    connection = await ConnectionRepo(session).get(run.connection_id)
    if connection is not None and connection.status == ConnectionStatus.NEEDS_REAUTH:
        reconnect = Fix(FixKind.RECONNECT, str(connection.id), connection.company_name)
        failures.insert(0, InvoiceFailure("", "", connection.company_name, None, None, messages.RECONNECT, reconnect))
    elif connection is not None and await _bills_wait_for_a_pay_from_account(session, connection):
        choose = Fix(FixKind.BOOKS, str(connection.id), connection.company_name)
        failures.insert(
            0, InvoiceFailure("", "", connection.company_name, None, None, messages.CHOOSE_PAY_FROM, choose)
        )
    return dataclasses.replace(run_summary_of(run), failures=failures)


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
    history = await runs.history(connection.id, limit=5)
    active = await runs.active(connection.id)
    last = next((run for run in history if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING)), None)
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
        failed_invoices=await ledger.count_in_state(InvoiceState.FAILED),
        last_run=await run_summary(session, last) if last else None,
        active_run=run_summary_of(active) if active else None,
        next_daily_run_at=scheduler.next_daily_run_at(workspace.sync_hour, workspace.timezone, datetime.now(UTC)),
        settings=workspace_settings(team, workspace),
    )


class Reports:
    """`/qbo status`, the App Home and run summaries."""

    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def status(self, team: TeamRef) -> ConnectionStatusView | None:
        async with self._context.sessions() as session:
            workspace = await WorkspaceRepo(session).find(team.team_id, team.enterprise_id)
            connection = await ConnectionRepo(session).current(workspace.id) if workspace else None
            if workspace is None or connection is None:
                return None
            return await connection_status(session, team, workspace, connection)

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
