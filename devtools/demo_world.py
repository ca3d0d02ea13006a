"""What happens in Ontop and QuickBooks while Ann works in Slack: the demo's events outside the bot.

A contractor finishes onboarding and is paid, Ontop pays an invoice and calls the webhook, and (--multicurrency) a
contractor already has a QuickBooks supplier in another currency than the one Ontop now pays them in. Everything goes
through the emulators' state, as Ontop's and Intuit's own systems would change it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from devtools.stack import LocalStack
from emulators.qbo.state import DEFAULT_REALM
from sync.service.books import WALLET_NAME

__all__ = ["WALLET_NAME", "CurrencyChange", "OutsideWorld", "invoice_rows"]

OLD_SUPPLIER_CURRENCY = "ARS"  # the currency of the contractor's supplier before Ontop paid them in another one
PREFERRED_NEW_CURRENCY = "EUR"


@dataclass(frozen=True)
class CurrencyChange:
    """A contractor whose QuickBooks supplier is in one currency while Ontop now pays their contract in another."""

    name: str
    email: str
    agreement_id: int
    supplier_currency: str
    paid_in: str


def invoice_rows(ontop: Any) -> list[dict[str, Any]]:
    """Every invoice as the Ontop emulator serves it now (generated, or changed by the demo)."""
    rows: dict[int, dict[str, Any]] = {}
    for row in ontop.generator.invoice_rows(ontop.now):
        current = ontop.invoice_row(row["invoiceId"]) or row
        rows[current["invoiceId"]] = current
    return list(rows.values())


class OutsideWorld:
    """The emulators' side of the walkthrough (nothing happens when they were started separately)."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def supplier_in_another_currency(self) -> CurrencyChange | None:
        """A contractor paid in a foreign currency (EUR when there is one) already has a QuickBooks supplier, with
        their email and name, in another currency: made before the bot connects, marked as pre-existing."""
        ontop, qbo = self.stack.ontop_state, self.stack.qbo_state
        if ontop is None or qbo is None:
            return None
        paid = Counter(row["agreementId"] for row in invoice_rows(ontop) if row["status"] == "PAID")
        candidates = [
            worker
            for worker in ontop.generator.workers
            if worker.status == "ACTIVE"
            and not worker.legal_name
            and worker.place.currency not in ("USD", OLD_SUPPLIER_CURRENCY)
            and paid[worker.agreement_id]
        ]
        if not candidates:
            return None
        worker = min(
            candidates, key=lambda item: (item.place.currency != PREFERRED_NEW_CURRENCY, -paid[item.agreement_id])
        )
        name = f"{worker.first_name} {worker.last_name}"
        self.stack.add_preexisting_vendor(name, worker.email, OLD_SUPPLIER_CURRENCY)
        return CurrencyChange(name, worker.email, worker.agreement_id, OLD_SUPPLIER_CURRENCY, worker.place.currency)

    def wallet_line(self) -> str | None:
        """The pay-from bank account the bot created in QuickBooks, as the emulator holds it."""
        qbo = self.stack.qbo_state
        if qbo is None:
            return None
        with qbo.lock:
            company = qbo.companies[DEFAULT_REALM]
            created = [
                dict(account)
                for key, account in company.of("Account").items()
                if ("Account", key) not in company.preexisting and str(account.get("Name", "")).startswith(WALLET_NAME)
            ]
        if not created:
            return None
        account = created[0]
        currency = (account.get("CurrencyRef") or {}).get("value", "")
        kind, name = account["AccountType"], account["Name"]
        return f'QuickBooks now has the {kind} account "{name}" ({currency}, id {account["Id"]}), created by the bot'

    def new_contractor_gets_paid(self) -> str | None:
        """An invited worker finishes onboarding and one pending invoice is paid to them."""
        ontop = self.stack.ontop_state
        if ontop is None:
            return None
        invited = next((w for w in ontop.generator.workers if w.status == "INVITATION_SENT"), None)
        pending = self.pending_invoices()
        if invited is None or not pending:
            return None
        # Ontop pays a contract in its currency: an invoice in the newcomer's currency when one is pending.
        pending.sort(key=lambda row: row["currency"] != invited.place.currency)
        ontop.activate_worker(invited.agreement_id)
        self.pay(pending[0], agreementId=invited.agreement_id, workerEmail=invited.email)
        name = f"{invited.first_name or ''} {invited.last_name or ''}".strip() or invited.email
        return f"{name} <{invited.email}> is active; invoice {pending[0]['invoiceNumber']} is now PAID"

    async def payment_webhook(self) -> str | None:
        """Ontop pays one more invoice and calls the bot's webhook; the sync follows within seconds."""
        ontop = self.stack.ontop_state
        if ontop is None or not ontop.webhook_url:
            return None
        pending = self.pending_invoices()
        if not pending:
            return None
        event = self.pay(pending[0])
        statuses = await ontop.deliver_webhook_async(event)
        return f"invoice {pending[0]['invoiceNumber']} is PAID; Ontop's signed webhook answered HTTP {statuses}"

    def pending_invoices(self) -> list[dict[str, Any]]:
        ontop = self.stack.ontop_state
        assert ontop is not None
        return [row for row in invoice_rows(ontop) if row["status"] == "PENDING"]

    def pay(self, pending: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """Ontop confirms the payment: PAID, with the exchange rate and USD amounts locked; returns the event."""
        ontop = self.stack.ontop_state
        assert ontop is not None
        rate = Decimal(str(pending.get("exchangeRate") or "0"))
        if pending["currency"] == "USD":
            rate = Decimal(1)
        elif rate <= 0:
            rate = self.recent_rate(pending["currency"])
        lines = [
            {**line, "amountUsd": str((Decimal(str(line["amount"])) / rate).quantize(Decimal("0.01")))}
            for line in pending["lines"]
        ]
        return ontop.touch_invoice(
            pending["invoiceId"],
            status="PAID",
            paidDate=str(ontop.now.date()) if ontop.now else None,
            exchangeRate=f"{rate:.6f}",
            totalUsd=str((Decimal(str(pending["total"])) / rate).quantize(Decimal("0.01"))),
            lines=lines,
            **changes,
        )

    def recent_rate(self, currency: str) -> Decimal:
        """The rate Ontop locked on the latest paid invoice in this currency (a pending one has none yet)."""
        ontop = self.stack.ontop_state
        assert ontop is not None
        for row in reversed(invoice_rows(ontop)):
            if row["currency"] == currency and row["status"] == "PAID" and row.get("exchangeRate"):
                return Decimal(str(row["exchangeRate"]))
        return Decimal("4.000000")  # no paid invoice in that currency: any plausible rate will do for the demo
