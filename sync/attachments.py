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
MAX_RETRIES_PER_RUN = 200


class Attacher:
    """Uploads invoice PDFs to their bills for one run and writes the outcome to the ledger."""

    def __init__(self, qbo: QboClient, ontop: OntopSource, ledger: RunLedger, realm_id: str) -> None:
        self._qbo = qbo
        self._ontop = ontop
        self._ledger = ledger
        self._realm_id = realm_id
        self.failed = 0  # uploads that failed this run: retried by later runs, not a failure of the bill

    async def attach_all(self, items: Sequence[tuple[Invoice, str]]) -> None:
        """(invoice, bill id) pairs, a few uploads at a time."""
        if not items:
            return
        limit = asyncio.Semaphore(ATTACHMENT_CONCURRENCY)

        async def attach(invoice: Invoice, bill_id: str) -> tuple[str, str | None]:
            async with limit:
                return str(invoice.id), await self._attach(invoice, bill_id)

        outcomes = await asyncio.gather(*(attach(invoice, bill_id) for invoice, bill_id in items))
        done = [(invoice_id, attachment_id) for invoice_id, attachment_id in outcomes if attachment_id is not None]
        self.failed += len(outcomes) - len(done)
        await self._ledger.attached(done)

    async def retry_pending(self) -> None:
        """PDFs that failed to attach in earlier runs."""
        items: list[tuple[Invoice, str]] = []
        for entry in await self._ledger.pending_attachments(MAX_RETRIES_PER_RUN):
            try:
                invoice = await self._ontop.invoice(int(entry.invoice_id))
            except OntopError:
                continue
            items.append((invoice, entry.qbo_bill_id or ""))
        await self.attach_all(items)

    async def _attach(self, invoice: Invoice, bill_id: str) -> str | None:
        """The attachment's id; None (left pending for a later run) when Ontop or QuickBooks failed."""
        try:
            pdf = await self._ontop.invoice_pdf(invoice)
            if pdf is None:
                return None
            request_id = request_id_for(self._realm_id, str(invoice.id), "attachment", 0)
            attachable = await self._qbo.upload_attachment(bill_id, f"{invoice.number}.pdf", pdf, request_id)
            return attachable.id
        except (QboAuthError, QboForbidden):
            raise
        except (QboError, OntopError) as exc:
            log.warning("sync.attachment_failed", invoice_id=invoice.id, error=type(exc).__name__)
            return None
