"""The sync run: Ontop invoices → QBO bills, exactly once, one invoice's failure never stopping the others.

Exactly once rests on three things: the ledger row is committed as `pending` with a deterministic requestid before
any create is sent; QBO replays a requestid it has seen instead of creating again; and a row whose outcome is unknown
(pending from an earlier attempt) is looked up by DocNumber and vendor before it is created.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import repos
from storage.db import transaction
from storage.models import ConnectionStatus, InvoiceState, RunStatus, RunTrigger, SyncedInvoice, VendorLink, Workspace
from sync.api import Fix, FixKind, NeedsReauthError, NotConnectedError, VendorMatch
from sync.bills import BillProblem, Company, VendorForBill, build_bill, request_id_for, waiting_reason
from sync.connections import ClientFactory, mark_needs_reauth
from sync.jobs import RunCounts, RunOutcome, get_run
from sync.ontop.client import OntopClient
from sync.ontop.models import Invoice, InvoiceStatus, OntopAuthError, OntopError, OntopNotFoundError, Worker
from sync.qbo.client import QboClient
from sync.qbo.errors import QboAuthError, QboDuplicateDocNumber, QboDuplicateName, QboError, QboForbidden
from sync.qbo.models import Bill, BillDraft, Vendor
from sync.vendors import VendorDirectory, decide, name_key, new_vendor_for, vendor_currency_for
from sync.worker import ProgressReporter

log = structlog.get_logger(__name__)

Progress = Callable[[int, str], Awaitable[None]]
BATCH_SIZE = 30  # QBO's batch maximum
WATERMARK_OVERLAP = timedelta(minutes=10)  # re-read a little before the watermark: late writes on Ontop's side
ACCOUNT_CACHE_TTL = timedelta(hours=1)
ATTACHMENT_CONCURRENCY = 4
DATABASE_ATTEMPTS = 3
MAX_ATTACHMENT_RETRIES_PER_RUN = 200

# Failures that a person fixes and a later run picks up again: they keep the watermark from passing the invoice.
REVIEW_ONLY_CODES = frozenset({"cancelled_after_bill", "correction_of_billed"})


class RunAborted(Exception):
    """The whole run cannot go on (QBO needs reconnecting, Ontop refuses the credentials)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class SyncResult:
    status: str  # succeeded, partial, failed
    counts: RunCounts
    error_summary: str | None
    watermark_after: datetime | None


@dataclass
class _Pending:
    """An invoice ready to become a bill, waiting for its batch."""

    invoice: Invoice
    draft: BillDraft
    worker_name: str
    request_id: str = ""
    unknown_outcome: bool = False
    bill: Bill | None = None
    error: QboError | None = None


@dataclass
class _Run:
    connection_id: int
    run_id: int
    realm_id: str
    company: Company
    auto_create_vendors: bool
    default_account_id: str | None
    qbo: QboClient
    ontop: OntopClient
    mapping: dict[str, str]
    links: dict[str, VendorLink]
    counts: RunCounts = field(default_factory=RunCounts)
    batch: list[_Pending] = field(default_factory=list)
    directory: VendorDirectory | None = None
    workers: dict[str, Worker] | None = None
    attachments_failed: int = 0  # retried by later runs; not a failure of the bill
    hold_watermark_at: datetime | None = None
    newest_seen: datetime | None = None

    def hold(self, moment: datetime) -> None:
        if self.hold_watermark_at is None or moment < self.hold_watermark_at:
            self.hold_watermark_at = moment


