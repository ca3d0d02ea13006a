"""Pure builders for finance-channel notifications: run progress and summaries with fix buttons, alerts.

Summaries group failures by cause, name the worker and invoice, and carry one button per fix; long lists go to
the thread (failure_thread_messages). Every message has top-level text and stays within 50 blocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from handlers.blocks import (
    MESSAGE_BLOCK_LIMIT,
    Message,
    actions,
    button,
    capped,
    context,
    money,
    section,
    user_mention,
)
from handlers.ids import FixIds
from handlers.labels import fix_label
from sync.api import Fix, FixKind, InvoiceFailure, QboConnected, RunStatus, RunSummary

FIX_ACTIONS = {
    FixKind.MAP_CONCEPT: FixIds.MAP,
    FixKind.CREATE_VENDOR: FixIds.CREATE_VENDOR,
    FixKind.CREATE_VENDOR_IN_CURRENCY: FixIds.CREATE_VENDOR_IN_CURRENCY,
    FixKind.LINK_BILL: FixIds.LINK_BILL,
    FixKind.SKIP_INVOICE: FixIds.SKIP_INVOICE,
    FixKind.BOOKS: FixIds.BOOKS,
    FixKind.RECONNECT: FixIds.RECONNECT,
    FixKind.RETRY: FixIds.RETRY,
}
FAILURES_INLINE = 5  # failure causes listed in the channel message; the full list goes to the thread
FIX_BUTTONS_LIMIT = 10


def progress_bar(done: int, total: int, width: int = 10) -> str:
    if total <= 0:
        return "░" * width
    filled = min(width, round(width * done / total))
    return "▓" * filled + "░" * (width - filled)


def run_started_message(run: RunSummary) -> Message:
    text = f"QuickBooks sync #{run.run_id} started"
    return Message(
        text=text,
        blocks=[
            section(f":arrows_counterclockwise: *{text}* ({run.trigger}, by {user_mention(run.requested_by)})"),
        ],
    )


def run_progress_message(run_id: int, done: int, total: int | None, *, requested_by: str | None = None) -> Message:
    """Done of total with a bar when the total is known; otherwise a count, without a made-up percentage."""
    if total is not None and total > 0:
        done = min(done, total)
        percent = round(100 * done / total)
        text = f"QuickBooks sync #{run_id}: {done}/{total} invoices ({percent}%)"
        line = f"{progress_bar(done, total)} {done}/{total} ({percent}%)"
    else:
        text = f"QuickBooks sync #{run_id}: {done} invoices read"
        line = f"{done} invoices read"
    return Message(
        text=text,
        blocks=[
            section(f":arrows_counterclockwise: *Sync #{run_id}* {line}"),
            context(f"Requested by {user_mention(requested_by)}"),
        ],
    )


STATUS_ICONS = {
    RunStatus.SUCCEEDED: ":white_check_mark:",
    RunStatus.PARTIAL: ":warning:",
    RunStatus.FAILED: ":x:",
    RunStatus.CANCELLED: ":no_entry_sign:",
}


def _duration(summary: RunSummary) -> str:
    if summary.started_at is None or summary.finished_at is None:
        return ""
    seconds = int((summary.finished_at - summary.started_at).total_seconds())
    minutes, seconds = divmod(seconds, 60)
    return f" in {minutes}m {seconds:02d}s" if minutes else f" in {seconds}s"


def failure_line(failure: InvoiceFailure, *, with_reason: bool = True) -> str:
    """Invoice, worker and amount (and why it failed, unless the line sits under its cause already)."""
    line = f"*{failure.invoice_number}* · {failure.worker_name} · {money(failure.amount, failure.currency)}"
    return f"{line}: {failure.reason}" if with_reason else line


def fix_button(fix: Fix) -> dict[str, Any]:
    """The button for one way of fixing failures: the value is the concept/agreement/invoice within this team."""
    action_id = FIX_ACTIONS[fix.kind]
    style = "primary" if fix.kind in (FixKind.MAP_CONCEPT, FixKind.RECONNECT) else None
    return button(fix_label(fix), action_id, value=fix.target, style=style)


def fix_accessory(failure: InvoiceFailure) -> dict[str, Any] | None:
    fix = failure.fix
    return fix_button(fix) if fix is not None and fix.kind is not FixKind.CONTACT_SUPPORT else None


def distinct_fixes(failures: Iterable[InvoiceFailure]) -> list[Fix]:
    """One fix per (kind, value), in the order failures mention them; support cases have no button."""
    seen: set[tuple[FixKind, str]] = set()
    fixes: list[Fix] = []
    for failure in failures:
        fix = failure.fix
        if fix is None or fix.kind is FixKind.CONTACT_SUPPORT or (fix.kind, fix.target) in seen:
            continue
        seen.add((fix.kind, fix.target))
        fixes.append(fix)
        if fix.kind is FixKind.LINK_BILL:  # a bill with the invoice's number that is not ours: link it, or skip
            fixes.append(Fix(FixKind.SKIP_INVOICE, fix.target))
    return fixes


def run_summary_message(summary: RunSummary) -> Message:
    """The finance-channel summary: counts, duration, failures grouped by cause and a button per fix."""
    icon = STATUS_ICONS.get(summary.status, ":information_source:")
    title = f"QuickBooks sync #{summary.run_id} {summary.status.value}{_duration(summary)}"
    counts = (
        f"{summary.bills_created} bill(s) created, {summary.already_synced} already synced, "
        f"{summary.skipped} skipped, {summary.failed} failed"
    )
    if summary.fee_bills_created:
        counts += f", {summary.fee_bills_created} Ontop fee bill(s)"
    if summary.credits_created:
        counts += f", {summary.credits_created} supplier credit(s)"
    if summary.payments_created:
        counts += f", {summary.payments_created} payment(s) recorded"
    if summary.vendors_created:
        counts += f", {summary.vendors_created} supplier(s) created"
    if summary.api_calls:
        counts += f" · {summary.api_calls} QuickBooks calls"
    blocks: list[dict[str, Any]] = [
        section(f"{icon} *{title}*\n{counts}"),
    ]
    if summary.error_summary:
        blocks.append(section(f":warning: {summary.error_summary}"))
    if summary.home_differences:
        blocks.append(
            section(
                f":warning: {summary.home_differences} document(s) booked a home amount that differs from what Ontop "
                "charged in USD. `/qbo reconcile` lists them."
            )
        )
    groups = group_failures(summary.failures)
    for reason, failures in list(groups.items())[:FAILURES_INLINE]:
        lines = [failure_line(f, with_reason=False) for f in failures[:3]]
        more = f"\n…and {len(failures) - 3} more" if len(failures) > 3 else ""
        # The reason may carry its own mrkdwn (a bold concept or name): not wrapped in more asterisks.
        blocks.append(section(f":small_red_triangle: {reason} ({len(failures)})\n" + "\n".join(lines) + more))
    if len(groups) > FAILURES_INLINE:
        blocks.append(context(f"…and {len(groups) - FAILURES_INLINE} more causes (full list in the thread)"))
    fixes = distinct_fixes(summary.failures)
    if fixes:
        shown = fixes[:FIX_BUTTONS_LIMIT]
        blocks.append(actions([fix_button(f) for f in shown], block_id=f"fixes-{summary.run_id}"))
        if len(fixes) > len(shown):
            blocks.append(context(f"…and {len(fixes) - len(shown)} more fixes in the thread"))
    requester = user_mention(summary.requested_by)
    blocks.append(context(f"Run #{summary.run_id} · {summary.trigger} · requested by {requester}"))
    text = f"{title}: {counts}"
    return Message(text=text, blocks=capped(blocks, MESSAGE_BLOCK_LIMIT))


def group_failures(failures: Sequence[InvoiceFailure]) -> dict[str, list[InvoiceFailure]]:
    groups: dict[str, list[InvoiceFailure]] = {}
    for failure in failures:
        groups.setdefault(failure.reason, []).append(failure)
    return groups


def needs_thread(summary: RunSummary) -> bool:
    """Long failure lists go to a thread under the summary."""
    return len(summary.failures) > 3 or len(group_failures(summary.failures)) > FAILURES_INLINE


def failure_thread_messages(summary: RunSummary, *, per_message: int = 20) -> list[Message]:
    """Every failure, with its fix button, in thread replies of at most 50 blocks each."""
    messages: list[Message] = []
    failures = list(summary.failures)
    for start in range(0, len(failures), per_message):
        chunk = failures[start : start + per_message]
        blocks: list[dict[str, Any]] = []
        for failure in chunk:
            blocks.append(section(failure_line(failure), accessory=fix_accessory(failure)))
        end = start + len(chunk)
        text = f"Failed invoices {start + 1}–{end} of {len(failures)} (sync #{summary.run_id})"
        messages.append(Message(text=text, blocks=[context(text), *blocks]))
    return messages


def needs_reauth_message(company_name: str, reason: str | None = None) -> Message:
    text = f"QuickBooks needs to be reconnected: {company_name}"
    detail = reason or "QuickBooks no longer accepts this app's authorization."
    return Message(
        text=text,
        blocks=[
            section(f":red_circle: *{text}*\n{detail} Syncs are paused until an admin reconnects."),
            actions([button("Reconnect QuickBooks", FixIds.RECONNECT, value="reconnect", style="primary")]),
        ],
    )


def qbo_connected_message(connected: QboConnected) -> Message:
    text = f"QuickBooks company {connected.company_name} connected by <@{connected.user_id}>."
    return Message(
        text=text,
        blocks=[
            section(f":white_check_mark: {text}"),
            context("Next: `/qbo map` to map invoice concepts, `/qbo vendors` to match suppliers."),
        ],
    )


def ontop_connected_message(user_id: str) -> Message:
    text = f"Ontop account connected by <@{user_id}>."
    return Message(text=text, blocks=[section(f":white_check_mark: {text}")])


def fallback_note(channel_id: str | None, reason: str) -> dict[str, Any]:
    """Said at the top of a message delivered by DM because the finance channel could not take it."""
    where = f"<#{channel_id}>" if channel_id else "the finance channel (none is set)"
    return context(f":information_source: Sent to you directly: I could not post in {where} ({reason}).")
