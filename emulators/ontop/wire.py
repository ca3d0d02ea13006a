"""Part B of ../shared/reference/ontop-api.md as the emulator serves it: paths, event names and the signature.

Written from the reference, not imported from the product's client (sync/ontop/assumed.py): if the two ever
disagree, the contract tests catch the client, not the other way round.
"""

from __future__ import annotations

import hashlib
import hmac

# B.3, B.4, B.6
AGREEMENTS_PATH = "/contract/agreements"
INVOICES_PATH = "/contract/invoices"
WEBHOOKS_PATH = "/webhooks"

# B.6: the signature header, the optional event id, and the events the emulator sends
SIGNATURE_HEADER = "X-Ontop-Signature"
EVENT_ID_HEADER = "X-Ontop-Event-Id"
INVOICE_EVENT = "INVOICE"
TEST_EVENT = "TEST"

# B.5: the concepts' labels as Ontop shows them to people
CONCEPT_LABELS: dict[str, str] = {
    "COMPENSATION": "Base compensation",
    "BONUS": "Bonus",
    "COMMISSION": "Commission",
    "REIMBURSEMENT": "Reimbursement",
    "FEE": "Client fees",
    "DEDUCTION": "Deduction",
}


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` (B.6)."""
    message = f"{timestamp}.".encode() + body
    return f"t={timestamp},v1={hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()}"
