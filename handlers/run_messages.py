"""Pure builders for finance-channel notifications: run progress, truthful summaries with fix buttons, alerts.

A summary counts every failure of the run exactly (`RunSummary.failure_groups`), one section per cause with the
invoices it holds back, one button per fix naming its target (at most five, then "Fix the rest…"), the review
cases apart from the failures, and what was left alone and why. Every failure, page by page, goes to the thread
(`failure_page_messages`); `run_result_reply` is the short threaded reply that notifies people. Every message
has top-level text, stays within 50 blocks, and escapes what came from Ontop, QuickBooks or a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

from handlers.blocks import (
    MESSAGE_BLOCK_LIMIT,
    Message,
    actions,
    button,
    capped,
    context,
    escape,
    money,
    money_charged,
    section,
    truncate,
    user_mention,
)
from handlers.deps import scoped
from handlers.ids import FixIds, RunIds
from handlers.labels import (
    concept_label,
    counted,
    fix_label,
    joined,
    review_state_label,
    run_status_label,
    trigger_label,
)
from sync import messages
from sync.api import (
    FailureGroup,
    Fix,
    FixKind,
    InvoiceFailure,
    QboConnected,
    QboLinks,
    ReviewCase,
    ReviewState,
    RunStatus,
    RunSummary,
    RunTrigger,
)

FIX_ACTIONS = {
    FixKind.MAP_CONCEPT: FixIds.MAP,
    FixKind.CREATE_VENDOR: FixIds.CREATE_VENDOR,
    FixKind.CREATE_VENDOR_IN_CURRENCY: FixIds.CREATE_VENDOR_IN_CURRENCY,
    FixKind.LINK_BILL: FixIds.LINK_BILL,
    FixKind.SKIP_INVOICE: FixIds.SKIP_INVOICE,
    FixKind.BOOKS: FixIds.BOOKS,
    FixKind.RECONNECT: FixIds.RECONNECT,
    FixKind.RETRY: FixIds.RETRY,
    FixKind.TRACKING: FixIds.TRACKING,
}
CAUSES_INLINE = 5  # cause sections in the channel message; every failure is listed in the thread
LINES_PER_CAUSE = 5  # invoice or target lines under one cause
EXAMPLES_PER_TARGET = 2  # invoice numbers named on a target's line ("Camila: 2 invoices: ONT-1 …, ONT-2 …")
FIX_BUTTONS_SHOWN = 5  # then "Fix the rest…" (Slack allows 25 per block; five stay readable)
REVIEW_CASES_SHOWN = 5
NAME_LIMIT = 200  # one worker name, invoice number or target on a line
REASON_LIMIT = 500  # one reason on a line
# Fixes that act on something many invoices share (a concept, a worker, the books): their groups are listed by
# target, with a count. The others act on one invoice: their groups are listed invoice by invoice.
TARGET_FIXES = (
    FixKind.MAP_CONCEPT,
    FixKind.CREATE_VENDOR,
    FixKind.CREATE_VENDOR_IN_CURRENCY,
    FixKind.BOOKS,
    FixKind.RECONNECT,
)
# The heading of a cause that several targets share, by the domain's cause code ("3 invoices: workers not
# suppliers in QuickBooks"); a cause with one target uses its own sentence, which names the target.
CAUSE_TITLES = {
    "unmapped_concept": "concepts not mapped to a QuickBooks account",
    "no_tax_code": "concepts without a tax code",
    "no_vendor": "workers not suppliers in QuickBooks",
    "supplier_currency": "workers whose supplier in QuickBooks is in another currency",
    "vendor_conflict": "supplier names or emails that need a person in QuickBooks",
    "worker_not_ready": "workers whose Ontop profile is not complete yet",
    "unknown_contract": "contracts not found among the company's Ontop workers",
    "not_our_bill": "bills with the same number already in QuickBooks, not made by this bot",
    "currency": "currencies that cannot be booked",
    "usd_lines_off": "invoices whose lines do not add up in USD",
    "no_lines": "invoices without lines",
    "service_unavailable": "QuickBooks or Ontop did not answer",
    "qbo_unavailable": "QuickBooks did not answer",
    "payment_refused": "QuickBooks refused the payment",
    "tracking_refused": "classes or locations QuickBooks refused",
}
PROMPT_FIXES = (FixKind.RECONNECT, FixKind.BOOKS)
STATUS_ICONS = {
    RunStatus.SUCCEEDED: ":white_check_mark:",
    RunStatus.PARTIAL: ":warning:",
    RunStatus.FAILED: ":x:",
    RunStatus.CANCELLED: ":no_entry_sign:",
}


def progress_bar(done: int, total: int, width: int = 10) -> str:
    if total <= 0:
        return "░" * width
    filled = min(width, round(width * done / total))
    return "▓" * filled + "░" * (width - filled)


def run_started_message(run: RunSummary) -> Message:
    text = f"QuickBooks sync #{run.run_id} started"
    who = f", by {user_mention(run.requested_by)}" if run.requested_by else ""
    return Message(
        text=text,
        blocks=[section(f":arrows_counterclockwise: *{text}* ({trigger_label(run.trigger)}{who})")],
    )


def run_progress_message(
    run_id: int, done: int, total: int | None, *, requested_by: str | None = None, what: str = "invoices"
) -> Message:
    """Done of total with a bar when the total is known; otherwise a count, without a made-up percentage.

    what: what is counted when the total is known (the follow-up of a bills-first run counts "payments, fee bills
    and PDFs").
    """
    if total is not None and total > 0:
        done = min(done, total)
        percent = round(100 * done / total)
        text = f"QuickBooks sync #{run_id}: {done}/{total} {what} ({percent}%)"
        line = f"{progress_bar(done, total)} {done}/{total} ({percent}%)"
    else:
        text = f"QuickBooks sync #{run_id}: {counted(done, 'invoice')} read"
        line = f"{counted(done, 'invoice')} read"
    return Message(
        text=text,
        blocks=[
            section(f":arrows_counterclockwise: *Sync #{run_id}* {line}"),
            context(f"Requested by {user_mention(requested_by)}"),
        ],
    )


def _duration(summary: RunSummary) -> str:
    if summary.started_at is None or summary.finished_at is None:
        return ""
    seconds = int((summary.finished_at - summary.started_at).total_seconds())
    minutes, seconds = divmod(seconds, 60)
    return f" in {minutes}m {seconds:02d}s" if minutes else f" in {seconds}s"


# --- failures, one by one ------------------------------------------------------------------------------------


def failure_line(failure: InvoiceFailure, *, with_reason: bool = True) -> str:
    """Invoice, worker and amount (and why it failed, unless the line sits under its cause already), escaped.

    The shape "*INV-1* · worker · amount" is what people (and devtools/demo_checks.py) read as a listed invoice.
    """
    parts = []
    if failure.invoice_number:
        parts.append(f"*{escape(truncate(failure.invoice_number, NAME_LIMIT))}*")
    if failure.worker_name:
        parts.append(escape(truncate(failure.worker_name, NAME_LIMIT)))
    if failure.amount is not None:
        parts.append(money_charged(failure.amount, failure.currency, failure.amount_usd))
    line = " · ".join(parts)
    if not with_reason:
        return line
    reason = escape(truncate(failure.reason, REASON_LIMIT))
    return f"{line}: {reason}" if line else reason


def fix_button(fix: Fix, target_name: str = "", connection_id: int | None = None) -> dict[str, Any]:
    """The button for one way of fixing failures: the value is the concept/agreement/invoice within this team, and the
    connection it belongs to (the fix's own, else `connection_id`)."""
    action_id = FIX_ACTIONS[fix.kind]
    style = "primary" if fix.kind in (FixKind.MAP_CONCEPT, FixKind.RECONNECT) else None
    value = scoped(fix.target, fix.connection_id if fix.connection_id is not None else connection_id)
    return button(fix_label(fix, target_name), action_id, value=value, style=style)


def failure_fixes(failure: InvoiceFailure) -> list[Fix]:
    """The fixes a person can press for one failure: a bill that is not ours may be linked, or the invoice skipped."""
    fix = failure.fix
    if fix is None or fix.kind is FixKind.CONTACT_SUPPORT:
        return []
    if fix.kind is FixKind.LINK_BILL:
        return [fix, Fix(FixKind.SKIP_INVOICE, fix.target, connection_id=fix.connection_id)]
    return [fix]


def fix_name(fix: Fix, failure: InvoiceFailure) -> str:
    """How people know what `fix` (one of `failure`'s) acts on: its own name, the concept's label, the worker
    (for a fix many invoices share) or the invoice (for a fix of this invoice alone)."""
    if fix.target_name:
        return fix.target_name
    if fix.kind is FixKind.MAP_CONCEPT:
        return concept_label(fix.target)
    return failure.worker_name if fix.kind in TARGET_FIXES else failure.invoice_number


def fix_accessory(failure: InvoiceFailure) -> dict[str, Any] | None:
    """The failure's main fix as a section accessory (the App Home lists failures this way)."""
    fixes = failure_fixes(failure)
    return fix_button(fixes[0], fix_name(fixes[0], failure)) if fixes else None


def failure_page_messages(
    failures: Sequence[InvoiceFailure], *, page_size: int = 20, run_id: int | None = None
) -> list[Message]:
    """Every failure with its fix buttons, as thread replies of at most `page_size` failures and 50 blocks each.

    A failure with one fix carries it as the section's button; one with two (link the bill or skip the invoice)
    gets an actions block under it, so a page never exceeds Slack's block limit whatever `page_size` is.
    """
    pages: list[list[dict[str, Any]]] = []
    counts: list[int] = []
    blocks: list[dict[str, Any]] = []
    count = 0
    for failure in failures:
        fixes = failure_fixes(failure)
        if len(fixes) > 1:
            pressable = [fix_button(fix, fix_name(fix, failure)) for fix in fixes]
            rendered = [section(failure_line(failure)), actions(pressable, block_id=f"fix-{len(blocks)}-{count}")]
        else:
            accessory = fix_button(fixes[0], fix_name(fixes[0], failure)) if fixes else None
            rendered = [section(failure_line(failure), accessory=accessory)]
        if count and (count >= page_size or len(blocks) + len(rendered) > MESSAGE_BLOCK_LIMIT - 1):
            pages.append(blocks)
            counts.append(count)
            blocks, count = [], 0
        blocks.extend(rendered)
        count += 1
    if count:
        pages.append(blocks)
        counts.append(count)
    total = len(failures)
    messages: list[Message] = []
    start = 0
    of_run = f" (sync #{run_id})" if run_id is not None else ""
    for page, listed in zip(pages, counts, strict=True):
        text = f"Invoices that need a fix {start + 1}–{start + listed} of {total:,}{of_run}"
        messages.append(Message(text=text, blocks=[context(text), *page]))
        start += listed
    return messages


# --- failures, by cause ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cause:
    """The run's failures of one kind (the domain's code), in the groups the service counted them in."""

    key: str
    groups: list[FailureGroup]

    @property
    def count(self) -> int:
        return sum(group.count for group in self.groups)


@dataclass(frozen=True)
class Target:
    """One fix of a cause and what it acts on: its name, how many invoices it fixes (when the service counted
    them per target) and the example invoices it fixes."""

    fix: Fix | None
    name: str
    count: int | None
    examples: list[InvoiceFailure]
    reason: str


def failure_groups(summary: RunSummary) -> list[FailureGroup]:
    """The run's failures counted by cause and fix target: the service's exact groups, or, for a summary made
    without them, groups of the failures it carries."""
    if summary.failure_groups:
        return list(summary.failure_groups)
    groups: dict[tuple[str, str, str], list[InvoiceFailure]] = {}
    for failure in summary.failures:
        fix = failure.fix
        key = (failure.code or failure.reason, fix.kind.value if fix else "", fix.target if fix else "")
        groups.setdefault(key, []).append(failure)
    return [
        FailureGroup(code=found[0].code, reason=found[0].reason, count=len(found), fix=found[0].fix, examples=found)
        for found in groups.values()
    ]


def causes(groups: Iterable[FailureGroup]) -> list[Cause]:
    """Groups gathered by cause kind, in the order the service reported them."""
    by_key: dict[str, list[FailureGroup]] = {}
    for group in groups:
        by_key.setdefault(group.code or group.reason, []).append(group)
    return [Cause(key, found) for key, found in by_key.items()]


def _fixes_of(group: FailureGroup) -> list[Fix]:
    """A group's fixes: every distinct one when the service lists them (one supplier per worker), else its fix."""
    if group.fixes:
        return list(group.fixes)
    return [group.fix] if group.fix is not None else []


def _same_target(failure: InvoiceFailure, fix: Fix) -> bool:
    return failure.fix is not None and (failure.fix.kind, failure.fix.target) == (fix.kind, fix.target)


def name_of(fix: Fix | None, examples: Sequence[InvoiceFailure]) -> str:
    """How people know what a group's fix acts on (see fix_name). Only an example with this very fix may name
    it: a group's examples are a few of its invoices, not one per fix."""
    if fix is None:
        return ""
    if fix.target_name:
        return fix.target_name
    if fix.kind is FixKind.MAP_CONCEPT:
        return concept_label(fix.target)
    example = next((e for e in examples if _same_target(e, fix)), None)
    return fix_name(fix, example) if example is not None else ""


def targets(group: FailureGroup) -> list[Target]:
    """A group's fixes, each with its name and its invoices; counted exactly when the group has one fix."""
    fixes = _fixes_of(group)
    if len(fixes) <= 1:
        fix = fixes[0] if fixes else None
        return [Target(fix, name_of(fix, group.examples), group.count, list(group.examples), group.reason)]
    found = []
    for fix in fixes:
        examples = [e for e in group.examples if _same_target(e, fix)]
        found.append(Target(fix, name_of(fix, examples), None, examples, group.reason))
    return found


def is_prompt(group: FailureGroup) -> bool:
    """A connection-wide prompt the service lists before the failures (reconnect QuickBooks, choose the account
    bills are paid from): it holds no invoice of its own, so it is said, not counted as a failed invoice."""
    return (
        group.fix is not None
        and group.fix.kind in PROMPT_FIXES
        and all(not example.invoice_id and not example.invoice_number for example in group.examples)
    )


def _examples_text(target: Target) -> str:
    shown = []
    for failure in target.examples[:EXAMPLES_PER_TARGET]:
        number = escape(truncate(failure.invoice_number, NAME_LIMIT))
        amount = (
            money_charged(failure.amount, failure.currency, failure.amount_usd) if failure.amount is not None else ""
        )
        text = " ".join(part for part in (number, amount) if part)
        if text:
            shown.append(text)
    more = (target.count or 0) - len(shown)
    if shown and more > 0:
        shown.append(f"{more:,} more")
    return ", ".join(shown)


def _cause_title(cause: Cause, single: bool) -> str:
    """A cause with one target says its own sentence (which names the target); several share a title."""
    first = cause.groups[0]
    if single:
        return first.reason
    if cause.key in CAUSE_TITLES:
        return CAUSE_TITLES[cause.key]
    if cause.key.startswith("qbo_"):
        return "QuickBooks refused the bill"
    return first.reason


def cause_text(cause: Cause) -> tuple[str, int]:
    """A cause's section: the exact count and what it is, then its targets or its invoices; and how many
    invoices it names (an invoice not named here is only in the thread)."""
    found = [target for group in cause.groups for target in targets(group)]
    title = _cause_title(cause, single=len(found) == 1)
    by_target = len(found) > 1 and all(t.fix is not None and t.fix.kind in TARGET_FIXES for t in found)
    lines: list[str] = []
    named = 0
    if by_target:
        # "• *Camila dell'Acqua*: 2 invoices: ONT-1 13,750.00 BRL (2,682.93 USD), ONT-2 …"
        for target in found[:LINES_PER_CAUSE]:
            parts = [f"*{escape(truncate(target.name, NAME_LIMIT))}*"]
            if target.count is not None:
                parts.append(counted(target.count, "invoice"))
            examples = _examples_text(target)
            if examples:
                parts.append(examples)
            lines.append("• " + ": ".join(parts))
            named += sum(1 for f in target.examples[:EXAMPLES_PER_TARGET] if f.invoice_number)
        hidden = len(found) - LINES_PER_CAUSE
        if hidden > 0:
            lines.append(f"…and {hidden:,} more (every invoice is in the thread)")
    else:
        failures = [failure for group in cause.groups for failure in group.examples]
        for failure in failures[:LINES_PER_CAUSE]:
            # Under a title that is not its own sentence, a line says why it failed.
            line = failure_line(failure, with_reason=failure.reason != title)
            if line:
                lines.append(f"• {line}")
                named += 1 if failure.invoice_number else 0
        hidden = cause.count - named
        if hidden > 0 and named:
            lines.append(f"…and {hidden:,} more (every invoice is in the thread)")
    heading = f":small_red_triangle: *{counted(cause.count, 'invoice')}*: {escape(truncate(title, REASON_LIMIT))}"
    return truncate("\n".join([heading, *lines]), 3000), named


def summary_fixes(groups: Iterable[FailureGroup]) -> list[tuple[Fix, Target]]:
    """Each fix a person can press, once, with its target, in the order of the causes. A bill that is not ours
    may be linked, or its invoice skipped: both are offered."""
    seen: set[tuple[FixKind, str]] = set()
    fixes: list[tuple[Fix, Target]] = []
    for group in groups:
        for target in targets(group):
            fix = target.fix
            if fix is None or fix.kind is FixKind.CONTACT_SUPPORT:
                continue
            pressable = (
                [fix, Fix(FixKind.SKIP_INVOICE, fix.target, connection_id=fix.connection_id)]
                if fix.kind is FixKind.LINK_BILL
                else [fix]
            )
            for one in pressable:
                if (one.kind, one.target) not in seen:
                    seen.add((one.kind, one.target))
                    fixes.append((one, target))
    return fixes


def fix_rows(elements: Sequence[dict[str, Any]], *, block_id: str) -> list[dict[str, Any]]:
    """Buttons in order, in actions blocks; a new row starts where an action id would repeat within one, as
    Slack wants action ids unique per block and two "Map …" buttons share one."""
    rows: list[list[dict[str, Any]]] = [[]]
    for element in elements:
        if any(e["action_id"] == element["action_id"] for e in rows[-1]):
            rows.append([])
        rows[-1].append(element)
    return [actions(row, block_id=f"{block_id}-{index}" if index else block_id) for index, row in enumerate(rows)]


# --- the summary -----------------------------------------------------------------------------------------------


def _review_count(summary: RunSummary) -> int:
    return max(summary.review_count, len(summary.review_cases))


def _failed_count(summary: RunSummary, groups: Sequence[FailureGroup]) -> int:
    return max(summary.failed, sum(group.count for group in groups if not is_prompt(group)))


def need_a_fix(count: int) -> str:
    return f"{count:,} {'needs' if count == 1 else 'need'} a fix"


def _booked_documents(summary: RunSummary) -> str:
    documents = [counted(summary.bills_created, "bill")]
    if summary.fee_bills_created:
        documents.append(counted(summary.fee_bills_created, "Ontop fee bill"))
    if summary.credits_created:
        documents.append(counted(summary.credits_created, "supplier credit"))
    return joined(documents)


def on_its_way(summary: RunSummary) -> str:
    """What a run that posted its bills first left for the run after it: "2,400 payments, 310 Ontop fee bills and
    2,400 PDFs" (empty when nothing)."""
    parts = []
    if summary.payments_to_follow:
        parts.append(counted(summary.payments_to_follow, "payment"))
    if summary.fee_bills_to_follow:
        parts.append(counted(summary.fee_bills_to_follow, "Ontop fee bill"))
    if summary.pdfs_to_follow:
        parts.append(counted(summary.pdfs_to_follow, "PDF"))
    return joined(parts) if parts else ""


def _on_its_way_line(summary: RunSummary) -> str:
    """ ":hourglass_flowing_sand: Still on its way: 2,400 payments, … — sync #13 finishes them"."""
    left = on_its_way(summary)
    if not left:
        return ""
    finisher = f"sync #{summary.follow_up_run_id}" if summary.follow_up_run_id else "the next sync"
    return f":hourglass_flowing_sand: Still on its way: {left} — {finisher} finishes them, every bill is booked"


def _finished_parts(summary: RunSummary) -> list[str]:
    """What the follow-up of a bills-first run finished: payments, Ontop fee bills, PDFs."""
    parts = []
    if summary.payments_created:
        parts.append(f"{counted(summary.payments_created, 'payment')} recorded")
    if summary.fee_bills_created:
        parts.append(f"{counted(summary.fee_bills_created, 'Ontop fee bill')} booked")
    if summary.attachments_created:
        parts.append(f"{counted(summary.attachments_created, 'PDF')} attached")
    return parts or ["nothing was left to finish"]


def _counts_lines(summary: RunSummary, failed: int) -> list[str]:
    """What was booked, what needs a person, and what was left alone and why."""
    documents = _booked_documents(summary)
    if summary.booked_home_total is not None:
        booked = f"Booked *{money(summary.booked_home_total, summary.home_currency)}*: {documents}"
    else:
        booked = f"Booked {documents}"
    done = [booked]
    if summary.payments_created:
        done.append(f"{counted(summary.payments_created, 'payment')} recorded")
    if summary.trigger == RunTrigger.FINISH and summary.attachments_created:
        done.append(f"{counted(summary.attachments_created, 'PDF')} attached")
    if summary.vendors_created:
        done.append(f"{counted(summary.vendors_created, 'supplier')} created")
    lines = [" · ".join(done)]
    coming = _on_its_way_line(summary)
    if coming:
        lines.append(coming)
    attention = []
    if failed:
        attention.append(f"*{need_a_fix(failed)}*")
    if _review_count(summary):
        attention.append(f"*{_review_count(summary):,} to review*")
    if attention:
        lines.append(" · ".join(attention))
    left = []
    if summary.already_synced:
        left.append(f"{summary.already_synced:,} already in QuickBooks")
    if summary.skipped:
        left.append(f"{summary.skipped:,} waiting for payment in Ontop")
    if summary.held:
        left.append(f"{summary.held:,} you chose to skip or already reported")
    if left:
        lines.append("Left alone: " + " · ".join(left))
    return lines


def _outcome_parts(summary: RunSummary, failed: int) -> list[str]:
    if summary.trigger == RunTrigger.FINISH and not summary.bills_created:
        parts = _finished_parts(summary)
    else:
        parts = [f"{counted(summary.bills_created, 'bill')} booked"]
    if on_its_way(summary):
        parts.append(f"{on_its_way(summary)} on their way")
    if failed:
        parts.append(need_a_fix(failed))
    if _review_count(summary):
        parts.append(f"{_review_count(summary):,} to review")
    return parts


def summary_title(summary: RunSummary) -> str:
    """ "QuickBooks sync #12 finished with problems in 1m 05s"."""
    return f"QuickBooks sync #{summary.run_id} {run_status_label(summary.status)}{_duration(summary)}"


def bill_link(case: ReviewCase, links: QboLinks | None) -> str:
    """The case's bill as a link into QuickBooks labelled with its DocNumber (the label escaped, the id quoted)."""
    label = escape(truncate(case.document_number or case.document_id or "", NAME_LIMIT))
    if links is None or not case.document_id:
        return f"bill {label}" if label else "its bill"
    url = links.bill(quote(case.document_id, safe=""))
    return f"<{url}|bill {label or 'in QuickBooks'}>"


def review_section(summary: RunSummary, links: QboLinks | None) -> dict[str, Any] | None:
    """The invoices a person decides about (changed in Ontop after their bill was made): not failures."""
    total = _review_count(summary)
    if not total:
        return None
    lines = [f":mag: *To review: {total:,}* (changed in Ontop after the bill was made; I never edit bills)"]
    for case in summary.review_cases[:REVIEW_CASES_SHOWN]:
        number = escape(truncate(case.invoice_number, NAME_LIMIT))
        worker = escape(truncate(case.worker_name, NAME_LIMIT))
        reason = escape(truncate(case.reason, REASON_LIMIT))
        lines.append(f"• *{number}* · {worker}: {reason} ({bill_link(case, links)})")
    hidden = total - min(len(summary.review_cases), REVIEW_CASES_SHOWN)
    if hidden > 0:
        lines.append(f"…and {hidden:,} more")
    return section(truncate("\n".join(lines), 3000))


def _cause_sections(summary: RunSummary) -> tuple[list[str], int, int]:
    """The cause sections shown, how many invoices they name, and how many causes are left out."""
    found = causes(group for group in failure_groups(summary) if not is_prompt(group))
    shown = [cause_text(cause) for cause in found[:CAUSES_INLINE]]
    return [text for text, _ in shown], sum(named for _, named in shown), max(0, len(found) - CAUSES_INLINE)


def needs_thread(summary: RunSummary) -> bool:
    """Whether the summary leaves failed invoices unnamed: then every failure goes to its thread (and it says so)."""
    groups = failure_groups(summary)
    _, named, _ = _cause_sections(summary)
    return named < _failed_count(summary, groups)


def run_summary_message(summary: RunSummary, links: QboLinks | None = None) -> Message:
    """The finance-channel summary of a finished run.

    Exact counts per cause (they add up to the run's failures), a button per fix naming its target (five, then
    "Fix the rest…"), the review cases with links to their bills (`links`: the company's QuickBooks host), what
    was left alone and why, and the total booked in the home currency.
    """
    groups = failure_groups(summary)
    failed = _failed_count(summary, groups)
    icon = STATUS_ICONS.get(summary.status, ":information_source:")
    title = summary_title(summary)
    details = button(
        "Details", RunIds.DETAILS, value=str(summary.run_id)
    )  # the run's invoices (handlers/views/runs.py)
    blocks: list[dict[str, Any]] = [
        section(f"{icon} *{title}*\n" + "\n".join(_counts_lines(summary, failed)), accessory=details)
    ]
    gate = review_line(summary)
    if gate:
        blocks.append(section(gate))
    if summary.error_summary:
        blocks.append(section(f":warning: {escape(truncate(summary.error_summary, REASON_LIMIT))}"))
    if summary.home_differences:
        blocks.append(
            section(
                f":warning: {counted(summary.home_differences, 'document')} booked a home amount that differs "
                "from what Ontop charged in USD. `/qbo reconcile` lists them."
            )
        )
    for prompt in (group for group in groups if is_prompt(group)):
        blocks.append(section(f":exclamation: *{escape(truncate(prompt.reason, REASON_LIMIT))}*"))
    texts, named, hidden_causes = _cause_sections(summary)
    blocks.extend(section(text) for text in texts)
    if hidden_causes:
        blocks.append(context(f"…and {counted(hidden_causes, 'more cause')}: every failed invoice is in the thread"))
    fixes = summary_fixes(groups)
    if fixes:
        shown = [fix_button(fix, target.name) for fix, target in fixes[:FIX_BUTTONS_SHOWN]]
        rows = fix_rows(shown, block_id=f"fixes-{summary.run_id}")
        rest = len(fixes) - FIX_BUTTONS_SHOWN
        if rest > 0:  # the modal it opens lists every other fix (handlers/views/fixes.py)
            rows[-1]["elements"].append(
                button(
                    f"Fix the rest… ({rest:,} more)",
                    FixIds.MORE,
                    value=scoped(str(summary.run_id), summary.connection_id),
                )
            )
        blocks.extend(rows)
    review = review_section(summary, links)
    if review is not None:
        blocks.append(review)
    footer = [f"Sync #{summary.run_id}", trigger_label(summary.trigger)]
    if summary.requested_by:
        footer.append(f"requested by {user_mention(summary.requested_by)}")
    if summary.api_calls:
        footer.append(f"{counted(summary.api_calls, 'QuickBooks call')}")
    blocks.append(context(" · ".join(footer)))
    text = f"{title}: {', '.join(_outcome_parts(summary, failed))}"
    if summary.review is not None and summary.review.made_by_run and summary.review.state == ReviewState.PENDING:
        text += f" ({counted(summary.review.bills, 'bill')} waiting for approval)"
    if named < failed:
        text += " (every failed invoice is in the thread)"
    return Message(text=text, blocks=capped(blocks, MESSAGE_BLOCK_LIMIT))


def review_line(summary: RunSummary) -> str:
    """What the approval gate did in this run: made a review (nothing posted), waited for one, or posted one."""
    ref = summary.review
    lines = []
    if summary.posted_review_id is not None:
        lines.append(f":white_check_mark: Posted review #{summary.posted_review_id}, as an admin approved it.")
    if ref is not None and ref.made_by_run:
        state = review_state_label(ref.state)
        lines.append(
            f":raised_hand: *{counted(ref.bills, 'bill')} in review #{ref.review_id}* ({state}): nothing was posted; "
            "an admin approves them in the review message."
        )
    elif ref is not None:
        lines.append(
            f":hourglass: Review #{ref.review_id} is {review_state_label(ref.state)}: nothing is posted until an "
            "admin decides it."
        )
    return "\n".join(lines)


def run_result_reply(summary: RunSummary) -> Message:
    """The short reply in the summary's thread that notifies people (an edited message notifies nobody):
    "<@U1> Sync #12 finished with problems: 40 bills booked, 3 need a fix — details above"."""
    failed = _failed_count(summary, failure_groups(summary))
    outcome = f"Sync #{summary.run_id} {run_status_label(summary.status)}: {', '.join(_outcome_parts(summary, failed))}"
    if summary.status == RunStatus.FAILED and summary.error_summary:
        outcome = f"Sync #{summary.run_id} failed: {escape(truncate(summary.error_summary, REASON_LIMIT))}"
    mention = f"{user_mention(summary.requested_by)} " if summary.requested_by else ""
    text = f"{mention}{outcome} — details above"
    return Message(text=text, blocks=[section(text)])


def run_quiet(summary: RunSummary) -> bool:
    """Whether the run had nothing to say, so a scheduled run posts nothing: no documents, no payments, no
    failures, no review cases, no suppliers created, and it did not stop on an error."""
    return not (
        summary.bills_created
        or summary.fee_bills_created
        or summary.credits_created
        or summary.payments_created
        or summary.vendors_created
        or summary.failed
        or summary.failures
        or summary.failure_groups
        or _review_count(summary)
        or summary.home_differences
        or summary.error_summary
        or summary.status == RunStatus.FAILED
    )


# --- alerts and announcements ----------------------------------------------------------------------------------


def needs_reauth_message(company_name: str, reason: str | None = None, connection_id: int | None = None) -> Message:
    text = f"QuickBooks needs to be reconnected: {escape(company_name)}"
    detail = escape(reason) if reason else "QuickBooks no longer accepts this app's authorization."
    return Message(
        text=text,
        blocks=[
            section(f":red_circle: *{text}*\n{detail} Syncs are paused until an admin reconnects."),
            actions(
                [
                    button(
                        "Reconnect QuickBooks",
                        FixIds.RECONNECT,
                        value=scoped("reconnect", connection_id),
                        style="primary",
                    )
                ]
            ),
        ],
    )


def reauth_reminder_message(company_name: str, deadline: date, connection_id: int | None = None) -> Message:
    """QuickBooks' authorization ends soon (its refresh token expires): reconnect before `deadline`."""
    text = f"QuickBooks needs reconnecting soon: {escape(company_name)}"
    detail = messages.authorization_ends(f"{deadline:%B} {deadline.day}, {deadline.year}")
    return Message(
        text=text,
        blocks=[
            section(f":hourglass_flowing_sand: *{text}*\n{detail}"),
            actions(
                [
                    button(
                        "Reconnect QuickBooks",
                        FixIds.RECONNECT,
                        value=scoped("reconnect", connection_id),
                        style="primary",
                    )
                ]
            ),
        ],
    )


def qbo_connected_message(connected: QboConnected) -> Message:
    text = f"QuickBooks company {escape(connected.company_name)} connected by <@{connected.user_id}>."
    named = (
        f" (`{escape(connected.name)}` in commands, e.g. `/qbo map {escape(connected.name)}`)" if connected.name else ""
    )
    return Message(
        text=text,
        blocks=[
            section(f":white_check_mark: {text}{named}"),
            context("Next: `/qbo map` to map invoice concepts, `/qbo vendors` to match suppliers."),
        ],
    )


def ontop_connected_message(user_id: str) -> Message:
    text = f"Ontop account connected by <@{user_id}>."
    return Message(text=text, blocks=[section(f":white_check_mark: {text}")])


def fallback_note(channel_id: str | None, reason: str) -> dict[str, Any]:
    """Said at the top of a message delivered by DM because the finance channel could not take it."""
    where = f"<#{channel_id}>" if channel_id else "the finance channel (none is set)"
    return context(f":information_source: Sent to you directly: I could not post in {where} ({escape(reason)}).")
