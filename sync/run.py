"""The sync run: Ontop invoices → QBO bills, fee bills and payments, exactly once, one invoice's failure never
stopping the others.

The run reads pages from where the watermark says (sync/watermark.py), plans each invoice (sync/planning.py, the
same planning the preview uses), makes the suppliers true (sync/vendor_sync.py), posts each batch's documents with
the ledger written first (sync/posting.py), pays what it created (sync/payments.py), attaches the PDFs
(sync/attachments.py), then finishes what earlier runs left (fee bills, open bills), and moves the watermark only
past invoices that reached a terminal state.

Bills first: a run with many invoices to read (more than `bills_first_over`, e.g. a first sync of thousands) posts the
suppliers and bills (and vendor credits) and stops there, so every bill is in QuickBooks and the summary posted in
minutes; its fee bills are written down to make, its bills stay unpaid in the ledger, and its PDFs are uploaded in
the background while the bills go out (yielding to the batch calls), the rest left pending. Its summary says what is
still on its way, and the worker queues a follow-up run (trigger `finish`) that pays, makes the fee bills and
attaches the PDFs at full speed: batch calls full, uploads in parallel using the request budget the batch calls
leave. Both write the ledger first with deterministic requestids, like every run.

Before any of that, the approval gate (sync/review.py) may hold the run: it then plans everything, posts nothing,
and leaves a review for an admin; the run an approval queues posts exactly the reviewed invoices.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.models import ConnectionStatus, PostingKind, RunStatus, RunTrigger
from storage.records import ConnectionRecord, ReviewRecord, RunRecord
from storage.repos.connections import ConnectionRepo
from sync import messages, review
from sync.api import Fix, FixKind, NeedsReauthError, NotConnectedError
from sync.attachments import Attacher
from sync.bills import BillProblem, Booking
from sync.books import ConnectionBooks, company_of, load_books, refresh_caches, refresh_tracking, with_preferences
from sync.connections import ClientFactory, mark_needs_reauth
from sync.invoice_ids import InvoiceIdSet
from sync.jobs import RunCounts, RunOutcome
from sync.ledger import PaymentRequest, RunLedger
from sync.ontop.client import OntopClient
from sync.ontop.models import Invoice, InvoiceStatus, OntopAuthError, OntopError, OntopNotFoundError
from sync.payments import Payer
from sync.plan import InvoicePlan, Outcome, VendorAction, VendorResolution, plan_bill
from sync.planning import Planner
from sync.posting import BatchResult, Poster
from sync.qbo.client import QboClient
from sync.qbo.errors import QboAuthError, QboError, QboForbidden
from sync.qbo.models import Bill
from sync.vendor_sync import VendorResolver, VendorSync
from sync.watermark import WatermarkTracker, read_start

log = structlog.get_logger(__name__)

Progress = Callable[[int, int | None], Awaitable[None]]  # (invoices done, total when known)
BATCH_SIZE = 30  # invoices per batch (their bills and fee bills go in batch calls of at most 30)
ACCOUNT_CACHE_TTL = timedelta(hours=1)
FOLLOW_UPS_PER_RUN = 300  # fee bills of earlier runs read from the ledger at a time (a run makes them all)
BILLS_FIRST_OVER = 300  # a run with more invoices to read posts its bills first and leaves the rest to a follow-up
FINISH_PROGRESS_SECONDS = 1.0  # how often the follow-up run reports its progress (the worker throttles Slack)
REFETCH_AT_MOST = 50  # approved invoices fetched one by one; more are read in pages


class RunAborted(Exception):
    """The whole run cannot go on (disconnected, QBO needs reconnecting, Ontop refuses the credentials)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class _Run:
    connection: ConnectionRecord
    run_id: int
    qbo: QboClient
    ontop: OntopClient
    ledger: RunLedger
    planner: Planner
    books: ConnectionBooks
    vendors: VendorSync
    poster: Poster
    payer: Payer | None
    attacher: Attacher
    counts: RunCounts = field(default_factory=RunCounts)
    batch: list[tuple[InvoicePlan, Booking]] = field(default_factory=list)
    queued: InvoiceIdSet = field(default_factory=InvoiceIdSet)  # compact: a run may read 100,000 invoices
    # Cancelled invoices of the page being processed, written down together when the page is done (a lost skip
    # only means the next run writes it again).
    skips: list[tuple[Invoice, str]] = field(default_factory=list)
    watermark: WatermarkTracker = field(default_factory=WatermarkTracker)
    ontop_vendor_id: str | None = None
    draft: review.ReviewDraft | None = None  # set while the run plans for a review: nothing is posted
    changed: list[Invoice] = field(default_factory=list)  # approved invoices that changed in Ontop since their review
    bills_first: bool = False  # a big run: bills now, payments, fee bills and PDFs by the run that follows
    finishing: bool = False  # the follow-up of a bills-first run: finishes the leftovers at full speed

    @property
    def resolver(self) -> VendorResolver:
        return self.planner.resolver


