"""The ledger: one row per Ontop invoice of a connection, written before anything is sent to QuickBooks.

A repository lives for one transaction. Rows it has read or created stay loaded in it, so a batch's state changes
are flushed together at commit instead of one query each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, Update, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InvoiceState, SyncedInvoice
from storage.records import LedgerEntry


@dataclass(frozen=True)
class InvoiceFacts:
    """What the ledger keeps of an Ontop invoice as last read; refreshed on every write about it."""

    invoice_id: str
    number: str
    agreement_id: str | None
    status: str
    updated_at: datetime
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class PendingDocument:
    """What the ledger writes down about an invoice's bill (or credit) before it is sent."""

    request_id: str
    doc_number: str | None
    vendor_id: str
    worker_name: str
    amount: Decimal
    currency: str
    document: str = "bill"
    usd_total: Decimal | None = None
    paid_on: date | None = None
    home_amount_expected: Decimal | None = None


@dataclass(frozen=True)
class CreatedDocument:
    """An invoice's bill or credit that QuickBooks created, as the ledger records it."""

    invoice_id: str
    document_id: str
    pdf_pending: bool  # its PDF is still to attach
    home: Decimal | None  # the home-currency amount QuickBooks booked


@dataclass(frozen=True)
class FixRef:
    """A stored fix: its kind (map_concept, create_vendor, reconnect, retry, ...) and what it acts on."""

    kind: str
    target: str


_INVOICES = cast(Table, SyncedInvoice.__table__)


def _fact_columns(fact: InvoiceFacts, run_id: int | None) -> dict[str, object]:
    """The columns an invoice's facts fill, as touch() sets them."""
    columns: dict[str, object] = {
        "invoice_number": fact.number,
        "agreement_id": fact.agreement_id,
        "ontop_status": fact.status,
        "ontop_updated_at": fact.updated_at,
        "amount": fact.amount,
        "currency": fact.currency,
    }
    if run_id is not None:
        columns["last_run_id"] = run_id
    return columns


def _pending_columns(pending: PendingDocument) -> dict[str, object]:
    """The columns a document written down as pending fills (mark_pending and insert_pending alike)."""
    return {
        "state": InvoiceState.PENDING,
        "request_id": pending.request_id,
        "doc_number": pending.doc_number,
        "qbo_vendor_id": pending.vendor_id,
        "worker_name": pending.worker_name,
        "amount": pending.amount,
        "currency": pending.currency,
        "document": pending.document,
        "usd_total": pending.usd_total,
        "paid_on": pending.paid_on,
        "home_amount_expected": pending.home_amount_expected,
    }


