"""`/qbo sync`, `sync preview`, retries and `/qbo reconcile`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, date, datetime

from storage.db import transaction
from storage.records import ConnectionRecord, LedgerEntry
from storage.repos.audit import AuditRepo
from storage.repos.ledger import LedgerRepo
from sync import jobs, messages
from sync.api import ReconcileReport, RunStatus, RunTrigger, ServiceError, SyncPreview, SyncRequest, TeamRef
from sync.books import company_of, load_books, with_preferences
from sync.ontop.models import OntopError
from sync.plan import Outcome
from sync.planning import Planner
from sync.qbo.errors import QboError
from sync.reconcile import reconcile
from sync.review import ReviewDraft, add_earlier_exclusions
from sync.service.base import ServiceContext, midnight, start_of_month, unavailable
from sync.vendor_sync import VendorResolver
from sync.watermark import read_start

PREVIEW_LIMIT = 5000  # invoices a preview reads at most (it answers a person who is waiting)


async def plan_next_run(context: ServiceContext, connection: ConnectionRecord) -> ReviewDraft:
    """What the next run would do, planned exactly as the run plans, without writing anything anywhere.

    The preview shows it; a review asked for from the preview stores it (sync/review.py).
    """
    qbo = context.clients.qbo_client(connection.id, connection.realm_id)

    async def ledger(ids: Sequence[str]) -> dict[str, LedgerEntry]:
        async with context.sessions() as session:
            return await LedgerRepo(session, connection.id).get_many(ids)

    draft = ReviewDraft()
    try:
        preferences = await qbo.preferences()
        company = with_preferences(company_of(connection), preferences)
        async with context.sessions() as session:
            books = await load_books(session, connection, company)
        async with await context.clients.ontop_for_connection(connection.id) as ontop:
            resolver = VendorResolver(
                qbo,
                ontop,
                books.links,
                company,
                auto_create=books.auto_create,
                currency_policy=books.currency_policy,
            )
            planner = Planner(ledger, resolver, books.context)
            posted: set[str] = set()
            since = read_start(connection.watermark, connection.backfill_from)
            async for page in ontop.invoices_changed_since(since):
                await planner.read_page(page)
                for invoice in page:
                    draft.read += 1
                    if str(invoice.id) in posted:
                        continue  # the run skips an invoice it already queued the same way
                    plan = await planner.plan(invoice)
                    draft.add(plan, resolver.worker_label(invoice))
                    if plan.outcome is Outcome.POST:
                        posted.add(str(invoice.id))
                        if plan.vendor is not None:
                            resolver.plan(plan.vendor)
                if draft.read >= PREVIEW_LIMIT:
                    break
    except (QboError, OntopError) as exc:
        raise unavailable(exc) from None
    return await add_earlier_exclusions(context.sessions, connection.id, draft)


class Syncing:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def request_sync(
        self,
        team: TeamRef,
        user_id: str | None,
        trigger: RunTrigger = RunTrigger.MANUAL,
        channel_id: str | None = None,
    ) -> SyncRequest:
        connection = await self._context.connection(team, require_active=True)
        async with transaction(self._context.sessions) as session:
            run, joined = await jobs.enqueue_run(session, connection.id, trigger, user_id, channel_id=channel_id)
            AuditRepo(session).record(
                connection.workspace_id, user_id or "system", "sync", connection.id, run_id=run.id
            )
            return SyncRequest(run.id, joined, RunStatus(run.status))

    async def sync_preview(self, team: TeamRef) -> SyncPreview:
        """What the next run would do, planned exactly as the run plans, without writing anything anywhere."""
        connection = await self._context.connection(team, require_active=True)
        return dataclasses.replace(
            (await plan_next_run(self._context, connection)).preview(), connection_id=connection.id
        )

    async def retry_invoice(self, team: TeamRef, user_id: str, invoice_id: str) -> SyncRequest:
        connection = await self._context.connection(team, require_active=True)
        async with self._context.sessions() as session:
            entry = await LedgerRepo(session, connection.id).get(invoice_id)
        if entry is None:
            raise ServiceError(messages.INVOICE_NOT_OURS)
        return await self.request_sync(team, user_id, RunTrigger.RETRY)

    async def reconcile(self, team: TeamRef, since: date | None = None, until: date | None = None) -> ReconcileReport:
        connection = await self._context.connection(team, require_active=True)
        start = midnight(since) if since else (connection.backfill_from or start_of_month(datetime.now(UTC)))
        end = midnight(until) if until else datetime.now(UTC)
        if end <= start:
            raise ServiceError(messages.PERIOD_REVERSED)
        qbo = self._context.clients.qbo_client(connection.id, connection.realm_id)
        try:
            async with await self._context.clients.ontop_for_connection(connection.id) as ontop:
                return await reconcile(
                    ontop, qbo, connection.home_currency, start, end, payments_expected=connection.payments_enabled
                )
        except (QboError, OntopError) as exc:
            raise unavailable(exc) from None