class SyncEngine:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clients: ClientFactory,
        *,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._sessions = sessions
        self._clients = clients
        self._batch_size = batch_size

    async def run(
        self, connection_id: int, run_id: int, progress: Progress | None = None, *, only_failed: bool = False
    ) -> SyncResult:
        """Sync one connection. Raises nothing for per-invoice problems; returns the outcome.

        only_failed: a retry reprocesses just the invoices whose ledger row failed or whose outcome is unknown,
        fetching each from Ontop, and leaves the watermark where it is.
        """
        structlog.contextvars.bind_contextvars(connection_id=connection_id, run_id=run_id)
        report = progress or _no_progress
        try:
            run = await self._start(connection_id, run_id)
        except RunAborted as aborted:
            return SyncResult("failed", RunCounts(), aborted.message, None)
        try:
            await self._refresh_company(run)
            watermark_before, backfill_from = await self._watermark(connection_id)
            since = watermark_before - WATERMARK_OVERLAP if watermark_before else backfill_from
            pages = self._unfinished_invoices(run) if only_failed else run.ontop.invoices_changed_since(since)
            async for page in pages:
                await self._process_page(run, page)
                while len(run.batch) >= self._batch_size:
                    await self._flush(run, run.batch[: self._batch_size])
                    run.batch = run.batch[self._batch_size :]
                await report(run.counts.invoices_seen, _progress_text(run.counts))
            while run.batch:
                await self._flush(run, run.batch[: self._batch_size])
                run.batch = run.batch[self._batch_size :]
            await self._retry_attachments(run)
            watermark_after = watermark_before if only_failed else await self._advance_watermark(run, watermark_before)
        except (NeedsReauthError, QboAuthError, QboForbidden) as exc:
            message = exc.message if isinstance(exc, NeedsReauthError) else str(exc)
            if not isinstance(exc, NeedsReauthError):
                await mark_needs_reauth(self._sessions, connection_id, message)
            return SyncResult("failed", run.counts, _reauth_text(), None)
        except OntopAuthError:
            return SyncResult("failed", run.counts, _ontop_auth_text(), None)
        except OntopError as exc:
            log.warning("sync.ontop_unavailable", error=type(exc).__name__)
            return SyncResult("failed", run.counts, _unavailable_text("Ontop", exc), None)
        except QboError as exc:
            log.warning("sync.qbo_unavailable", code=exc.code, intuit_tid=exc.intuit_tid)
            return SyncResult("failed", run.counts, _unavailable_text("QuickBooks", exc), None)
        finally:
            run.counts.api_calls = run.qbo.requests_sent
            await run.ontop.aclose()
        await report(run.counts.invoices_seen, _progress_text(run.counts))
        return SyncResult(_status(run.counts), run.counts, None, watermark_after)

    # --- set-up ---------------------------------------------------------------------------------------------------

    async def _start(self, connection_id: int, run_id: int) -> _Run:
        async with self._sessions() as session:
            connection = await repos.get_connection(session, connection_id)
            if connection is None or connection.status == ConnectionStatus.DISCONNECTED:
                raise RunAborted("This connection was disconnected; nothing was synced.")
            if connection.status == ConnectionStatus.NEEDS_REAUTH:
                raise RunAborted(_reauth_text())
            workspace = await session.get(Workspace, connection.workspace_id)
            mapping = {
                concept: row.qbo_account_id
                for concept, row in (await repos.get_mappings(session, connection_id)).items()
            }
            links = await repos.get_vendor_links(session, connection_id)
        try:
            ontop = await self._clients.ontop_for_connection(connection_id)
        except NotConnectedError as exc:
            raise RunAborted(exc.message) from None
        return _Run(
            connection_id=connection_id,
            run_id=run_id,
            realm_id=connection.realm_id,
            company=Company(connection.realm_id, connection.home_currency, connection.multicurrency_enabled),
            auto_create_vendors=workspace.auto_create_vendors if workspace else True,
            default_account_id=connection.default_account_id,
            qbo=self._clients.qbo_client(connection_id, connection.realm_id),
            ontop=ontop,
            mapping=mapping,
            links=links,
        )

    async def _refresh_company(self, run: _Run) -> None:
        """Home currency and multicurrency can change in QBO; the account cache feeds the mapping modal."""
        preferences = await run.qbo.preferences()
        run.company = Company(run.realm_id, preferences.home_currency, preferences.multicurrency_enabled)
        async with transaction(self._sessions) as session:
            connection = await repos.get_connection(session, run.connection_id)
            assert connection is not None
            connection.home_currency = preferences.home_currency
            connection.multicurrency_enabled = preferences.multicurrency_enabled
            stale = connection.accounts_refreshed_at is None or (
                datetime.now(UTC) - connection.accounts_refreshed_at > ACCOUNT_CACHE_TTL
            )
        if stale:
            await refresh_account_cache(self._sessions, run.qbo, run.connection_id)

    async def _watermark(self, connection_id: int) -> tuple[datetime | None, datetime | None]:
        """Where this run starts reading: the watermark, or the backfill start on the first run."""
        async with self._sessions() as session:
            connection = await repos.get_connection(session, connection_id)
            return (connection.watermark, connection.backfill_from) if connection else (None, None)

    async def _unfinished_invoices(self, run: _Run) -> AsyncIterator[list[Invoice]]:
        """The invoices whose ledger row failed or is still pending, as they are in Ontop now, a batch at a time."""
        async with self._sessions() as session:
            rows = [
                *await repos.ledger_by_state(session, run.connection_id, InvoiceState.FAILED),
                *await repos.ledger_by_state(session, run.connection_id, InvoiceState.PENDING),
            ]
        ids = [row.ontop_invoice_id for row in rows]
        for start in range(0, len(ids), self._batch_size):
            page = []
            for invoice_id in ids[start : start + self._batch_size]:
                try:
                    page.append(await run.ontop.invoice(int(invoice_id)))
                except OntopNotFoundError:
                    log.info("sync.retry_invoice_gone", invoice_id=invoice_id)
            yield page

    # --- per page -------------------------------------------------------------------------------------------------

    async def _process_page(self, run: _Run, page: list[Invoice]) -> None:
        ids = [str(invoice.id) for invoice in page]
        corrected_ids = [str(invoice.corrects) for invoice in page if invoice.corrects is not None]
        async with self._sessions() as session:
            ledger = await repos.ledger_rows(session, run.connection_id, ids + corrected_ids)
        queued = {str(item.invoice.id) for item in run.batch}
        for invoice in page:
            run.counts.invoices_seen += 1
            run.newest_seen = max(run.newest_seen or invoice.updated_at, invoice.updated_at)
            invoice_id = str(invoice.id)
            if invoice_id in queued:
                continue  # pages overlapped while Ontop changed under us: already queued in this run
            row = ledger.get(invoice_id)
            if row is not None and row.state == InvoiceState.CREATED:
                run.counts.already_synced += 1
                if invoice.status == InvoiceStatus.CANCELLED and row.error_code != "cancelled_after_bill":
                    await self._record_review(
                        run,
                        invoice,
                        "cancelled_after_bill",
                        f"cancelled in Ontop after bill {row.qbo_bill_id} was created in QuickBooks: void that bill in"
                        " QuickBooks if it should not be paid (the bot never edits or deletes bills)",
                        keep_state=True,
                    )
                continue
            if _already_reported(row, invoice):
                run.counts.skipped += 1  # held for a person; reported once, until the invoice changes again
                continue
            waiting = waiting_reason(invoice)
            if waiting is not None:
                run.counts.skipped += 1
                if invoice.status == InvoiceStatus.CANCELLED:
                    await self._record_terminal_skip(run, invoice, waiting)
                continue
            corrected = ledger.get(str(invoice.corrects)) if invoice.corrects is not None else None
            if corrected is not None and corrected.state == InvoiceState.CREATED:
                await self._record_review(
                    run,
                    invoice,
                    "correction_of_billed",
                    f"corrects invoice {corrected.invoice_number}, already bill {corrected.qbo_bill_id} in QuickBooks:"
                    " review both before booking the difference by hand",
                )
                continue
            try:
                await self._prepare(run, invoice)
            except (QboAuthError, QboForbidden):
                raise
            except (QboError, OntopError) as exc:
                service = "QuickBooks" if isinstance(exc, QboError) else "Ontop"
                problem = BillProblem(
                    "service_unavailable",
                    f"{service} did not answer while preparing this bill; the next run will try again",
                    Fix(FixKind.RETRY, invoice_id, "Retry"),
                )
                await self._record_failure(run, invoice, _worker_label(run, invoice), problem)
                continue
            queued.add(invoice_id)

    async def _prepare(self, run: _Run, invoice: Invoice) -> None:
        vendor = await self._vendor_for(run, invoice)
        worker_name = vendor.display_name if isinstance(vendor, VendorForBill) else _worker_label(run, invoice)
        if isinstance(vendor, BillProblem):
            await self._record_failure(run, invoice, worker_name, vendor)
            return
        draft = build_bill(invoice, vendor, run.mapping, run.company, run.default_account_id)
        if isinstance(draft, BillProblem):
            await self._record_failure(run, invoice, worker_name, draft)
            return
        run.batch.append(_Pending(invoice, draft, worker_name))

    # --- vendors --------------------------------------------------------------------------------------------------

    async def _vendor_for(self, run: _Run, invoice: Invoice) -> VendorForBill | BillProblem:
        agreement_id = str(invoice.agreement_id)
        link = run.links.get(agreement_id)
        if link is not None:
            currency = None
            if run.company.multicurrency_enabled:
                directory = await self._directory(run)
                vendor = directory.by_id(link.qbo_vendor_id)
                currency = vendor.currency if vendor else None
            return VendorForBill(link.qbo_vendor_id, link.display_name, currency)
        workers = await self._workers(run)
        worker = workers.get(agreement_id)
        if worker is None:
            return BillProblem(
                "unknown_contract",
                f"contract {agreement_id} is not among the company's Ontop workers",
                Fix(FixKind.RETRY, str(invoice.id), "Retry"),
            )
        for attempt in range(2):
            directory = await self._directory(run, reload=attempt > 0)
            decision = decide(worker, None, directory)
            if decision.match in (VendorMatch.MATCH_EMAIL, VendorMatch.MATCH_NAME) and decision.vendor is not None:
                await self._link(
                    run, worker, decision.vendor, "email" if decision.match == VendorMatch.MATCH_EMAIL else "name"
                )
                return VendorForBill(decision.vendor.id, decision.vendor.display_name, decision.vendor.currency)
            if decision.match == VendorMatch.CONFLICT:
                return BillProblem(
                    "vendor_conflict",
                    decision.note or "supplier conflict",
                    Fix(FixKind.RETRY, str(invoice.id), "Retry"),
                )
            if decision.match == VendorMatch.NOT_READY:
                return BillProblem("worker_not_ready", f"the worker has {decision.note}", None)
            if not run.auto_create_vendors:
                return BillProblem(
                    "no_vendor",
                    f"{decision.display_name} is not a supplier in QuickBooks",
                    Fix(FixKind.CREATE_VENDOR, agreement_id, "Create supplier"),
                )
            try:
                created = await create_vendor(run.qbo, run.realm_id, run.company, worker, decision.display_name)
            except QboDuplicateName:
                continue  # someone created the name meanwhile: look again
            directory.add(created)
            run.counts.vendors_created += 1
            await self._link(run, worker, created, "created", created_by_bot=True)
            return VendorForBill(created.id, created.display_name, created.currency)
        return BillProblem(
            "vendor_conflict",
            f"the name {worker.display_name} is taken in QuickBooks",
            Fix(FixKind.RETRY, str(invoice.id), "Retry"),
        )

    async def _directory(self, run: _Run, *, reload: bool = False) -> VendorDirectory:
        if run.directory is None or reload:
            run.directory = await load_vendor_directory(run.qbo)
        return run.directory

    async def _workers(self, run: _Run) -> dict[str, Worker]:
        if run.workers is None:
            run.workers = {str(worker.agreement_id): worker async for worker in run.ontop.workers()}
        return run.workers

    async def _link(
        self, run: _Run, worker: Worker, vendor: Vendor, linked_by: str, *, created_by_bot: bool = False
    ) -> None:
        async with transaction(self._sessions) as session:
            link = await repos.add_vendor_link(
                session,
                run.connection_id,
                str(worker.agreement_id),
                vendor.id,
                vendor.display_name,
                linked_by,
                worker_email=worker.email,
                created_by_bot=created_by_bot,
            )
        run.links[link.agreement_id] = link

    # --- the ledger -----------------------------------------------------------------------------------------------

    async def _upsert_row(self, session: AsyncSession, run: _Run, invoice: Invoice) -> SyncedInvoice:
        return (await self._upsert_rows(session, run, [invoice]))[0]

    async def _upsert_rows(self, session: AsyncSession, run: _Run, invoices: list[Invoice]) -> list[SyncedInvoice]:
        """The ledger rows of these invoices (created when missing), refreshed from Ontop, in one query."""
        existing = await repos.ledger_rows(session, run.connection_id, [str(invoice.id) for invoice in invoices])
        rows = []
        for invoice in invoices:
            row = existing.get(str(invoice.id))
            if row is None:
                row = SyncedInvoice(
                    connection_id=run.connection_id, ontop_invoice_id=str(invoice.id), generation=0, attempts=0
                )
                session.add(row)
            self._refresh_row(row, run, invoice)
            rows.append(row)
        return rows

    @staticmethod
    def _refresh_row(row: SyncedInvoice, run: _Run, invoice: Invoice) -> None:
        row.invoice_number = invoice.number
        row.agreement_id = str(invoice.agreement_id) if invoice.agreement_id is not None else None
        row.ontop_status = str(invoice.status)
        row.ontop_updated_at = invoice.updated_at
        row.amount = invoice.total
        row.currency = invoice.currency
        row.last_run_id = run.run_id

    async def _record_failure(self, run: _Run, invoice: Invoice, worker_name: str, problem: BillProblem) -> None:
        run.counts.failed += 1
        run.hold(invoice.updated_at)
        async with transaction(self._sessions) as session:
            row = await self._upsert_row(session, run, invoice)
            if row.state == InvoiceState.CREATED:
                return
            row.state = InvoiceState.FAILED
            row.worker_name = worker_name
            row.error_code = problem.code
            row.error_message = problem.message
            row.fix_action = problem.fix.kind if problem.fix else None
            row.fix_value = problem.fix.value if problem.fix else None
        log.info("sync.invoice_failed", invoice_id=invoice.id, code=problem.code)

    async def _record_review(
        self, run: _Run, invoice: Invoice, code: str, message: str, *, keep_state: bool = False
    ) -> None:
        """A case for a person to look at; reported once, never retried, and it does not hold the watermark."""
        run.counts.failed += 1
        async with transaction(self._sessions) as session:
            row = await self._upsert_row(session, run, invoice)
            if not keep_state:
                row.state = InvoiceState.SKIPPED
            row.error_code = code
            row.error_message = message
            row.fix_action = None
            row.fix_value = None
            row.worker_name = row.worker_name or _worker_label(run, invoice)

    async def _record_terminal_skip(self, run: _Run, invoice: Invoice, reason: str) -> None:
        async with transaction(self._sessions) as session:
            row = await self._upsert_row(session, run, invoice)
            if row.state != InvoiceState.CREATED:
                row.state = InvoiceState.SKIPPED
                row.error_code = None
                row.error_message = reason

    # --- bills ----------------------------------------------------------------------------------------------------

    async def _flush(self, run: _Run, items: list[_Pending]) -> None:
        # 1. The ledger says "pending" with its requestid before anything is sent to QBO.
        async with transaction(self._sessions) as session:
            rows = await self._upsert_rows(session, run, [item.invoice for item in items])
            for item, row in zip(items, rows, strict=True):
                item.unknown_outcome = row.state == InvoiceState.PENDING and row.request_id is not None
                row.state = InvoiceState.PENDING
                row.request_id = request_id_for(run.realm_id, str(item.invoice.id), "bill", row.generation)
                row.doc_number = item.draft.doc_number
                row.qbo_vendor_id = item.draft.vendor_id
                row.worker_name = item.worker_name
                row.amount = item.draft.total
                row.currency = item.draft.currency or run.company.home_currency
                row.attempts += 1
                item.request_id = row.request_id

        # 2. An earlier attempt may have created the bill and died before writing it down: look before creating.
        to_create: list[_Pending] = []
        for item in items:
            if item.unknown_outcome and item.draft.doc_number:
                found = await run.qbo.find_bills(item.draft.doc_number, item.draft.vendor_id)
                if found:
                    item.bill = found[0]
                    continue
            to_create.append(item)

        # 3. One batch call; each item succeeds or fails on its own.
        if to_create:
            try:
                results = await run.qbo.create_bills_batch(
                    [(f"b{index}", item.draft, item.request_id) for index, item in enumerate(to_create)]
                )
            except (QboAuthError, QboForbidden):
                raise
            except QboError as exc:
                # Outcome unknown (retries exhausted): rows stay pending; the next run looks them up first.
                for item in to_create:
                    item.error = exc
                results = {}
            for index, item in enumerate(to_create):
                outcome = results.get(f"b{index}")
                if isinstance(outcome, Bill):
                    item.bill = outcome
                elif isinstance(outcome, QboDuplicateDocNumber):
                    found = await run.qbo.find_bills(item.draft.doc_number or "", item.draft.vendor_id)
                    item.bill = found[0] if found else None
                    item.error = None if found else outcome
                elif outcome is not None:
                    item.error = outcome

        # 4. Write down every outcome.
        created: list[tuple[_Pending, SyncedInvoice]] = []
        async with transaction(self._sessions) as session:
            written = await repos.ledger_rows(session, run.connection_id, [str(item.invoice.id) for item in items])
            for item in items:
                row = written[str(item.invoice.id)]
                if item.bill is not None:
                    row.state = InvoiceState.CREATED
                    row.qbo_bill_id = item.bill.id
                    row.error_code = row.error_message = row.fix_action = row.fix_value = None
                    row.attachment_pending = item.invoice.pdf_available
                    run.counts.bills_created += 1
                    created.append((item, row))
                elif item.error is not None and not item.error.is_transient and item.error.code != "missing":
                    row.state = InvoiceState.FAILED
                    row.generation += 1  # a definite failure: the next attempt is a new logical write
                    row.error_code = f"qbo_{item.error.code}"
                    row.error_message = _qbo_failure_text(item.error)
                    row.fix_action, row.fix_value = FixKind.RETRY, str(item.invoice.id)
                    run.counts.failed += 1
                    run.hold(item.invoice.updated_at)
                else:
                    # Unknown outcome: stays pending; the next run looks the bill up before creating.
                    row.error_code = "qbo_unavailable"
                    row.error_message = "QuickBooks did not answer; the next run will check and finish it"
                    run.counts.failed += 1
                    run.hold(item.invoice.updated_at)
        created_ids = [(item.invoice, row.qbo_bill_id or "") for item, row in created if item.invoice.pdf_available]
        await self._attach_all(run, created_ids)

    # --- attachments ----------------------------------------------------------------------------------------------

    async def _attach_all(self, run: _Run, items: list[tuple[Invoice, str]]) -> None:
        if not items:
            return
        limit = asyncio.Semaphore(ATTACHMENT_CONCURRENCY)

        async def attach(invoice: Invoice, bill_id: str) -> tuple[str, str | None]:
            async with limit:
                return str(invoice.id), await self._attach(run, invoice, bill_id)

        outcomes = await asyncio.gather(*(attach(invoice, bill_id) for invoice, bill_id in items))
        async with transaction(self._sessions) as session:
            rows = await repos.ledger_rows(session, run.connection_id, [invoice_id for invoice_id, _ in outcomes])
            for invoice_id, attachment_id in outcomes:
                row = rows[invoice_id]
                if attachment_id is not None:
                    row.attachment_id = attachment_id
                    row.attachment_pending = False
                else:
                    run.attachments_failed += 1

    async def _attach(self, run: _Run, invoice: Invoice, bill_id: str) -> str | None:
        """Attach the invoice PDF; a failure leaves it pending for a later run and never fails the bill."""
        try:
            pdf = await run.ontop.invoice_pdf(invoice)
            if pdf is None:
                return None
            attachable = await run.qbo.upload_attachment(
                bill_id, f"{invoice.number}.pdf", pdf, request_id_for(run.realm_id, str(invoice.id), "attachment", 0)
            )
            return attachable.id
        except (QboAuthError, QboForbidden):
            raise
        except (QboError, OntopError) as exc:
            log.warning("sync.attachment_failed", invoice_id=invoice.id, error=type(exc).__name__)
            return None

    async def _retry_attachments(self, run: _Run) -> None:
        async with self._sessions() as session:
            rows = await repos.pending_attachments(session, run.connection_id, MAX_ATTACHMENT_RETRIES_PER_RUN)
        items: list[tuple[Invoice, str]] = []
        for row in rows:
            try:
                invoice = await run.ontop.invoice(int(row.ontop_invoice_id))
            except OntopError:
                continue
            items.append((invoice, row.qbo_bill_id or ""))
        await self._attach_all(run, items)

    # --- the end --------------------------------------------------------------------------------------------------

    async def _advance_watermark(self, run: _Run, before: datetime | None) -> datetime | None:
        """Past every invoice that reached a terminal state; never past one that still needs work."""
        if run.hold_watermark_at is not None:
            after: datetime | None = run.hold_watermark_at
        elif run.newest_seen is not None:
            after = max(before, run.newest_seen) if before else run.newest_seen
        else:
            after = before
        async with transaction(self._sessions) as session:
            connection = await repos.get_connection(session, run.connection_id)
            if connection is not None:
                connection.watermark = after
        return after


