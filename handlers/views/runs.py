"""A run's drill-down modal and the run history (pure builders).

`/qbo run N` and the *Details* button on every summary open the run's invoices by outcome (what needs a fix first,
with its fix; what was created, with a link to the bill; what was skipped and why; what is to review), paged, with
*Download CSV*. `/qbo history` and the App Home list the latest runs, one line each.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from handlers.blocks import (
    SECTION_TEXT_LIMIT,
    Message,
    actions,
    button,
    context,
    escape,
    money,
    money_charged,
    section,
    slack_date,
    truncate,
    user_mention,
)
from handlers.deps import metadata_of
from handlers.ids import RunIds
from handlers.labels import counted, review_state_label, row_outcome_label, run_status_label, trigger_label
from handlers.run_messages import FIX_ACTIONS, fix_button, summary_title
from handlers.views.common import modal
from sync.api import QboLinks, RowOutcome, RunDetails, RunLedgerRow, RunSummary

ROWS_PER_PAGE = 40  # invoice lines per page: with headings and paging, far below 100 blocks
OUTCOME_ORDER = (
    RowOutcome.FAILED,
    RowOutcome.PENDING,
    RowOutcome.REVIEW,
    RowOutcome.CREATED,
    RowOutcome.SKIPPED,
    RowOutcome.EXCLUDED,
)
HISTORY_LINES_PER_SECTION = 10
NAME_LIMIT = 200
REASON_LIMIT = 500


def duration_text(summary: RunSummary) -> str:
    """ "1m 05s", "8s", or "" while the run has not finished."""
    if summary.started_at is None or summary.finished_at is None:
        return ""
    minutes, seconds = divmod(int((summary.finished_at - summary.started_at).total_seconds()), 60)
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def review_words(summary: RunSummary) -> str:
    """What a run's summary says about its review, or ""."""
    ref = summary.review
    if summary.posted_review_id is not None:
        return f"posted approved review #{summary.posted_review_id}"
    if ref is None:
        return ""
    if ref.made_by_run:
        return f"{counted(ref.bills, 'bill')} in review #{ref.review_id} ({review_state_label(ref.state)})"
    return f"waited for review #{ref.review_id} ({review_state_label(ref.state)})"


def run_line(summary: RunSummary) -> str:
    """ "#12 · daily sync · by @ann · 40 bills, 2 need a fix · 12,345.67 USD · 1m 05s · Tue 09:00"."""
    parts = [f"*#{summary.run_id}*", trigger_label(summary.trigger)]
    if summary.requested_by and summary.requested_by != "system":
        parts.append(f"by {user_mention(summary.requested_by)}")
    counts = [f"{counted(summary.bills_created, 'bill')}"]
    if summary.failed:
        counts.append(f"{summary.failed:,} {'needs' if summary.failed == 1 else 'need'} a fix")
    if summary.skipped:
        counts.append(f"{summary.skipped:,} waiting")
    review = review_words(summary)
    if review:
        counts.append(review)
    parts.append(", ".join(counts))
    if summary.usd_booked:
        parts.append(money(summary.usd_booked, "USD"))
    duration = duration_text(summary)
    if duration:
        parts.append(duration)
    parts.append(f"{run_status_label(summary.status)} {slack_date(summary.finished_at or summary.queued_at)}")
    return " · ".join(parts)


def history_blocks(runs: Sequence[RunSummary]) -> list[dict[str, Any]]:
    lines = [run_line(run) for run in runs]
    return [
        section(truncate("\n".join(lines[start : start + HISTORY_LINES_PER_SECTION]), SECTION_TEXT_LIMIT))
        for start in range(0, len(lines), HISTORY_LINES_PER_SECTION)
    ]


def history_message(runs: Sequence[RunSummary]) -> Message:
    """`/qbo history`: the latest runs, newest first."""
    if not runs:
        text = "No sync has run yet."
        return Message(text=text, blocks=[section(text)])
    text = f"The last {counted(len(runs), 'sync')}"
    blocks = [section(f"*{text}*"), *history_blocks(runs)]
    blocks.append(context("`/qbo run N` shows one sync's invoices."))
    return Message(text=text, blocks=blocks)


# --- the drill-down -------------------------------------------------------------------------------------------


