"""`/qbo vendors`: Ontop contracts next to their QBO supplier, and creating or linking the missing ones."""

from __future__ import annotations

import re

from storage.db import transaction
from storage.records import ConnectionRecord
from storage.repos.audit import AuditRepo
from storage.repos.ledger import LedgerRepo
from storage.repos.vendor_links import VendorLinkRepo
from sync import jobs, messages
from sync.api import (
    RunTrigger,
    ServiceError,
    TeamRef,
    VendorCreateResult,
    VendorMatch,
    VendorPreview,
    VendorPreviewRow,
)
from sync.bills import BillProblem
from sync.books import company_of
from sync.ontop.models import OntopError, Worker
from sync.qbo.client import QboClient
from sync.qbo.errors import QboError
from sync.service.base import ServiceContext, unavailable
from sync.vendor_sync import VendorResolver, VendorSync
from sync.vendors import decide, planned_vendor


class Suppliers:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def _read_both(self, connection: ConnectionRecord) -> tuple[QboClient, VendorResolver, list[Worker]]:
        """QuickBooks' suppliers (and the names others hold) and every Ontop contract, read once."""
        qbo = self._context.clients.qbo_client(connection.id, connection.realm_id)
        async with self._context.sessions() as session:
            links = await VendorLinkRepo(session).get_all(connection.id)
        try:
            async with await self._context.clients.ontop_for_connection(connection.id) as ontop:
                resolver = VendorResolver(
                    qbo,
                    ontop,
                    links,
                    company_of(connection),
                    auto_create=True,
                    currency_policy=connection.supplier_currency,
                )
                await resolver.directory()
                workers = list((await resolver.workers()).values())
        except (QboError, OntopError) as exc:
            raise unavailable(exc) from None
        return qbo, resolver, workers

    async def vendor_preview(self, team: TeamRef) -> VendorPreview:
        connection = await self._context.connection(team)
        _, resolver, workers = await self._read_both(connection)
        directory = await resolver.directory()
        rows = []
        for worker in workers:
            links = resolver.links.get(str(worker.agreement_id)) or []
            link = links[0] if links else None
            decision = decide(worker, link.qbo_vendor_id if link else None, directory)
            if decision.match == VendorMatch.WILL_CREATE:
                directory.add(planned_vendor(decision, worker))
            rows.append(
                VendorPreviewRow(
                    agreement_id=decision.agreement_id,
                    worker_name=worker.display_name or worker.email or decision.agreement_id,
                    email=worker.email,
                    country=worker.country,
                    currency=worker.currency,
                    match=decision.match,
                    qbo_vendor_name=(link.display_name if link else None)
                    or (decision.vendor.display_name if decision.vendor else decision.display_name),
                    note=decision.note,
                )
            )
        order = list(VendorMatch)
        rows.sort(key=lambda row: (order.index(row.match), row.worker_name.casefold()))
        return VendorPreview(rows)

    async def create_missing_vendors(
        self, team: TeamRef, user_id: str, agreement_ids: list[str] | None = None
    ) -> VendorCreateResult:
        connection = await self._context.connection(team)
        qbo, resolver, workers = await self._read_both(connection)
        vendors = VendorSync(self._context.sessions, qbo, connection.id)
        wanted = set(agreement_ids) if agreement_ids is not None else None
        created: list[str] = []
        linked: list[str] = []
        failed: list[tuple[str, str]] = []
        directory = await resolver.directory()
        async with self._context.sessions() as session:
            # A supplier made to fix a failure is made in the failing invoice's currency (the contract may differ).
            billed_in = await LedgerRepo(session, connection.id).failed_invoice_currencies("no_vendor")
        for worker in workers:
            agreement_id = str(worker.agreement_id)
            if (wanted is not None and agreement_id not in wanted) or agreement_id in resolver.links:
                continue
            name = worker.display_name or worker.email or agreement_id
            resolution = resolver.decide_for(worker, directory, invoice_id="", billed_in=billed_in.get(agreement_id))
            if isinstance(resolution, BillProblem):
                if wanted is not None or resolution.code != "worker_not_ready":
                    failed.append((name, resolution.message))
                continue
            try:
                applied = await vendors.apply(resolution, resolver)
            except QboError as exc:
                failed.append((name, messages.qbo_refused_supplier(exc.message)))
                continue
            if isinstance(applied, BillProblem):
                failed.append((name, messages.NAME_TAKEN_MEANWHILE))
            elif applied.created:
                created.append(applied.resolution.display_name)
            else:
                linked.append(applied.resolution.display_name)
        async with transaction(self._context.sessions) as session:
            AuditRepo(session).record(
                connection.workspace_id,
                user_id,
                "create_vendors",
                connection.id,
                created=len(created),
                linked=len(linked),
                failed=len(failed),
            )
            if (created or linked) and await LedgerRepo(session, connection.id).has_failures_with_codes(["no_vendor"]):
                await jobs.enqueue_run(session, connection.id, RunTrigger.RETRY, user_id)
        return VendorCreateResult(created, linked, failed)

    async def create_vendor_in_currency(
        self, team: TeamRef, user_id: str, agreement_id: str, currency: str
    ) -> VendorCreateResult:
        connection = await self._context.connection(team)
        qbo, resolver, workers = await self._read_both(connection)
        worker = next((worker for worker in workers if str(worker.agreement_id) == agreement_id), None)
        if worker is None or not re.fullmatch(r"[A-Z]{3}", currency):
            raise ServiceError(messages.unknown_contract(agreement_id))
        if any(link.currency == currency for link in resolver.links.get(agreement_id, [])):
            return VendorCreateResult([], [], [])  # already done (a second click)
        try:
            made = await VendorSync(self._context.sessions, qbo, connection.id).add_currency(worker, resolver, currency)
        except QboError as exc:
            return VendorCreateResult([], [], [(worker.display_name or agreement_id, exc.message)])
        if isinstance(made, BillProblem):
            return VendorCreateResult([], [], [(worker.display_name or agreement_id, made.message)])
        async with transaction(self._context.sessions) as session:
            AuditRepo(session).record(
                connection.workspace_id, user_id, "create_vendor", connection.id, vendor=made.id, currency=currency
            )
            if await LedgerRepo(session, connection.id).has_failures_with_codes(["supplier_currency"]):
                await jobs.enqueue_run(session, connection.id, RunTrigger.RETRY, user_id)
        return VendorCreateResult([made.display_name], [], [])