async def create_vendor(qbo: QboClient, realm_id: str, company: Company, worker: Worker, display_name: str) -> Vendor:
    currency = vendor_currency_for(worker, company.home_currency, company.multicurrency_enabled)
    request_id = request_id_for(realm_id, f"agreement-{worker.agreement_id}", "vendor", 0)
    return await qbo.create_vendor(new_vendor_for(worker, display_name, currency), request_id)


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


async def refresh_account_cache(sessions: async_sessionmaker[AsyncSession], qbo: QboClient, connection_id: int) -> int:
    accounts = await qbo.expense_accounts()
    async with transaction(sessions) as session:
        await repos.replace_accounts(
            session,
            connection_id,
            [
                {
                    "qbo_id": account.id,
                    "name": account.name,
                    "fully_qualified_name": account.fully_qualified_name,
                    "account_type": account.account_type,
                    "currency": account.currency,
                    "active": account.active,
                }
                for account in accounts
            ],
        )
    return len(accounts)


def _already_reported(row: SyncedInvoice | None, invoice: Invoice) -> bool:
    return (
        row is not None
        and row.state == InvoiceState.SKIPPED
        and row.error_code in REVIEW_ONLY_CODES
        and row.ontop_updated_at == invoice.updated_at
    )


def _worker_label(run: _Run, invoice: Invoice) -> str:
    if run.workers is not None:
        worker = run.workers.get(str(invoice.agreement_id))
        if worker is not None and worker.display_name:
            return worker.display_name
    return invoice.worker_email or f"contract {invoice.agreement_id}"


