"""The invoice PDF on its bill: attached after the bill exists, retried by later runs, never failing the bill."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from sync.bills import request_id_for
from sync.ledger import RunLedger
from sync.ontop.client import OntopSource
from sync.ontop.models import Invoice, OntopError
from sync.qbo.client import QboClient
from sync.qbo.errors import QboAuthError, QboError, QboForbidden

log = structlog.get_logger(__name__)

ATTACHMENT_CONCURRENCY = 4
MAX_RETRIES_PER_RUN = 200  # PDFs of earlier runs read from the ledger at a time (a run attaches them all)


class Attacher:
    """Uploads invoice PDFs to their bills for one run and writes the outcome to the ledger.

    Inline (attach_all) a batch's PDFs go out after its bills, a few at a time. In the background (a big run that
    posts its bills first, and the run that finishes after it) uploads yield to batch calls in the rate limiter and
    use the request budget the batch calls leave; `stop()` lets the uploads in flight finish and leaves the others
    pending in the ledger for the run that follows.
    """

    def __init__(self, qbo: QboClient, ontop: OntopSource, ledger: RunLedger, realm_id: str) -> None:
        self._qbo = qbo
        self._ontop = ontop
        self._ledger = ledger
        self._realm_id = realm_id
        self._limit = asyncio.Semaphore(ATTACHMENT_CONCURRENCY)
        self._background: set[asyncio.Task[None]] = set()
        self._stopped = False
        self.failed = 0  # uploads that failed this run: retried by later runs, not a failure of the bill
        self.attached = 0  # PDFs attached this run

    async def attach_all(self, items: Sequence[tuple[Invoice, str]], *, background: bool = False) -> None:
        """(invoice, bill id) pairs, a few uploads at a time."""
        if not items:
            return

        async def attach(invoice: Invoice, bill_id: str) -> tuple[str, str | None, bool]:
            async with self._limit:
                if self._stopped:
                    return str(invoice.id), None, False  # not tried: still pending in the ledger
                return str(invoice.id), await self._attach(invoice, bill_id, background), True

        outcomes = await asyncio.gather(*(attach(invoice, bill_id) for invoice, bill_id in items))
        done = [(invoice_id, attachment_id) for invoice_id, attachment_id, _ in outcomes if attachment_id is not None]
        self.failed += sum(1 for _, attachment_id, tried in outcomes if tried and attachment_id is None)
        self.attached += len(done)
        if done:
            await self._ledger.attached(done)

    def attach_in_background(self, items: Sequence[tuple[Invoice, str]]) -> None:
        """Start uploading these PDFs without waiting for them (they yield to batch calls); see `stop()`."""
        if not items or self._stopped:
            return
        task = asyncio.create_task(self.attach_all(items, background=True), name="attach-pdfs")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        """Start no more background uploads; wait for those in flight and write them down. Raises what they
        raised (QuickBooks refusing the connection)."""
        self._stopped = True
        await self._settle()

    async def cancel(self) -> None:
        """The run is ending on an error: stop the background uploads (their PDFs stay pending in the ledger)."""
        self._stopped = True
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def _settle(self) -> None:
        tasks = list(self._background)
        if tasks:
            await asyncio.gather(*tasks)

    async def retry_pending(self, *, background: bool = False) -> None:
        """PDFs not attached yet (left by earlier runs), a page at a time until a page attaches nothing more."""
        while True:
            attached_before = self.attached
            items: list[tuple[Invoice, str]] = []
            entries = await self._ledger.pending_attachments(MAX_RETRIES_PER_RUN)
            for entry in entries:
                try:
                    invoice = await self._ontop.invoice(int(entry.invoice_id))
                except OntopError:
                    continue
                items.append((invoice, entry.qbo_bill_id or ""))
            await self.attach_all(items, background=background)
            if self.attached == attached_before or len(entries) < MAX_RETRIES_PER_RUN:
                return  # done, or a page of PDFs that keep failing: the next run tries them again

    async def _attach(self, invoice: Invoice, bill_id: str, background: bool = False) -> str | None:
        """The attachment's id; None (left pending for a later run) when Ontop or QuickBooks failed."""
        try:
            pdf = await self._ontop.invoice_pdf(invoice)
            if pdf is None:
                return None
            request_id = request_id_for(self._realm_id, str(invoice.id), "attachment", 0)
            attachable = await self._qbo.upload_attachment(
                bill_id, f"{invoice.number}.pdf", pdf, request_id, background=background
            )
            return attachable.id
        except (QboAuthError, QboForbidden):
            raise
        except (QboError, OntopError) as exc:
            log.warning("sync.attachment_failed", invoice_id=invoice.id, error=type(exc).__name__)
            return None
