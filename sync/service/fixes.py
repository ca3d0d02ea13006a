"""The fixes a person applies from a failure: link the bill that has the invoice's number, or skip the invoice."""

from __future__ import annotations

from storage.db import transaction
from storage.models import InvoiceDocument
from storage.repos.audit import AuditRepo
from storage.repos.ledger import LedgerRepo
from sync import messages
from sync.api import ServiceError, TeamRef
from sync.plan import SKIPPED_BY_PERSON
from sync.qbo.errors import QboError
from sync.qbo.models import Bill, VendorCredit
from sync.reconcile import home_amount
from sync.service.base import ServiceContext, unavailable


class Fixes:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def link_bill(self, team: TeamRef, user_id: str, invoice_id: str) -> str:
        connection = await self._context.connection(team, require_active=True)
        async with self._context.sessions() as session:
            entry = await LedgerRepo(session, connection.id).get(invoice_id)
        if entry is None or not entry.doc_number:
            raise ServiceError(messages.INVOICE_NOT_OURS)
        qbo = self._context.clients.qbo_client(connection.id, connection.realm_id)
        try:
            found: list[Bill] | list[VendorCredit]
            if entry.document == InvoiceDocument.VENDOR_CREDIT:
                found = await qbo.find_vendor_credits(entry.doc_number)
            else:
                found = await qbo.find_bills(entry.doc_number)
        except QboError as exc:
            raise unavailable(exc) from None
        if len(found) != 1:
            raise ServiceError(messages.no_single_bill(entry.doc_number, len(found)))
        document = found[0]
        async with transaction(self._context.sessions) as session:
            await LedgerRepo(session, connection.id).adopt(
                invoice_id, document_id=document.id, home_amount_booked=home_amount(document, connection.home_currency)
            )
            AuditRepo(session).record(
                connection.workspace_id, user_id, "link_bill", connection.id, invoice=invoice_id, bill=document.id
            )
        return entry.doc_number

    async def skip_invoice(self, team: TeamRef, user_id: str, invoice_id: str) -> str:
        connection = await self._context.connection(team)
        async with transaction(self._context.sessions) as session:
            ledger = LedgerRepo(session, connection.id)
            entry = await ledger.get(invoice_id)
            held = await ledger.record_held_by_person(
                invoice_id, code=SKIPPED_BY_PERSON, message=messages.skipped_by(user_id)
            )
            if entry is None or not held:
                raise ServiceError(messages.INVOICE_NOT_OURS)
            AuditRepo(session).record(
                connection.workspace_id, user_id, "skip_invoice", connection.id, invoice=invoice_id
            )
        return entry.invoice_number