def _status(counts: RunCounts) -> str:
    if counts.failed == 0:
        return "succeeded"
    if counts.bills_created == 0 and counts.already_synced == 0 and counts.failed >= counts.invoices_seen:
        return "failed"
    return "partial"


def _progress_text(counts: RunCounts) -> str:
    return (
        f"{counts.invoices_seen} invoices read · {counts.bills_created} bills created · "
        f"{counts.already_synced} already in QuickBooks · {counts.failed} need attention"
    )


def _qbo_failure_text(error: QboError) -> str:
    where = f" (field {error.element})" if error.element else ""
    detail = f": {error.detail}" if error.detail else ""
    return f"QuickBooks refused the bill{where}: {error.message}{detail} [code {error.code}]"


def _unavailable_text(service: str, exc: Exception) -> str:
    code = f" (code {exc.code})" if isinstance(exc, QboError) else ""
    return (
        f"{service} could not be reached{code} after several tries; nothing was lost and the next run picks up"
        " where this one stopped."
    )


def _reauth_text() -> str:
    return "QuickBooks no longer accepts this connection. An admin needs to run `/qbo connect` again."


def _ontop_auth_text() -> str:
    return "Ontop refused the stored credentials. An admin can run `/qbo connect` to enter them again."


async def _no_progress(done: int, message: str) -> None:
    return None


