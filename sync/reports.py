"""Read models for Slack: a connection's status and a run's summary with its failures, from the database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import repos
from storage.models import Connection, ConnectionStatus, InvoiceState, SyncedInvoice, SyncRun, Workspace
from sync import jobs, scheduler
from sync.api import ConnectionStatusView, Fix, FixKind, InvoiceFailure, RunSummary, TeamRef, WorkspaceSettings
from sync.ontop.models import CONCEPT_LABELS

MAX_FAILURES_IN_SUMMARY = 50


async def connection_status(
    session: AsyncSession, team: TeamRef, workspace: Workspace, connection: Connection
) -> ConnectionStatusView:
    """What `/qbo status` and the App Home show about a workspace's connection."""
    mappings = await repos.get_mappings(session, connection.id)
    unmapped = await blocked_concepts(session, connection.id)
    links = await repos.get_vendor_links(session, connection.id)
    created = await count_invoices(session, connection.id, InvoiceState.CREATED)
    failed = await count_invoices(session, connection.id, InvoiceState.FAILED)
    history = await jobs.run_history(session, connection.id, limit=5)
    active = await jobs.active_run(session, connection.id)
    last = next((run for run in history if run.status not in ("queued", "running")), None)
    last_summary = await run_summary(session, last) if last else None
    return ConnectionStatusView(
        connection_id=connection.id,
        status=connection.status,
        company_name=connection.company_name,
        realm_id=connection.realm_id,
        home_currency=connection.home_currency,
        multicurrency_enabled=connection.multicurrency_enabled,
        ontop_connected=connection.ontop_credentials_encrypted is not None,
        mapped_concepts=len(mappings),
        unmapped_concepts=sorted(set(unmapped) - set(mappings)),
        vendors_linked=len(links),
        bills_created_total=created,
        failed_invoices=failed,
        last_run=last_summary,
        active_run=jobs.run_summary(active) if active else None,
        next_daily_run_at=scheduler.next_daily_run_at(workspace.sync_hour, workspace.timezone, datetime.now(UTC)),
        settings=workspace_settings(team, workspace),
    )


async def run_summary(session: AsyncSession, run: SyncRun) -> RunSummary:
    """A run with its failed invoices (from the ledger) and a reconnect prompt when QuickBooks refuses us."""
    base = jobs.run_summary(run)
    rows = (
        await session.scalars(
            select(SyncedInvoice)
            .where(
                SyncedInvoice.connection_id == run.connection_id,
                SyncedInvoice.last_run_id == run.id,
                SyncedInvoice.error_code.is_not(None),
            )
            .order_by(SyncedInvoice.id)
            .limit(MAX_FAILURES_IN_SUMMARY)
        )
    ).all()
    failures = [
        InvoiceFailure(
            invoice_id=row.ontop_invoice_id,
            invoice_number=row.invoice_number,
            worker_name=row.worker_name or f"contract {row.agreement_id}",
            amount=row.amount,
            currency=row.currency,
            reason=row.error_message or row.error_code or "failed",
            fix=Fix(FixKind(row.fix_action), row.fix_value or "", fix_label(row)) if row.fix_action else None,
        )
        for row in rows
    ]
    connection = await repos.get_connection(session, run.connection_id)
    if connection is not None and connection.status == ConnectionStatus.NEEDS_REAUTH:
        failures.insert(
            0,
            InvoiceFailure(
                "",
                "",
                connection.company_name,
                None,
                None,
                "QuickBooks no longer accepts this connection",
                Fix(FixKind.RECONNECT, str(connection.id), "Reconnect QuickBooks"),
            ),
        )
    return dataclasses.replace(base, failures=failures)


def workspace_settings(team: TeamRef, workspace: Workspace) -> WorkspaceSettings:
    return WorkspaceSettings(
        team=team,
        finance_channel_id=workspace.finance_channel_id,
        sync_hour=workspace.sync_hour,
        timezone=workspace.timezone,
        admin_user_ids=list(workspace.admin_user_ids or []),
        auto_create_vendors=workspace.auto_create_vendors,
    )


async def count_invoices(session: AsyncSession, connection_id: int, state: str) -> int:
    value = await session.scalar(
        select(func.count(SyncedInvoice.id)).where(
            SyncedInvoice.connection_id == connection_id, SyncedInvoice.state == state
        )
    )
    return int(value or 0)


async def blocked_concepts(session: AsyncSession, connection_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(SyncedInvoice.fix_value, func.count(SyncedInvoice.id))
        .where(
            SyncedInvoice.connection_id == connection_id,
            SyncedInvoice.state == InvoiceState.FAILED,
            SyncedInvoice.fix_action == FixKind.MAP_CONCEPT,
        )
        .group_by(SyncedInvoice.fix_value)
    )
    return {str(concept): int(count) for concept, count in rows.all() if concept}


def fix_label(row: SyncedInvoice) -> str:
    if row.fix_action == FixKind.MAP_CONCEPT:
        return f"Map {CONCEPT_LABELS.get(row.fix_value or '', (row.fix_value or '').replace('_', ' ').capitalize())}"
    if row.fix_action == FixKind.CREATE_VENDOR:
        return "Create supplier"
    if row.fix_action == FixKind.RECONNECT:
        return "Reconnect QuickBooks"
    return "Retry"
