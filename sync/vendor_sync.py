"""Ontop contracts to QBO vendors, with I/O: find the match (read only), then link or create (the one place).

`VendorResolver` answers "which vendor is this invoice's worker?" without changing anything, for the run and the
preview alike; `VendorSync.apply` makes the answer true (stores the link, creates the vendor) for the run and for
the suppliers modal. A worker has one supplier per currency they are billed in (QuickBooks fixes a supplier's
currency), and the fee bills go to one "Ontop" supplier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.models import SupplierCurrency
from storage.records import VendorLinkRecord
from storage.repos.connections import ConnectionRepo
from storage.repos.vendor_links import VendorLinkRepo
from sync import messages
from sync.api import Fix, FixKind, VendorMatch
from sync.bills import BillProblem, Company, request_id_for
from sync.ontop.client import OntopSource
from sync.ontop.models import Invoice, Worker
from sync.plan import VendorAction, VendorResolution
from sync.qbo.client import QboClient
from sync.qbo.errors import QboDuplicateName
from sync.qbo.models import NewVendor, Vendor
from sync.vendors import (
    VendorDecision,
    VendorDirectory,
    creation_name,
    decide,
    name_key,
    new_vendor_for,
    planned_vendor,
)

log = structlog.get_logger(__name__)

ONTOP_SUPPLIER_NAME = "Ontop"
BATCH_ITEMS = 30  # QuickBooks' most per batch call


async def load_vendor_directory(qbo: QboClient) -> VendorDirectory:
    """Every vendor, and the names customers and employees hold, in a few paged queries."""
    vendors = [
        Vendor.from_wire(row) async for row in qbo.iter_query("SELECT * FROM Vendor WHERE Active IN (true, false)")
    ]
    other_names: dict[str, str] = {}
    for kind in ("Customer", "Employee"):
        async for row in qbo.iter_query(f"SELECT * FROM {kind} WHERE Active IN (true, false)"):
            if row.get("DisplayName"):
                other_names[name_key(str(row["DisplayName"]))] = kind
    return VendorDirectory(vendors, other_names)


def supplier_currency(company: Company, policy: str, billed_in: str | None) -> str | None:
    """The currency a new supplier is created in: the billed currency or USD (a setting); None means home."""
    if not company.multicurrency_enabled:
        return None
    wanted = "USD" if policy == SupplierCurrency.USD else billed_in
    return wanted if wanted and wanted != company.home_currency else None


class VendorResolver:
    """Resolves workers to vendors for one run or preview: the directory and the workers are read once, lazily."""

    def __init__(
        self,
        qbo: QboClient,
        ontop: OntopSource,
        links: Mapping[str, Sequence[VendorLinkRecord]],
        company: Company,
        *,
        auto_create: bool,
        currency_policy: str = SupplierCurrency.CONTRACT,
    ) -> None:
        self._qbo = qbo
        self._ontop = ontop
        self.links: dict[str, list[VendorLinkRecord]] = {key: list(value) for key, value in links.items()}
        self.company = company
        self.auto_create = auto_create
        self.currency_policy = currency_policy
        self._directory: VendorDirectory | None = None
        self._workers: dict[str, Worker] | None = None
        self._planned: dict[str, VendorResolution] = {}  # a preview's vendors-to-be, so they are counted once

    async def directory(self, *, reload: bool = False) -> VendorDirectory:
        if self._directory is None or reload:
            self._directory = await load_vendor_directory(self._qbo)
        return self._directory

    async def workers(self) -> dict[str, Worker]:
        if self._workers is None:
            self._workers = {str(worker.agreement_id): worker async for worker in self._ontop.workers()}
        return self._workers

    def worker_label(self, invoice: Invoice) -> str:
        """How to name the invoice's worker when no vendor is known (from the workers read so far)."""
        worker = (self._workers or {}).get(str(invoice.agreement_id))
        if worker is not None and worker.display_name:
            return worker.display_name
        return invoice.worker_email or f"contract {invoice.agreement_id}"

    async def resolve(self, invoice: Invoice) -> VendorResolution | BillProblem:
        """The worker's vendor as things stand, or why there is none; changes nothing in QBO or the database."""
        agreement_id = str(invoice.agreement_id)
        link = await self._link_for(agreement_id, invoice.currency)
        if link is not None:
            currency = link.currency or None
            if self.company.multicurrency_enabled and not currency:
                vendor = (await self.directory()).by_id(link.qbo_vendor_id)
                currency = vendor.currency if vendor else None
            if currency == self.company.home_currency:
                currency = None
            return VendorResolution(VendorAction.USE, agreement_id, link.display_name, link.qbo_vendor_id, currency)
        if agreement_id in self._planned:
            return self._planned[agreement_id]
        worker = (await self.workers()).get(agreement_id)
        if worker is None:
            return BillProblem(
                "unknown_contract", messages.unknown_contract(agreement_id), Fix(FixKind.RETRY, str(invoice.id))
            )
        return self.decide_for(worker, await self.directory(), invoice_id=str(invoice.id), billed_in=invoice.currency)

    async def _link_for(self, agreement_id: str, billed_in: str) -> VendorLinkRecord | None:
        """The worker's supplier for an invoice in this currency: one in that currency, else in home, else any."""
        links = self.links.get(agreement_id) or []
        if not links:
            return None
        home = self.company.home_currency
        for wanted in (billed_in, home):
            for link in links:
                if link.currency == wanted:
                    return link
        return links[0]

    def decide_for(
        self, worker: Worker, directory: VendorDirectory, *, invoice_id: str, billed_in: str | None = None
    ) -> VendorResolution | BillProblem:
        agreement_id = str(worker.agreement_id)
        decision = decide(worker, None, directory)
        if decision.match in (VendorMatch.MATCH_EMAIL, VendorMatch.MATCH_NAME) and decision.vendor is not None:
            how = "email" if decision.match == VendorMatch.MATCH_EMAIL else "name"
            vendor = decision.vendor
            currency = vendor.currency if vendor.currency != self.company.home_currency else None
            return VendorResolution(
                VendorAction.LINK, agreement_id, vendor.display_name, vendor.id, currency, how, worker
            )
        if decision.match == VendorMatch.CONFLICT:
            return BillProblem("vendor_conflict", decision.note or "supplier conflict", Fix(FixKind.RETRY, invoice_id))
        if decision.match == VendorMatch.NOT_READY:
            return BillProblem("worker_not_ready", messages.worker_not_ready(decision.note), None)
        if not self.auto_create:
            return BillProblem(
                "no_vendor",
                messages.not_a_supplier(decision.display_name),
                Fix(FixKind.CREATE_VENDOR, agreement_id, decision.display_name),
            )
        currency = supplier_currency(self.company, self.currency_policy, billed_in or worker.currency)
        return VendorResolution(
            VendorAction.CREATE, agreement_id, decision.display_name, None, currency, "created", worker
        )

    def plan(self, resolution: VendorResolution) -> None:
        """A preview pretends the vendor exists from now on, so later invoices of the worker reuse it."""
        if resolution.action is VendorAction.USE:
            return
        planned = VendorResolution(
            VendorAction.USE,
            resolution.agreement_id,
            resolution.display_name,
            resolution.vendor_id,
            resolution.currency,
        )
        self._planned[resolution.agreement_id] = planned
        if resolution.action is VendorAction.CREATE and resolution.worker is not None and self._directory:
            decision = VendorDecision(resolution.agreement_id, VendorMatch.WILL_CREATE, None, resolution.display_name)
            self._directory.add(planned_vendor(decision, resolution.worker))

    def learn(self, link: VendorLinkRecord, vendor: Vendor | None = None) -> None:
        """A link was stored (and a vendor maybe created) during this run."""
        self.links.setdefault(link.agreement_id, []).append(link)
        if vendor is not None and self._directory is not None:
            self._directory.add(vendor)