class LedgerRepo:
    def __init__(self, session: AsyncSession, connection_id: int) -> None:
        self._session = session
        self._connection_id = connection_id
        self._loaded: dict[str, SyncedInvoice] = {}

    # --- reading ------------------------------------------------------------------------------------------

    async def get_many(self, invoice_ids: Sequence[str]) -> dict[str, LedgerEntry]:
        """The rows of these invoices that exist, by invoice id."""
        await self._load(invoice_ids)
        return {key: LedgerEntry.of(self._loaded[key]) for key in invoice_ids if key in self._loaded}

    async def get(self, invoice_id: str) -> LedgerEntry | None:
        return (await self.get_many([invoice_id])).get(invoice_id)

    async def list_in_states(self, states: Sequence[str]) -> list[LedgerEntry]:
        rows = await self._session.scalars(
            select(SyncedInvoice)
            .where(SyncedInvoice.connection_id == self._connection_id, SyncedInvoice.state.in_(list(states)))
            .order_by(SyncedInvoice.id)
        )
        return [LedgerEntry.of(row) for row in rows]

    async def count_in_state(self, state: str) -> int:
        value = await self._session.scalar(
            select(func.count(SyncedInvoice.id)).where(
                SyncedInvoice.connection_id == self._connection_id, SyncedInvoice.state == state
            )
        )
        return int(value or 0)

    async def list_problems_of_run(self, run_id: int) -> list[LedgerEntry]:
        """Invoices the run left with a failure or a case for review, in ledger order."""
        rows = await self._session.scalars(
            select(SyncedInvoice)
            .where(
                SyncedInvoice.connection_id == self._connection_id,
                SyncedInvoice.last_run_id == run_id,
                SyncedInvoice.error_code.is_not(None),
            )
            .order_by(SyncedInvoice.id)
        )
        return [LedgerEntry.of(row) for row in rows]

    async def list_with_codes(self, codes: Sequence[str], limit: int = 200) -> list[LedgerEntry]:
        """Invoices whose open problem has one of these codes (e.g. review cases), oldest first."""
        rows = await self._session.scalars(
            select(SyncedInvoice)
            .where(SyncedInvoice.connection_id == self._connection_id, SyncedInvoice.error_code.in_(list(codes)))
            .order_by(SyncedInvoice.id)
            .limit(limit)
        )
        return [LedgerEntry.of(row) for row in rows]

    async def has_created(self) -> bool:
        """Whether anything was ever booked for this connection (before that, a run is its first sync)."""
        found = await self._session.scalar(
            select(SyncedInvoice.id)
            .where(SyncedInvoice.connection_id == self._connection_id, SyncedInvoice.state == InvoiceState.CREATED)
            .limit(1)
        )
        return found is not None

    async def list_of_run(self, run_id: int) -> list[LedgerEntry]:
        """Every invoice the run wrote about (created, failed, skipped, held, a case for review), in ledger order."""
        rows = await self._session.scalars(
            select(SyncedInvoice)
            .where(SyncedInvoice.connection_id == self._connection_id, SyncedInvoice.last_run_id == run_id)
            .order_by(SyncedInvoice.id)
        )
        return [LedgerEntry.of(row) for row in rows]

    async def usd_booked_by_runs(self, run_ids: Sequence[int]) -> dict[int, Decimal]:
        """What each run's bills book in USD (Ontop's USD amounts of the invoices it created)."""
        rows = await self._session.execute(
            select(SyncedInvoice.last_run_id, func.sum(SyncedInvoice.usd_total))
            .where(
                SyncedInvoice.connection_id == self._connection_id,
                SyncedInvoice.state == InvoiceState.CREATED,
                SyncedInvoice.last_run_id.in_(list(run_ids)),
            )
            .group_by(SyncedInvoice.last_run_id)
        )
        return {int(run_id): Decimal(str(total or 0)) for run_id, total in rows.all() if run_id is not None}

    async def failed_invoice_currencies(self, code: str) -> dict[str, str]:
        """Agreement id -> the currency of its latest invoice failing with `code` (e.g. no supplier yet)."""
        rows = await self._session.execute(
            select(SyncedInvoice.agreement_id, SyncedInvoice.currency)
            .where(
                SyncedInvoice.connection_id == self._connection_id,
                SyncedInvoice.state == InvoiceState.FAILED,
                SyncedInvoice.error_code == code,
            )
            .order_by(SyncedInvoice.id)
        )
        return {str(agreement): str(currency) for agreement, currency in rows.all() if agreement and currency}

    async def count_failed_by_fix_target(self, fix_kind: str) -> dict[str, int]:
        """Failed invoices per fix target of one kind (e.g. per unmapped concept)."""
        rows = await self._session.execute(
            select(SyncedInvoice.fix_value, func.count(SyncedInvoice.id))
            .where(
                SyncedInvoice.connection_id == self._connection_id,
                SyncedInvoice.state == InvoiceState.FAILED,
                SyncedInvoice.fix_action == fix_kind,
            )
            .group_by(SyncedInvoice.fix_value)
        )
        return {str(target): int(count) for target, count in rows.all() if target}

    async def has_failures_with_codes(self, codes: Sequence[str]) -> bool:
        found = await self._session.scalar(
            select(SyncedInvoice.id)
            .where(
                SyncedInvoice.connection_id == self._connection_id,
                SyncedInvoice.state == InvoiceState.FAILED,
                SyncedInvoice.error_code.in_(list(codes)),
            )
            .limit(1)
        )
        return found is not None

    async def count_pending_attachments(self) -> int:
        """Bills whose invoice PDF is not attached yet."""
        return int(
            await self._session.scalar(
                select(func.count()).where(
                    SyncedInvoice.connection_id == self._connection_id,
                    SyncedInvoice.state == InvoiceState.CREATED,
                    SyncedInvoice.attachment_pending.is_(True),
                )
            )
            or 0
        )

    async def list_pending_attachments(self, limit: int) -> list[LedgerEntry]:
        """Bills whose invoice PDF is not attached yet (an upload failed earlier)."""
        rows = await self._session.scalars(
            select(SyncedInvoice)
            .where(
                SyncedInvoice.connection_id == self._connection_id,
                SyncedInvoice.state == InvoiceState.CREATED,
                SyncedInvoice.attachment_pending.is_(True),
            )
            .order_by(SyncedInvoice.id)
            .limit(limit)
        )
        return [LedgerEntry.of(row) for row in rows]

    # --- writing --------------------------------------------------------------------------------------------

    async def touch(self, facts: Sequence[InvoiceFacts], run_id: int | None) -> list[LedgerEntry]:
        """The rows of these invoices, created when missing, with the invoice facts refreshed (one query).

        run_id None: a person's decision outside a run (the row keeps the run that last wrote about it).
        """
        await self._load([fact.invoice_id for fact in facts])
        await self._insert_missing(facts, run_id)
        entries = []
        for fact in facts:
            row = self._loaded[fact.invoice_id]
            row.invoice_number = fact.number
            row.agreement_id = fact.agreement_id
            row.ontop_status = fact.status
            row.ontop_updated_at = fact.updated_at
            row.amount = fact.amount
            row.currency = fact.currency
            if run_id is not None:
                row.last_run_id = run_id
            entries.append(LedgerEntry.of(row))
        return entries

    async def record_failure(
        self, fact: InvoiceFacts, run_id: int, *, worker_name: str, code: str, message: str, fix: FixRef | None
    ) -> bool:
        """The invoice cannot be billed now; False (nothing changed) when its bill already exists."""
        await self.touch([fact], run_id)
        row = self._loaded[fact.invoice_id]
        if row.state == InvoiceState.CREATED:
            return False
        row.state = InvoiceState.FAILED
        row.worker_name = worker_name
        self._set_problem(row, code, message, fix)
        return True

    async def record_review(
        self, fact: InvoiceFacts, run_id: int, *, worker_name: str, code: str, message: str, keep_state: bool
    ) -> None:
        """A case for a person: reported once, never retried; a billed invoice keeps its created state."""
        await self.touch([fact], run_id)
        row = self._loaded[fact.invoice_id]
        if not keep_state:
            row.state = InvoiceState.SKIPPED
        row.worker_name = row.worker_name or worker_name
        self._set_problem(row, code, message, None)

    async def record_held_by_person(self, invoice_id: str, *, code: str, message: str) -> bool:
        """A person decided the invoice is not to be booked (until they say otherwise); False when it is unknown."""
        await self._load([invoice_id])
        row = self._loaded.get(invoice_id)
        if row is None or row.state == InvoiceState.CREATED:
            return False
        row.state = InvoiceState.SKIPPED
        self._set_problem(row, code, message, None)
        return True

    async def record_held_in_review(
        self, fact: InvoiceFacts, run_id: int | None, *, worker_name: str, code: str, message: str
    ) -> bool:
        """A person left the invoice out of a review: held until they include it again; False when it is booked."""
        await self.touch([fact], run_id)
        row = self._loaded[fact.invoice_id]
        if row.state == InvoiceState.CREATED:
            return False
        row.state = InvoiceState.SKIPPED
        row.worker_name = row.worker_name or worker_name
        self._set_problem(row, code, message, None)
        return True

    async def release_hold(self, invoice_id: str, code: str) -> LedgerEntry | None:
        """Undo a person's hold with this code: the invoice is planned like any other again (None: no such hold)."""
        await self._load([invoice_id])
        row = self._loaded.get(invoice_id)
        if row is None or row.state != InvoiceState.SKIPPED or row.error_code != code:
            return None
        # Pending with nothing sent is what a new row is; with an earlier requestid the next run looks it up first.
        row.state = InvoiceState.PENDING
        self._set_problem(row, None, None, None)
        return LedgerEntry.of(row)

    async def adopt(self, invoice_id: str, *, document_id: str, home_amount_booked: Decimal | None) -> bool:
        """A person said this existing document is the invoice's: the ledger takes it as created."""
        await self._load([invoice_id])
        row = self._loaded.get(invoice_id)
        if row is None:
            return False
        row.state = InvoiceState.CREATED
        row.qbo_bill_id = document_id
        row.home_amount_booked = home_amount_booked
        self._set_problem(row, None, None, None)
        return True

    async def record_skips(self, skips: Sequence[tuple[InvoiceFacts, str]], run_id: int) -> None:
        """Terminal invoices that never become bills (cancelled before billing), with their reasons (one query)."""
        await self.touch([fact for fact, _ in skips], run_id)
        for fact, reason in skips:
            row = self._loaded[fact.invoice_id]
            if row.state != InvoiceState.CREATED:
                row.state = InvoiceState.SKIPPED
                row.error_code = None
                row.error_message = reason

    def mark_pending(self, invoice_id: str, pending: PendingDocument) -> None:
        """Written (and committed) before the create is sent: the requestid that makes a retry a replay."""
        row = self._loaded[invoice_id]
        for column, value in _pending_columns(pending).items():
            setattr(row, column, value)
        row.attempts = (row.attempts or 0) + 1

    async def insert_pending(self, new: Sequence[tuple[InvoiceFacts, PendingDocument]], run_id: int) -> None:
        """Rows for invoices the ledger has never seen, written straight as pending (one statement for all): what
        touch() and mark_pending() would make, without reading the rows back or updating them."""
        if not new:
            return
        rows = [{**self._new_row(fact, run_id), **_pending_columns(pending), "attempts": 1} for fact, pending in new]
        await self._session.execute(insert(_INVOICES), rows)

    async def record_created_many(self, created: Sequence[CreatedDocument]) -> None:
        """A batch's bills (or credits) that exist, in one statement executed for each (no row is read first)."""
        if not created:
            return
        statement = self._update_each_invoice().values(
            state=InvoiceState.CREATED,
            qbo_bill_id=bindparam("b_document"),
            attachment_pending=bindparam("b_pdf_pending"),
            home_amount_booked=bindparam("b_home"),
            error_code=None,
            error_message=None,
            fix_action=None,
            fix_value=None,
        )
        await self._session.execute(
            statement,
            [
                {
                    "b_invoice": c.invoice_id,
                    "b_document": c.document_id,
                    "b_pdf_pending": c.pdf_pending,
                    "b_home": c.home,
                }
                for c in created
            ],
        )
        self._forget([item.invoice_id for item in created])

    async def record_attachments(self, attachments: Sequence[tuple[str, str]]) -> None:
        """(invoice id, attachment id) of PDFs attached to their bills, in one statement executed for each."""
        if not attachments:
            return
        statement = self._update_each_invoice().values(
            attachment_id=bindparam("b_attachment"), attachment_pending=False
        )
        await self._session.execute(
            statement, [{"b_invoice": invoice_id, "b_attachment": attachment} for invoice_id, attachment in attachments]
        )
        self._forget([invoice_id for invoice_id, _ in attachments])

    async def record_post_failure(self, invoice_id: str, *, code: str, message: str, fix: FixRef | None) -> None:
        """QuickBooks refused the create: the next attempt is a new logical write with a new requestid."""
        await self._load([invoice_id])
        row = self._loaded[invoice_id]
        row.state = InvoiceState.FAILED
        row.generation = (row.generation or 0) + 1
        self._set_problem(row, code, message, fix)

    async def record_unknown_outcome(self, invoice_id: str, *, code: str, message: str) -> None:
        """Nobody knows whether the bill exists: the row stays pending and the next run looks it up first."""
        await self._load([invoice_id])
        row = self._loaded[invoice_id]
        row.error_code = code
        row.error_message = message

    # --- helpers --------------------------------------------------------------------------------------------

    async def _insert_missing(self, facts: Sequence[InvoiceFacts], run_id: int | None) -> None:
        """Rows for the invoices not in the ledger yet: one INSERT for all of them, then one SELECT to hold them.

        Objects added to the session would be inserted one statement each (SQLite's RETURNING gives no order the
        ORM can match rows by), and that was most of a run's statements.
        """
        new = {fact.invoice_id: fact for fact in facts if fact.invoice_id not in self._loaded}
        if not new:
            return
        # With the facts touch() sets next, so the new rows need no UPDATE at commit.
        rows = [self._new_row(fact, run_id) for fact in new.values()]
        await self._session.execute(insert(SyncedInvoice), rows)
        await self._load(list(new))

    def _new_row(self, fact: InvoiceFacts, run_id: int | None) -> dict[str, object]:
        """A ledger row never written before: pending, first generation, with the invoice's facts."""
        return {
            "connection_id": self._connection_id,
            "ontop_invoice_id": fact.invoice_id,
            "state": InvoiceState.PENDING,
            "generation": 0,
            "attempts": 0,
            "attachment_pending": False,
            **_fact_columns(fact, run_id),
        }

    async def _load(self, invoice_ids: Sequence[str]) -> None:
        missing = [key for key in dict.fromkeys(invoice_ids) if key not in self._loaded]
        if not missing:
            return
        rows = await self._session.scalars(
            select(SyncedInvoice).where(
                SyncedInvoice.connection_id == self._connection_id, SyncedInvoice.ontop_invoice_id.in_(missing)
            )
        )
        for row in rows:
            self._loaded[row.ontop_invoice_id] = row

    def _update_each_invoice(self) -> Update:
        """An UPDATE of this connection's row of the invoice bound as `b_invoice`, to execute once per row."""
        return update(_INVOICES).where(
            _INVOICES.c.connection_id == self._connection_id, _INVOICES.c.ontop_invoice_id == bindparam("b_invoice")
        )

    def _forget(self, invoice_ids: Sequence[str]) -> None:
        """Rows a statement just changed behind the session's back (their own pending changes went out first: the
        session flushes before any statement): a later read in this transaction loads them afresh."""
        for invoice_id in invoice_ids:
            row = self._loaded.pop(invoice_id, None)
            if row is not None:
                self._session.expire(row)

    @staticmethod
    def _set_problem(row: SyncedInvoice, code: str | None, message: str | None, fix: FixRef | None) -> None:
        row.error_code = code
        row.error_message = message
        row.fix_action = fix.kind if fix else None
        row.fix_value = fix.target if fix else None
