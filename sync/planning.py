"""Planning with its inputs: the ledger rows and the vendor a plan needs, read for a page of invoices.

The run and the preview both plan through `Planner`, so what a preview counts is what the run does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from storage.records import LedgerEntry
from sync.bills import build_fee_booking
from sync.ontop.models import Invoice
from sync.plan import InvoicePlan, Outcome, PlanContext, plan_bill, triage
from sync.vendor_sync import VendorResolver

LedgerReader = Callable[[Sequence[str]], Awaitable[dict[str, LedgerEntry]]]


class Planner:
    def __init__(self, ledger: LedgerReader, resolver: VendorResolver, context: PlanContext) -> None:
        self._ledger = ledger
        self.resolver = resolver
        self.context = context
        self._entries: dict[str, LedgerEntry] = {}

    async def read_page(self, page: Sequence[Invoice]) -> None:
        """Load the ledger rows of a page (and of the invoices it corrects) in one query, before planning it."""
        ids = [str(invoice.id) for invoice in page]
        corrected = [str(invoice.corrects) for invoice in page if invoice.corrects is not None]
        self._entries = await self._ledger(ids + corrected)

    async def plan(self, invoice: Invoice) -> InvoicePlan:
        """The invoice's plan given the page read last and what the resolver knows now (vendors resolved so far).

        Raises the clients' errors when QuickBooks or Ontop cannot be read for the vendor.
        """
        entry = self._entries.get(str(invoice.id))
        corrected = self._entries.get(str(invoice.corrects)) if invoice.corrects is not None else None
        decided = triage(invoice, entry, corrected)
        if decided is not None:
            return decided
        vendor = await self.resolver.resolve(invoice)
        return plan_bill(invoice, vendor, self.resolver.worker_label(invoice), self.context)

    async def plan_fees(self, invoice: Invoice) -> InvoicePlan:
        """The plan of an invoice whose own bill exists but whose fee bill an earlier run could not make."""
        ctx = self.context
        booking = build_fee_booking(invoice, ctx.mapping, ctx.company, ctx.books, ctx.default_account_id)
        if booking is None:
            return InvoicePlan(invoice, Outcome.ALREADY_SYNCED)
        return InvoicePlan(invoice, Outcome.POST, worker_name=self.resolver.worker_label(invoice), booking=booking)