@dataclass(frozen=True)
class Applied:
    """A resolution made true: the vendor to bill, and whether it was created just now."""

    resolution: VendorResolution
    created: bool


class VendorSync:
    """Links and creates vendors: the only code that writes vendor links or creates QBO vendors."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], qbo: QboClient, connection_id: int) -> None:
        self._sessions = sessions
        self._qbo = qbo
        self._connection_id = connection_id

    async def apply(
        self, resolution: VendorResolution, resolver: VendorResolver, *, invoice_id: str = ""
    ) -> Applied | BillProblem:
        """Store the link (LINK) or create the vendor and link it (CREATE); USE needs nothing.

        Someone may create the name in QBO between the read and the create: the directory is read again and the
        worker matched anew, once.
        """
        current: VendorResolution | BillProblem = resolution
        for attempt in range(2):
            if isinstance(current, BillProblem):
                return current
            if current.action is VendorAction.USE:
                return Applied(current, created=False)
            worker = current.worker
            assert worker is not None
            if current.action is VendorAction.LINK:
                assert current.vendor_id is not None
                link = await self._link(
                    worker,
                    current.vendor_id,
                    current.display_name,
                    current.linked_by or "name",
                    currency=current.currency or resolver.company.home_currency,
                )
                resolver.learn(link)
                return Applied(current, created=False)
            try:
                vendor = await create_vendor(
                    self._qbo, resolver.company, worker, current.display_name, current.currency
                )
            except QboDuplicateName:
                if attempt == 0:
                    directory = await resolver.directory(reload=True)
                    current = resolver.decide_for(worker, directory, invoice_id=invoice_id, billed_in=current.currency)
                    continue
                name = worker.display_name or current.display_name
                return BillProblem("vendor_conflict", messages.name_taken(name), Fix(FixKind.RETRY, invoice_id))
            return Applied(await self._made(worker, vendor, resolver), created=True)
        raise AssertionError("unreachable: the second attempt returns")

    async def create_together(self, wanted: Sequence[VendorResolution], resolver: VendorResolver) -> int:
        """Create the suppliers of several workers in batch calls of 30 instead of one request each, and link them;
        returns how many were made. One QuickBooks refuses (a name taken since the directory was read, say) is left
        to `apply`, which the invoice's own turn calls and which knows what to do about it."""
        made = 0
        creates = [resolution for resolution in wanted if resolution.action is VendorAction.CREATE]
        for start in range(0, len(creates), BATCH_ITEMS):
            chunk = creates[start : start + BATCH_ITEMS]
            items = []
            for index, resolution in enumerate(chunk):
                worker = resolution.worker
                assert worker is not None
                draft = new_vendor_for(worker, resolution.display_name, resolution.currency)
                items.append((f"v{index}", draft, vendor_request_id(resolver.company, worker)))
            results = await self._qbo.create_vendors_batch(items)
            for (bid, _, _), resolution in zip(items, chunk, strict=True):
                vendor = results[bid]
                if not isinstance(vendor, Vendor):
                    log.info("vendors.batch_item_refused", agreement_id=resolution.agreement_id, code=vendor.code)
                    continue
                assert resolution.worker is not None
                await self._made(resolution.worker, vendor, resolver)
                made += 1
        return made

    async def _made(self, worker: Worker, vendor: Vendor, resolver: VendorResolver) -> VendorResolution:
        """A vendor the bot just created: linked to the worker, known to the resolver, and how to bill it."""
        created_in = vendor.currency or resolver.company.home_currency
        link = await self._link(worker, vendor.id, vendor.display_name, "created", currency=created_in, bot=True)
        resolver.learn(link, vendor)
        currency = vendor.currency if vendor.currency != resolver.company.home_currency else None
        agreement_id = str(worker.agreement_id)
        return VendorResolution(
            VendorAction.CREATE, agreement_id, vendor.display_name, vendor.id, currency, "created", worker
        )

    async def add_currency(self, worker: Worker, resolver: VendorResolver, currency: str) -> Vendor | BillProblem:
        """A second supplier for a worker now paid in another currency: "Name (EUR)" in EUR, linked for it."""
        base = worker.display_name or worker.email or f"contract {worker.agreement_id}"
        directory = await resolver.directory()
        name = creation_name(f"{base} ({currency})", str(worker.agreement_id), directory)
        wanted = currency if currency != resolver.company.home_currency else None
        try:
            vendor = await create_vendor(self._qbo, resolver.company, worker, name, wanted, suffix=currency)
        except QboDuplicateName:
            return BillProblem("vendor_conflict", messages.name_taken(name), None)
        link = await self._link(worker, vendor.id, vendor.display_name, "created", currency=currency, bot=True)
        resolver.learn(link, vendor)
        return vendor

    async def ontop_supplier(self, resolver: VendorResolver, known_id: str | None) -> str:
        """The "Ontop" supplier of the fee bills: the one stored, else found by name, else created (once)."""
        if known_id:
            return known_id
        directory = await resolver.directory()
        found = directory.by_name(ONTOP_SUPPLIER_NAME)
        if found is not None and found.active and (found.currency or "USD") == "USD":
            vendor = found
        else:
            name = creation_name(ONTOP_SUPPLIER_NAME, "fees", directory)
            currency = "USD" if resolver.company.multicurrency_enabled else None
            new = NewVendor(
                display_name=name,
                given_name=None,
                family_name=None,
                company_name="Ontop",
                email=None,
                address=None,
                currency=currency,
                notes="Ontop's fees on contractor invoices. Created by qbo-bot.",
                acct_num=None,
            )
            vendor = await self._qbo.create_vendor(new, request_id_for(resolver.company.realm_id, "ontop", "vendor", 0))
            directory.add(vendor)
        async with transaction(self._sessions) as session:
            await ConnectionRepo(session).set_ontop_vendor(self._connection_id, vendor.id)
        return vendor.id

    async def _link(
        self, worker: Worker, vendor_id: str, display_name: str, linked_by: str, *, currency: str, bot: bool = False
    ) -> VendorLinkRecord:
        async with transaction(self._sessions) as session:
            return await VendorLinkRepo(session).save(
                self._connection_id,
                str(worker.agreement_id),
                vendor_id,
                display_name,
                linked_by,
                currency=currency,
                worker_email=worker.email,
                created_by_bot=bot,
            )


async def create_vendor(
    qbo: QboClient, company: Company, worker: Worker, display_name: str, currency: str | None, *, suffix: str = ""
) -> Vendor:
    """Create the worker's vendor (exactly once: the requestid is the agreement's, and the currency's if a second)."""
    return await qbo.create_vendor(
        new_vendor_for(worker, display_name, currency), vendor_request_id(company, worker, suffix=suffix)
    )


def vendor_request_id(company: Company, worker: Worker, *, suffix: str = "") -> str:
    """The requestid of the worker's vendor: the agreement's (and the currency's, for a second supplier)."""
    key = f"agreement-{worker.agreement_id}" + (f"-{suffix}" if suffix else "")
    return request_id_for(company.realm_id, key, "vendor", 0)
