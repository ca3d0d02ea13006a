"""Fee bills and payments of invoices (ledger_postings): each written down pending before it is sent.

Like LedgerRepo, a repository lives for one transaction and keeps the rows it loaded, so a batch is one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from sqlalchemy import Select, Table, and_, bindparam, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import InvoiceDocument, InvoiceState, LedgerPosting, PostingKind, PostingState, SyncedInvoice
from storage.records import LedgerEntry, PostingRecord

Key = tuple[str, str]  # (invoice id, kind)
_POSTINGS = cast(Table, LedgerPosting.__table__)


@dataclass(frozen=True)
class PendingPosting:
    """What the ledger writes down about a fee bill or a payment before it is sent."""

    request_id: str
    vendor_id: str
    amount: Decimal
    currency: str
    doc_number: str | None = None
    paid_bill_id: str | None = None  # a payment: the bill it pays


def _pending_columns(pending: PendingPosting) -> dict[str, object]:
    """The columns a posting written down as pending fills (mark_pending and insert_pending alike)."""
    return {
        "state": PostingState.PENDING,
        "request_id": pending.request_id,
        "vendor_id": pending.vendor_id,
        "amount": pending.amount,
        "currency": pending.currency,
        "doc_number": pending.doc_number,
        "paid_bill_id": pending.paid_bill_id,
    }


class PostingRepo:
    def __init__(self, session: AsyncSession, connection_id: int) -> None:
        self._session = session
        self._connection_id = connection_id
        self._loaded: dict[Key, LedgerPosting] = {}

    # --- reading ------------------------------------------------------------------------------------------

    async def get_many(self, keys: Sequence[Key]) -> dict[Key, PostingRecord]:
        await self._load(keys)
        return {key: PostingRecord.of(self._loaded[key]) for key in keys if key in self._loaded}

    async def of_invoices(self, invoice_ids: Sequence[str]) -> dict[Key, PostingRecord]:
        """Every posting of these invoices."""
        if not invoice_ids:
            return {}
        rows = await self._session.scalars(
            select(LedgerPosting).where(
                LedgerPosting.connection_id == self._connection_id, LedgerPosting.invoice_id.in_(list(invoice_ids))
            )
        )
        found = {}
        for row in rows:
            self._loaded[(row.invoice_id, row.kind)] = row
            found[(row.invoice_id, row.kind)] = PostingRecord.of(row)
        return found

    def _unpaid_bills(self) -> Select[SyncedInvoice]:
        paid = aliased(LedgerPosting)
        return select(SyncedInvoice).where(
            SyncedInvoice.connection_id == self._connection_id,
            SyncedInvoice.state == InvoiceState.CREATED,
            SyncedInvoice.document == InvoiceDocument.BILL,
            SyncedInvoice.qbo_bill_id.is_not(None),
            ~exists().where(
                and_(
                    paid.connection_id == SyncedInvoice.connection_id,
                    paid.invoice_id == SyncedInvoice.ontop_invoice_id,
                    paid.kind == PostingKind.PAYMENT,
                    paid.state == PostingState.DONE,
                )
            ),
        )

    def _unpaid_fee_bills(self) -> Select[LedgerPosting]:
        paid = aliased(LedgerPosting)
        return select(LedgerPosting).where(
            LedgerPosting.connection_id == self._connection_id,
            LedgerPosting.kind == PostingKind.FEE_BILL,
            LedgerPosting.state == PostingState.DONE,
            ~exists().where(
                and_(
                    paid.connection_id == LedgerPosting.connection_id,
                    paid.invoice_id == LedgerPosting.invoice_id,
                    paid.kind == PostingKind.FEE_PAYMENT,
                    paid.state == PostingState.DONE,
                )
            ),
        )

    def _unfinished_fee_bills(self) -> Select[LedgerPosting]:
        return select(LedgerPosting).where(
            LedgerPosting.connection_id == self._connection_id,
            LedgerPosting.kind == PostingKind.FEE_BILL,
            LedgerPosting.state != PostingState.DONE,
        )

    async def list_unpaid_bills(self, limit: int) -> list[LedgerEntry]:
        """Contractor bills without a finished payment (bills made before payments existed, or left unpaid)."""
        rows = await self._session.scalars(self._unpaid_bills().order_by(SyncedInvoice.id).limit(limit))
        return [LedgerEntry.of(row) for row in rows]

    async def list_unpaid_fee_bills(self, limit: int) -> list[PostingRecord]:
        """Fee bills without a finished payment."""
        rows = await self._session.scalars(self._unpaid_fee_bills().order_by(LedgerPosting.id).limit(limit))
        return [PostingRecord.of(row) for row in rows]

    async def list_failed_fee_bills(self, limit: int) -> list[PostingRecord]:
        """Fee bills still to make: refused, of unknown outcome, or left by a run that posted its bills first."""
        rows = await self._session.scalars(self._unfinished_fee_bills().order_by(LedgerPosting.id).limit(limit))
        return [PostingRecord.of(row) for row in rows]

    async def count_leftovers(self) -> tuple[int, int, int]:
        """(contractor bills to pay, fee bills to pay, fee bills to make)."""
        counts = []
        for query in (self._unpaid_bills(), self._unpaid_fee_bills(), self._unfinished_fee_bills()):
            counts.append(int(await self._session.scalar(select(func.count()).select_from(query.subquery())) or 0))
        return counts[0], counts[1], counts[2]

    # --- writing --------------------------------------------------------------------------------------------

    async def touch(self, keys: Sequence[Key], run_id: int) -> list[PostingRecord]:
        """The postings, created (pending, generation 0) when missing."""
        await self._load(keys)
        await self._insert_missing(keys, run_id)
        records = []
        for key in keys:
            row = self._loaded[key]
            row.last_run_id = run_id
            records.append(PostingRecord.of(row))
        return records

    def mark_pending(self, key: Key, pending: PendingPosting) -> None:
        """Written (and committed) before the write is sent: its requestid makes a retry a replay."""
        row = self._loaded[key]
        for column, value in _pending_columns(pending).items():
            setattr(row, column, value)

    async def insert_pending(self, new: Sequence[tuple[Key, PendingPosting]], run_id: int) -> None:
        """Postings never written before, straight as pending (one statement for all): what touch() and
        mark_pending() would make, without reading the rows back or updating them."""
        if not new:
            return
        rows = [{**self._new_row(key, run_id), **_pending_columns(pending)} for key, pending in new]
        await self._session.execute(insert(_POSTINGS), rows)

    async def record_done_many(self, done: Sequence[tuple[Key, str | None, Decimal | None]]) -> None:
        """(key, QuickBooks id, home amount) of postings that are done, in one statement executed for each (no row
        is read first). A QuickBooks id None: nothing is left to do (a bill someone else paid)."""
        if not done:
            return
        statement = (
            update(_POSTINGS)
            .where(
                _POSTINGS.c.connection_id == self._connection_id,
                _POSTINGS.c.invoice_id == bindparam("b_invoice"),
                _POSTINGS.c.kind == bindparam("b_kind"),
            )
            .values(
                state=PostingState.DONE,
                qbo_id=bindparam("b_qbo_id"),
                home_amount=bindparam("b_home"),
                error_code=None,
                error_message=None,
            )
        )
        await self._session.execute(
            statement,
            [
                {"b_invoice": invoice_id, "b_kind": kind, "b_qbo_id": qbo_id, "b_home": home}
                for (invoice_id, kind), qbo_id, home in done
            ],
        )
        self._forget([key for key, _, _ in done])

    async def record_failed(self, key: Key, *, code: str, message: str) -> None:
        """QuickBooks refused it: the next attempt is a new logical write (a new requestid)."""
        await self._load([key])
        row = self._loaded[key]
        row.state = PostingState.FAILED
        row.generation = (row.generation or 0) + 1
        row.error_code = code
        row.error_message = message

    async def record_unknown(self, key: Key, *, message: str) -> None:
        """Nobody knows whether it exists: it stays pending and the next attempt looks before sending."""
        await self._load([key])
        row = self._loaded[key]
        row.error_code = "qbo_unavailable"
        row.error_message = message

    async def _insert_missing(self, keys: Sequence[Key], run_id: int) -> None:
        """Pending rows for the postings not written yet: one INSERT for all of them, then one SELECT to hold them
        (added objects would be inserted one statement each; see LedgerRepo._insert_missing)."""
        new = [key for key in dict.fromkeys(keys) if key not in self._loaded]
        if not new:
            return
        rows = [self._new_row(key, run_id) for key in new]
        await self._session.execute(insert(LedgerPosting), rows)
        await self._load(new)

    def _new_row(self, key: Key, run_id: int) -> dict[str, object]:
        """A posting never written before: pending, first generation."""
        invoice_id, kind = key
        return {
            "connection_id": self._connection_id,
            "invoice_id": invoice_id,
            "kind": kind,
            "state": PostingState.PENDING,
            "generation": 0,
            "last_run_id": run_id,
        }

    def _forget(self, keys: Sequence[Key]) -> None:
        """Rows a statement just changed behind the session's back (see LedgerRepo._forget)."""
        for key in keys:
            row = self._loaded.pop(key, None)
            if row is not None:
                self._session.expire(row)

    async def _load(self, keys: Sequence[Key]) -> None:
        missing = [key for key in dict.fromkeys(keys) if key not in self._loaded]
        if not missing:
            return
        invoice_ids = sorted({invoice_id for invoice_id, _ in missing})
        rows = await self._session.scalars(
            select(LedgerPosting).where(
                LedgerPosting.connection_id == self._connection_id, LedgerPosting.invoice_id.in_(invoice_ids)
            )
        )
        for row in rows:
            self._loaded.setdefault((row.invoice_id, row.kind), row)