def document_link(row: RunLedgerRow, links: QboLinks | None) -> str:
    """The row's bill (or vendor credit) as a link into QuickBooks; the id is quoted, the label plain."""
    if not row.bill_id:
        return ""
    label = "credit" if row.document == "vendor_credit" else "bill"
    if links is None:
        return f"{label} {escape(row.bill_id)}"
    target = quote(row.bill_id, safe="")
    url = links.vendor_credit(target) if row.document == "vendor_credit" else links.bill(target)
    return f"<{url}|{label} {escape(row.bill_id)}>"


def row_text(row: RunLedgerRow, links: QboLinks | None) -> str:
    parts = [f"*{escape(truncate(row.invoice_number, NAME_LIMIT))}*", escape(truncate(row.worker_name, NAME_LIMIT))]
    if row.amount is not None:
        parts.append(money_charged(row.amount, row.currency, row.amount_usd if row.currency != "USD" else None))
    link = document_link(row, links)
    if link:
        parts.append(link)
    line = " · ".join(parts)
    if row.message and row.outcome is not RowOutcome.CREATED:
        line += f": {escape(truncate(row.message, REASON_LIMIT))}"
    return truncate(line, SECTION_TEXT_LIMIT)


def ordered_rows(rows: Sequence[RunLedgerRow]) -> list[RunLedgerRow]:
    """Outcome by outcome: what needs a fix first, then review cases, created, skipped, excluded."""
    rank = {outcome: index for index, outcome in enumerate(OUTCOME_ORDER)}
    return sorted(rows, key=lambda row: rank.get(row.outcome, len(rank)))


def run_details_view(details: RunDetails, page: int = 0, links: QboLinks | None = None) -> dict[str, Any]:
    """The run's invoices by outcome, a page at a time, each failure with its fix, each bill with its link."""
    summary = details.summary
    rows = ordered_rows(details.rows)
    pages = max(1, -(-len(rows) // ROWS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    counts = {outcome: sum(1 for row in rows if row.outcome is outcome) for outcome in OUTCOME_ORDER}
    found = [f"{row_outcome_label(outcome)}: {count:,}" for outcome, count in counts.items() if count]
    header = f"*{escape(summary_title(summary))}*\n" + (" · ".join(found) or "No invoice was written about.")
    blocks: list[dict[str, Any]] = [section(header)]
    review = review_words(summary)
    if review:
        blocks.append(context(f":raised_hand: {review.capitalize()}"))
    shown = rows[page * ROWS_PER_PAGE : (page + 1) * ROWS_PER_PAGE]
    previous = rows[page * ROWS_PER_PAGE - 1].outcome if page > 0 and shown else None
    for row in shown:
        if row.outcome is not previous:
            blocks.append(section(f"*{row_outcome_label(row.outcome)}* ({counts.get(row.outcome, 0):,})"))
            previous = row.outcome
        pressable = row.fix is not None and row.fix.kind in FIX_ACTIONS  # a support case has no button
        accessory = fix_button(row.fix, row.invoice_number) if row.fix is not None and pressable else None
        blocks.append(section(row_text(row, links), accessory=accessory))
    controls = [button("Download CSV", RunIds.CSV, value=str(summary.run_id))]
    if page > 0:
        controls.append(button("Previous", f"{RunIds.PAGE}-prev", value=str(page - 1)))
    if page < pages - 1:
        controls.append(button("Next", f"{RunIds.PAGE}-next", value=str(page + 1)))
    if pages > 1:
        blocks.append(context(f"Page {page + 1} of {pages} · {counted(len(rows), 'invoice')}"))
    blocks.append(actions(controls, block_id=f"run-controls-{page}"))
    metadata = json.dumps({"run_id": summary.run_id, "page": page})
    return modal(f"Sync #{summary.run_id}", blocks, callback_id=RunIds.CALLBACK, private_metadata=metadata)


def run_metadata(view: dict[str, Any]) -> tuple[int | None, int]:
    """(run id, page) from the drill-down's private_metadata (only ever looked up within the workspace)."""
    loaded = metadata_of(view)
    run_id, page = loaded.get("run_id"), loaded.get("page", 0)
    return (run_id if isinstance(run_id, int) else None), (page if isinstance(page, int) else 0)


def csv_sent_note(run_id: int) -> dict[str, Any]:
    return context(f":page_facing_up: The CSV of sync #{run_id} is in your direct messages with me.")
