"""Words people read for the domain's codes: concepts, run statuses and triggers, connection states, fix buttons.

The domain never makes labels; every code that reaches a person goes through a table here, so no raw value
(`partial`, `needs_reauth`, `schedule`) leaks into a message.
"""

from __future__ import annotations

from collections.abc import Sequence

from sync.api import Fix, FixKind, ReviewState, RowOutcome, RunStatus, RunTrigger
from sync.ontop.models import concept_label

RUN_STATUS_LABELS: dict[str, str] = {
    RunStatus.QUEUED: "queued",
    RunStatus.RUNNING: "running",
    RunStatus.SUCCEEDED: "finished",
    RunStatus.PARTIAL: "finished with problems",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "cancelled",
}

TRIGGER_LABELS: dict[str, str] = {
    RunTrigger.FIRST: "first sync",
    RunTrigger.SCHEDULE: "daily sync",
    RunTrigger.MANUAL: "manual sync",
    RunTrigger.WEBHOOK: "after an Ontop payment",
    RunTrigger.RETRY: "retry",
    RunTrigger.APPROVAL: "after an approval",
    RunTrigger.FINISH: "finishing the sync before it",
}

REVIEW_STATE_LABELS: dict[str, str] = {
    ReviewState.PENDING: "waiting for approval",
    ReviewState.APPROVED: "approved",
    ReviewState.SKIPPED: "skipped",
    ReviewState.EXPIRED: "expired",
}

ROW_OUTCOME_LABELS: dict[str, str] = {
    RowOutcome.CREATED: "Created",
    RowOutcome.FAILED: "Needs a fix",
    RowOutcome.PENDING: "Being checked",
    RowOutcome.REVIEW: "To review",
    RowOutcome.SKIPPED: "Skipped",
    RowOutcome.EXCLUDED: "Excluded in a review",
}

CONNECTION_STATUS_LABELS: dict[str, str] = {
    "pending": "waiting for the Ontop login",
    "active": "connected",
    "needs_reauth": "needs reconnecting",
    "disconnected": "disconnected",
}


def _readable(code: str) -> str:
    """A code we have no label for yet, made readable rather than shown raw ("needs_review" → "needs review")."""
    return code.replace("_", " ").strip()


def run_status_label(status: str) -> str:
    """`partial` → "finished with problems"; works for the enum and for its plain value."""
    return RUN_STATUS_LABELS.get(str(status), _readable(str(status)))


def trigger_label(trigger: str) -> str:
    """`schedule` → "daily sync", `webhook` → "after an Ontop payment"."""
    return TRIGGER_LABELS.get(str(trigger), _readable(str(trigger)))


def review_state_label(state: str) -> str:
    """`pending` → "waiting for approval"."""
    return REVIEW_STATE_LABELS.get(str(state), _readable(str(state)))


def row_outcome_label(outcome: str) -> str:
    """What became of an invoice in a run, as a heading: `failed` → "Needs a fix"."""
    return ROW_OUTCOME_LABELS.get(str(outcome), _readable(str(outcome)).capitalize())


def connection_status_label(status: str) -> str:
    """`needs_reauth` → "needs reconnecting"."""
    return CONNECTION_STATUS_LABELS.get(status, _readable(status))


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """ "1 bill", "3 bills", "0 bills": never "bill(s)"."""
    return f"{count:,} {singular if count == 1 else (plural or singular + 's')}"


def joined(parts: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def fix_label(fix: Fix, target_name: str = "") -> str:
    """The text of the button that applies a fix, naming what it acts on ("Map Holiday pay").

    Args:
        target_name: how people know the target when the fix itself carries no name (e.g. the invoice number
            of a failure whose fix acts on its invoice id).
    """
    name = fix.target_name or target_name
    if fix.kind is FixKind.MAP_CONCEPT:
        return f"Map {fix.target_name or concept_label(fix.target)}"
    if fix.kind in (FixKind.CREATE_VENDOR, FixKind.CREATE_VENDOR_IN_CURRENCY):
        return f"Create supplier {name}".strip()
    if fix.kind is FixKind.LINK_BILL:
        return f"Link bill {name}" if name else "Link to that bill"
    if fix.kind is FixKind.SKIP_INVOICE:
        return f"Skip {name}" if name else "Skip this invoice"
    if fix.kind is FixKind.BOOKS:
        return "Choose the accounts"
    if fix.kind is FixKind.RECONNECT:
        return "Reconnect QuickBooks"
    if fix.kind is FixKind.TRACKING:
        return f"Choose another {fix.target}" if fix.target in ("class", "location") else "Choose classes"
    if fix.kind is FixKind.CONTACT_SUPPORT:
        return "How to fix"
    return f"Retry {name}" if name else "Retry"