class EngineExecutor:
    """The worker's RunExecutor: runs the engine for a queued run and reports the outcome the queue records."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], engine: SyncEngine) -> None:
        self._sessions = sessions
        self._engine = engine

    async def __call__(self, run_id: int, progress: ProgressReporter) -> RunOutcome:
        async with self._sessions() as session:
            run = await get_run(session, run_id)
        if run is None:
            return RunOutcome.failure(f"run {run_id} vanished")

        async def report(done: int, message: str) -> None:
            await progress(done, None)

        for attempt in range(1, DATABASE_ATTEMPTS + 1):
            try:
                result = await self._engine.run(
                    run.connection_id, run_id, report, only_failed=run.trigger == RunTrigger.RETRY
                )
                break
            except DBAPIError as exc:
                # The database dropped the connection (restart, failover): the pool reconnects, and resuming is
                # safe because the ledger was written before every create.
                log.warning("sync.database_error", attempt=attempt, error=type(exc).__name__)
                if attempt == DATABASE_ATTEMPTS:
                    return RunOutcome.failure(
                        "The database connection kept dropping during the sync. Nothing was lost: the next run"
                        " finishes it."
                    )
                await asyncio.sleep(attempt)
        return RunOutcome(
            status=RunStatus(result.status),
            counts=result.counts,
            error_summary=result.error_summary,
            watermark_after=result.watermark_after,
        )