class SyncEngine:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clients: ClientFactory,
        *,
        batch_size: int = BATCH_SIZE,
        bills_first_over: int | None = BILLS_FIRST_OVER,
    ) -> None:
        """bills_first_over: a run with more invoices to read than this posts its bills first (None: never)."""
        self._sessions = sessions
        self._clients = clients
        self._batch_size = batch_size
        self._bills_first_over = bills_first_over

    async def run(self, run: RunRecord, progress: Progress | None = None, *, only_failed: bool = False) -> RunOutcome:
        """Sync one connection. Raises nothing for per-invoice problems; returns the outcome.

        only_failed: a retry reprocesses just the invoices whose ledger row failed or whose outcome is unknown,
        fetching each from Ontop, and leaves the watermark where it is.
        """
        structlog.contextvars.bind_contextvars(connection_id=run.connection_id, run_id=run.id)
        finishing = run.trigger == RunTrigger.FINISH
        # The follow-up of a bills-first run shows the progress of what it finishes, not of the (few) invoices it reads.
        report = _no_progress if finishing else progress or _no_progress
        try:
            state = await self._start(run)
        except RunAborted as aborted:
            return RunOutcome.failure(aborted.message)
        state.finishing = finishing
        connection = state.connection
        review_id: int | None = None
        total: int | None
        pages: AsyncIterator[list[Invoice]]
        try:
            await self._refresh_company(state)
            gate = await review.open_gate(self._sessions, connection, datetime.now(UTC))
            approved = gate.approved
            if approved is None and gate.waiting_for is not None:
                # Nothing is posted while a review waits for a person, so no second review stacks up behind it.
                log.info("sync.waiting_for_review", review_id=gate.waiting_for.id)
                return RunOutcome(RunStatus.SUCCEEDED, state.counts, review_id=gate.waiting_for.id)
            if approved is not None:
                total, pages = await self._approved_pages(state, approved)
            elif only_failed:
                unfinished = await state.ledger.unfinished()
                total = len(unfinished)
                pages = self._refetch(state, [entry.invoice_id for entry in unfinished])
            else:
                since = read_start(connection.watermark, connection.backfill_from)
                total = await state.ontop.count_changed_since(since)
                pages = state.ontop.invoices_changed_since(since)
            await report(0, total)
            if self._bills_first(total) and not finishing:
                state.bills_first = state.poster.defer_fees = True
                log.info("sync.bills_first", invoices=total)
            seen = True
            if approved is None and gate.may_ask:
                draft = await self._plan_for_review(state, pages, total, report)
                if gate.asks(draft):
                    made = await self._ask_for_review(state, run, draft)
                    return RunOutcome(_status(state.counts), state.counts, review_id=made.id)
                # Under the threshold: post what was just planned, as a run without the gate would have.
                state.draft, state.planner = None, self._fresh_planner(state)
                state.queued.clear()
                pages, seen = self._refetch(state, draft.invoice_ids), False
            async for page in pages:
                await self._process_page(state, page, seen=seen)
                while len(state.batch) >= self._batch_size:
                    await self._flush(state, state.batch[: self._batch_size])
                    state.batch = state.batch[self._batch_size :]
                await report(state.counts.invoices_seen, total)
            while state.batch:
                await self._flush(state, state.batch[: self._batch_size])
                state.batch = state.batch[self._batch_size :]
            await self._drain(state)
            if state.bills_first:
                await self._leave_for_follow_up(state)
            else:
                await self._finish_earlier_runs(state, progress or _no_progress)
            if approved is not None:
                review_id = await self._after_approved(state, run, approved)
            if only_failed or approved is not None:
                watermark_after = connection.watermark  # only some invoices were read: the watermark stays
            else:
                watermark_after = state.watermark.advanced(connection.watermark)
                async with transaction(self._sessions) as session:
                    await ConnectionRepo(session).set_watermark(connection.id, watermark_after)
        except (NeedsReauthError, QboAuthError, QboForbidden) as exc:
            if not isinstance(exc, NeedsReauthError):
                await mark_needs_reauth(self._sessions, connection.id, str(exc))
            return RunOutcome.failure(messages.RECONNECT, state.counts)
        except OntopAuthError:
            return RunOutcome.failure(messages.ONTOP_CREDENTIALS_REFUSED, state.counts)
        except OntopError as exc:
            log.warning("sync.ontop_unavailable", error=type(exc).__name__)
            return RunOutcome.failure(messages.unreachable_during_run("Ontop"), state.counts)
        except QboError as exc:
            log.warning("sync.qbo_unavailable", code=exc.code, intuit_tid=exc.intuit_tid)
            return RunOutcome.failure(messages.unreachable_during_run("QuickBooks", exc.code), state.counts)
        finally:
            await state.attacher.cancel()  # on an error: uploads still in the background stop (their PDFs stay pending)
            state.counts.api_calls = state.qbo.requests_sent
            state.counts.attachments_created = state.attacher.attached
            if state.payer is not None:
                state.counts.payments_created = state.payer.created
            await state.ontop.aclose()
        await report(state.counts.invoices_seen, total if total is not None else state.counts.invoices_seen)
        return RunOutcome(_status(state.counts), state.counts, None, watermark_after, review_id)

    def _bills_first(self, total: int | None) -> bool:
        return self._bills_first_over is not None and total is not None and total > self._bills_first_over

    # --- set-up ---------------------------------------------------------------------------------------------

    async def _start(self, run: RunRecord) -> _Run:
        async with self._sessions() as session:
            connection = await ConnectionRepo(session).get(run.connection_id)
            if connection is None or connection.status == ConnectionStatus.DISCONNECTED:
                raise RunAborted(messages.DISCONNECTED_DURING_RUN)
            if connection.status == ConnectionStatus.NEEDS_REAUTH:
                raise RunAborted(messages.RECONNECT)
            books = await load_books(session, connection, company_of(connection))
        try:
            ontop = await self._clients.ontop_for_connection(connection.id)
        except NotConnectedError as exc:
            raise RunAborted(exc.message) from None
        qbo = self._clients.qbo_client(connection.id, connection.realm_id)
        ledger = RunLedger(self._sessions, connection.id, run.id, connection.realm_id)
        resolver = VendorResolver(
            qbo,
            ontop,
            books.links,
            books.context.company,
            auto_create=books.auto_create,
            currency_policy=books.currency_policy,
        )
        payer = Payer(qbo, ledger, books.pay_from) if books.payments_enabled and books.pay_from else None
        return _Run(
            connection=connection,
            run_id=run.id,
            qbo=qbo,
            ontop=ontop,
            ledger=ledger,
            planner=Planner(ledger.entries, resolver, books.context),
            books=books,
            vendors=VendorSync(self._sessions, qbo, connection.id),
            poster=Poster(qbo, ledger, connection.home_currency),
            payer=payer,
            attacher=Attacher(qbo, ontop, ledger, connection.realm_id),
            ontop_vendor_id=books.ontop_vendor_id,
        )

    async def _refresh_company(self, state: _Run) -> None:
        """Home currency, multicurrency and tracking can change in QBO; the caches feed the Slack surfaces and the
        books."""
        preferences = await state.qbo.preferences()
        before = state.books.context.company
        company = with_preferences(before, preferences)
        state.resolver.company = company
        state.planner.context = dataclasses.replace(state.planner.context, company=company)
        async with transaction(self._sessions) as session:
            await ConnectionRepo(session).save_preferences(
                state.connection.id,
                home_currency=preferences.home_currency,
                multicurrency_enabled=preferences.multicurrency_enabled,
            )
        refreshed = state.connection.accounts_refreshed_at
        if refreshed is None or datetime.now(UTC) - refreshed > ACCOUNT_CACHE_TTL:
            await refresh_caches(self._sessions, state.qbo, state.connection.id, company)
        elif (company.class_tracking, company.track_departments) != (before.class_tracking, before.track_departments):
            # Tracking was just turned on or off: the tracking modal's lists follow now, not in an hour.
            await refresh_tracking(self._sessions, state.qbo, state.connection.id, company)

    async def _refetch(self, state: _Run, invoice_ids: list[str]) -> AsyncIterator[list[Invoice]]:
        """The invoices a retry reprocesses, as they are in Ontop now, a batch at a time."""
        for start in range(0, len(invoice_ids), self._batch_size):
            page = []
            for invoice_id in invoice_ids[start : start + self._batch_size]:
                try:
                    page.append(await state.ontop.invoice(int(invoice_id)))
                except OntopNotFoundError:
                    log.info("sync.retry_invoice_gone", invoice_id=invoice_id)
            yield page

    # --- the approval gate (sync/review.py) ---------------------------------------------------------------

    async def _plan_for_review(
        self, state: _Run, pages: AsyncIterator[list[Invoice]], total: int | None, report: Progress
    ) -> review.ReviewDraft:
        """Plan every invoice without writing to QuickBooks: what would be posted goes into a draft (its suppliers
        only pretended, as the preview does); the rest is recorded as any run records it."""
        state.draft = review.ReviewDraft()
        async for page in pages:
            await self._process_page(state, page)
            await report(state.counts.invoices_seen, total)
        return state.draft

    async def _ask_for_review(self, state: _Run, run: RunRecord, draft: review.ReviewDraft) -> ReviewRecord:
        """Leave the draft for an admin's approval (its message owed in the same transaction)."""
        await review.add_earlier_exclusions(self._sessions, state.connection.id, draft)
        async with transaction(self._sessions) as session:
            return await review.store_review(
                session, state.connection, draft, run_id=run.id, requested_by=run.requested_by, now=datetime.now(UTC)
            )

    def _fresh_planner(self, state: _Run) -> Planner:
        """A planner whose resolver has not pretended any supplier exists (a review's planning did)."""
        resolver = VendorResolver(
            state.qbo,
            state.ontop,
            state.books.links,
            state.resolver.company,
            auto_create=state.books.auto_create,
            currency_policy=state.books.currency_policy,
        )
        return Planner(state.ledger.entries, resolver, state.planner.context)

    async def _approved_pages(self, state: _Run, approved: ReviewRecord) -> tuple[int, AsyncIterator[list[Invoice]]]:
        """The approved invoices as Ontop has them now; those that changed since the review are set aside.

        Many of them are read in pages from where the review read (a run waiting for the review left the watermark
        there), the rest one by one: a first sync of thousands costs pages, not thousands of requests.
        """
        items = await review.approved_items(self._sessions, approved.id)
        reviewed = {item.invoice_id: item.ontop_updated_at for item in items}
        log.info("sync.posting_review", review_id=approved.id, invoices=len(reviewed))

        def unchanged(page: list[Invoice]) -> list[Invoice]:
            state.changed.extend(invoice for invoice in page if invoice.updated_at != reviewed[str(invoice.id)])
            return [invoice for invoice in page if invoice.updated_at == reviewed[str(invoice.id)]]

        async def pages() -> AsyncIterator[list[Invoice]]:
            remaining = set(reviewed)
            if len(remaining) > REFETCH_AT_MOST:
                since = read_start(state.connection.watermark, state.connection.backfill_from)
                async for page in state.ontop.invoices_changed_since(since):
                    found = [invoice for invoice in page if str(invoice.id) in remaining]
                    remaining.difference_update(str(invoice.id) for invoice in found)
                    yield unchanged(found)
            async for page in self._refetch(state, [invoice_id for invoice_id in reviewed if invoice_id in remaining]):
                yield unchanged(page)

        return len(reviewed), pages()

    async def _after_approved(self, state: _Run, run: RunRecord, approved: ReviewRecord) -> int | None:
        """The approved review is posted; what changed in Ontop since goes back to review. Returns the new review."""
        made = None
        if state.changed:
            state.draft = review.ReviewDraft()
            await self._process_page(state, state.changed)
            if state.draft.included:
                made = await self._ask_for_review(state, run, state.draft)
            state.draft = None
        await review.mark_posted(self._sessions, approved.id, run.id)
        return made.id if made is not None else None

    # --- per page -------------------------------------------------------------------------------------------

    async def _process_page(self, state: _Run, page: list[Invoice], *, seen: bool = True) -> None:
        """Plan a page and act on each plan. `seen` False: the invoices were counted already (read again to post)."""
        await state.planner.read_page(page)
        if state.draft is None:
            await self._create_suppliers_together(state, page)
        for invoice in page:
            if seen:
                state.counts.invoices_seen += 1
                state.watermark.saw(invoice.updated_at)
            if str(invoice.id) in state.queued:
                continue  # pages overlapped while Ontop changed under us: already queued in this run
            try:
                plan = await state.planner.plan(invoice)
                if plan.outcome is Outcome.POST and state.draft is None:
                    plan = await self._make_suppliers_true(state, plan)
            except (QboAuthError, QboForbidden):
                raise
            except (QboError, OntopError) as exc:
                service = "QuickBooks" if isinstance(exc, QboError) else "Ontop"
                problem = BillProblem(
                    "service_unavailable",
                    messages.service_did_not_answer(service),
                    Fix(FixKind.RETRY, str(invoice.id)),
                )
                plan = InvoicePlan(invoice, Outcome.BLOCKED, state.resolver.worker_label(invoice), problem=problem)
            if state.draft is not None:
                state.draft.add(plan, state.resolver.worker_label(invoice))
                if plan.outcome is Outcome.POST:
                    self._pretend_posted(state, plan)  # planned for the review, not posted
                    continue
            await self._record(state, plan)
        if state.skips:
            await state.ledger.skip_many(state.skips)
            state.skips.clear()

    async def _create_suppliers_together(self, state: _Run, page: list[Invoice]) -> None:
        """The suppliers a page's invoices need, created in batch calls before the invoices are planned one by one:
        a company's first sync meets most of its workers at once, and one request each was a tenth of its requests.
        Whatever this cannot do (a refused name, QuickBooks not answering) each invoice's own turn does and reports."""
        wanted: dict[str, VendorResolution] = {}
        decided: set[str] = set()
        for invoice in page:
            worker = str(invoice.agreement_id)
            if worker in decided or str(invoice.id) in state.queued:
                continue
            try:
                plan = await state.planner.plan(invoice)
            except (QboAuthError, QboForbidden):
                raise
            except (QboError, OntopError):
                continue
            if plan.outcome is not Outcome.POST or plan.vendor is None:
                continue  # a later invoice of the worker's may still need the supplier
            decided.add(worker)
            if plan.vendor.action is VendorAction.CREATE:
                wanted[worker] = plan.vendor
        if len(wanted) < 2:
            return  # one supplier costs its own request either way
        try:
            state.counts.vendors_created += await state.vendors.create_together(list(wanted.values()), state.resolver)
        except (QboAuthError, QboForbidden):
            raise
        except QboError as exc:
            log.info("sync.suppliers_batch_failed", code=exc.code, suppliers=len(wanted))

    @staticmethod
    def _pretend_posted(state: _Run, plan: InvoicePlan) -> None:
        """A reviewed invoice is counted once, and later invoices of its worker reuse the supplier it would make."""
        state.queued.add(str(plan.invoice.id))
        if plan.vendor is not None:
            state.resolver.plan(plan.vendor)

    async def _make_suppliers_true(self, state: _Run, plan: InvoicePlan) -> InvoicePlan:
        """Link or create the worker's supplier (and the Ontop supplier for a fee bill), then plan again for them."""
        if plan.vendor is not None and plan.vendor.action is not VendorAction.USE:
            applied = await state.vendors.apply(plan.vendor, state.resolver, invoice_id=str(plan.invoice.id))
            if isinstance(applied, BillProblem):
                return plan_bill(plan.invoice, applied, plan.worker_name, state.planner.context)
            if applied.created:
                state.counts.vendors_created += 1
            plan = plan_bill(plan.invoice, applied.resolution, plan.worker_name, state.planner.context)
        if plan.booking is not None and plan.booking.fee_bill is not None:
            if state.ontop_vendor_id is None:
                state.ontop_vendor_id = await state.vendors.ontop_supplier(state.resolver, None)
            fee_bill = dataclasses.replace(plan.booking.fee_bill, vendor_id=state.ontop_vendor_id)
            plan = dataclasses.replace(plan, booking=dataclasses.replace(plan.booking, fee_bill=fee_bill))
        return plan

    async def _record(self, state: _Run, plan: InvoicePlan) -> None:
        """Count the plan and write down what does not wait for a batch."""
        invoice = plan.invoice
        counts = state.counts
        if plan.outcome is Outcome.POST:
            assert plan.booking is not None
            state.batch.append((plan, plan.booking))
            state.queued.add(str(invoice.id))
        elif plan.outcome is Outcome.ALREADY_SYNCED:
            counts.already_synced += 1
        elif plan.outcome is Outcome.HELD:
            counts.held += 1
        elif plan.outcome is Outcome.WAITING:
            counts.skipped += 1
            if invoice.status == InvoiceStatus.CANCELLED:
                state.skips.append((invoice, plan.reason or messages.CANCELLED_IN_ONTOP))
        elif plan.outcome is Outcome.REVIEW:
            counts.review_cases += 1
            if plan.keep_state:
                counts.already_synced += 1  # its bill exists; the review is about what to do with it
            await state.ledger.review(
                invoice,
                code=plan.review_code or "review",
                message=plan.reason or "",
                worker_name=state.resolver.worker_label(invoice),
                keep_state=plan.keep_state,
            )
        else:
            assert plan.problem is not None
            counts.failed += 1
            state.watermark.hold(invoice.updated_at)
            await state.ledger.fail(invoice, plan.worker_name or state.resolver.worker_label(invoice), plan.problem)
            log.info("sync.invoice_failed", invoice_id=invoice.id, code=plan.problem.code)

    # --- documents ------------------------------------------------------------------------------------------

    async def _flush(self, state: _Run, items: list[tuple[InvoicePlan, Booking]]) -> None:
        result = await state.poster.post(items)
        self._count(state, result)
        own = [doc for doc in result.created if doc.part is None and isinstance(doc.created, Bill)]
        pdfs = [(doc.invoice, doc.created.id) for doc in own if doc.created is not None and doc.invoice.pdf_available]
        if state.bills_first:
            state.attacher.attach_in_background(pdfs)  # never holds up the next batch of bills
            return
        await state.attacher.attach_all(pdfs)
        await self._pay(state, result)

    @staticmethod
    def _count(state: _Run, result: BatchResult) -> None:
        counts = state.counts
        for document in result.created:
            if document.part is not None:
                counts.fee_bills_created += 1
            elif document.is_credit:
                counts.credits_created += 1
            else:
                counts.bills_created += 1
        for document in result.failed:
            counts.failed += 1
            state.watermark.hold(document.invoice.updated_at)
        counts.home_differences += result.home_differences

    async def _pay(self, state: _Run, result: BatchResult) -> None:
        if state.payer is None or state.bills_first:
            return
        requests = [
            PaymentRequest(
                str(document.invoice.id),
                PostingKind.FEE_PAYMENT if document.part else PostingKind.PAYMENT,
                document.created,
                document.invoice.paid_date,
            )
            for document in result.created
            if isinstance(document.created, Bill)
        ]
        failed_before = state.payer.failed
        await state.payer.pay(requests)
        state.counts.failed += state.payer.failed - failed_before

    async def _drain(self, state: _Run) -> None:
        """Send the fee bills and payments still waiting to fill a batch (Poster and Payer keep them so every batch
        call is full), and pay the fee bills that makes."""
        result = await state.poster.flush()
        self._count(state, result)
        await self._pay(state, result)
        if state.payer is not None:
            failed_before = state.payer.failed
            await state.payer.flush()
            state.counts.failed += state.payer.failed - failed_before

    async def _leave_for_follow_up(self, state: _Run) -> None:
        """A bills-first run's bills are all posted: the uploads in flight finish, and what is still on its way
        (counted from the ledger, where it is written down) goes into the summary and to the follow-up run."""
        await state.attacher.stop()
        left = await state.ledger.leftovers()
        counts = state.counts
        counts.payments_to_follow = left.payments if state.payer is not None else 0
        counts.fee_bills_to_follow = left.fee_bills
        counts.pdfs_to_follow = left.pdfs
        log.info(
            "sync.left_for_follow_up", payments=counts.payments_to_follow, fee_bills=left.fee_bills, pdfs=left.pdfs
        )

    async def _finish_earlier_runs(self, state: _Run, progress: Progress) -> None:
        """Fee bills earlier runs could not make (or left to make), PDFs they could not attach, bills they could not
        pay: all of them, a page at a time.

        The follow-up of a bills-first run uploads the PDFs alongside the fee bills and payments (uploads yield to
        batch calls, which are full), and reports its progress over everything it finishes.
        """
        if not state.finishing:
            await self._finish_fee_bills(state)
            await state.attacher.retry_pending()
            await self._catch_up(state)
            return
        left = await state.ledger.leftovers()
        total = left.fee_bills + left.pdfs + (left.payments if state.payer is not None else 0)

        def done() -> int:
            paid = state.payer.created if state.payer is not None else 0
            return min(total, state.counts.fee_bills_created + paid + state.attacher.attached)

        async def tick() -> None:
            while True:
                await progress(done(), total)
                await asyncio.sleep(FINISH_PROGRESS_SECONDS)

        ticker = asyncio.create_task(tick(), name="finish-progress")
        pdfs = asyncio.create_task(state.attacher.retry_pending(background=True), name="finish-pdfs")
        try:
            await self._finish_fee_bills(state)
            await self._catch_up(state)
            await pdfs
        finally:
            ticker.cancel()
            pdfs.cancel()
            await asyncio.gather(ticker, pdfs, return_exceptions=True)
        await progress(done(), total)

    async def _finish_fee_bills(self, state: _Run) -> None:
        """Fee bills still to make, a page at a time until a page makes none: each page ends with its fee bills
        sent and paid (a fee bill waiting for a full batch would be listed again by the next page)."""
        while True:
            made_before = state.counts.fee_bills_created
            unfinished = await state.ledger.unfinished_fee_bills(FOLLOW_UPS_PER_RUN)
            items = []
            for posting in unfinished:
                if posting.invoice_id in state.queued:
                    continue
                try:
                    invoice = await state.ontop.invoice(int(posting.invoice_id))
                except OntopNotFoundError:
                    continue
                plan = await self._make_suppliers_true(state, await state.planner.plan_fees(invoice))
                if plan.booking is not None and plan.booking.fee_bill is not None:
                    items.append((plan, plan.booking))
            for start in range(0, len(items), self._batch_size):
                result = await state.poster.post(items[start : start + self._batch_size])
                self._count(state, result)
                await self._pay(state, result)
            await self._drain(state)
            if state.counts.fee_bills_created == made_before or len(unfinished) < FOLLOW_UPS_PER_RUN:
                return

    async def _catch_up(self, state: _Run) -> None:
        if state.payer is not None:
            failed_before = state.payer.failed
            await state.payer.catch_up()
            state.counts.failed += state.payer.failed - failed_before


def _status(counts: RunCounts) -> RunStatus:
    if counts.failed == 0 and counts.review_cases == 0:
        return RunStatus.SUCCEEDED
    if counts.bills_created == 0 and counts.already_synced == 0 and counts.failed >= counts.invoices_seen:
        return RunStatus.FAILED
    return RunStatus.PARTIAL


async def _no_progress(done: int, total: int | None) -> None:
    return None
