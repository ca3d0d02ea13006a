"""Words people read for the domain's codes: concept labels and fix buttons (the domain never makes labels)."""

from __future__ import annotations

from sync.api import Fix, FixKind
from sync.ontop.models import CONCEPT_LABELS


def concept_label(concept: str) -> str:
    """Ontop's label for a concept code, or the code made readable ("HOLIDAY_PAY" → "Holiday pay")."""
    return CONCEPT_LABELS.get(concept, concept.replace("_", " ").capitalize())


def fix_label(fix: Fix) -> str:
    """The text of the button that applies a fix."""
    if fix.kind is FixKind.MAP_CONCEPT:
        return f"Map {concept_label(fix.target)}"
    if fix.kind is FixKind.CREATE_VENDOR:
        return "Create supplier"
    if fix.kind is FixKind.CREATE_VENDOR_IN_CURRENCY:
        return f"Create supplier {fix.target_name}".strip()
    if fix.kind is FixKind.LINK_BILL:
        return "Link to that bill"
    if fix.kind is FixKind.SKIP_INVOICE:
        return "Skip this invoice"
    if fix.kind is FixKind.BOOKS:
        return "Choose the accounts"
    if fix.kind is FixKind.RECONNECT:
        return "Reconnect QuickBooks"
    if fix.kind is FixKind.CONTACT_SUPPORT:
        return "How to fix"
    return "Retry"
