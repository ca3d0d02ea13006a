"""Failures counted by cause: every failed invoice in exactly one group, with the fixes a person can press."""

from __future__ import annotations

from sync.api import FailureGroup, FixKind, InvoiceFailure

__all__ = ["group_failures"]


def _group_key(failure: InvoiceFailure) -> tuple[str, str, str]:
    """Failures with one cause kind share a group; causes whose sentence names a target (a concept, the
    connection) get one group per target. Workers without a supplier are one group, with a fix per worker."""
    fix = failure.fix
    if fix is None:
        return (failure.code, "", failure.reason if not failure.code else "")
    per_target = fix.kind in (FixKind.MAP_CONCEPT, FixKind.BOOKS, FixKind.RECONNECT, FixKind.TRACKING)
    return (failure.code, str(fix.kind), fix.target if per_target else "")


def group_failures(failures: list[InvoiceFailure], examples: int = 3) -> list[FailureGroup]:
    """Every failure in exactly one group, counted exactly, groups in the order they first occur."""
    grouped: dict[tuple[str, str, str], list[InvoiceFailure]] = {}
    for failure in failures:
        grouped.setdefault(_group_key(failure), []).append(failure)
    groups = []
    for members in grouped.values():
        fixes = list({(f.fix.kind, f.fix.target): f.fix for f in members if f.fix is not None}.values())
        groups.append(
            FailureGroup(
                code=members[0].code,
                reason=members[0].reason,
                count=len(members),
                fix=fixes[0] if fixes else None,
                examples=members[:examples],
                fixes=fixes,
            )
        )
    return groups
