"""The approval gate in Slack (pure builders): the review message, its reminder, its details modal, and the preview.

A review message says what a posting would do (bills and suppliers to create, totals per currency and in USD, the
largest invoices, what is blocked and why) with *Approve and post*, *Review details* and *Skip*; once decided, it
says who decided and when, and its buttons are gone. Everything from Ontop, QuickBooks or a person is escaped.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from handlers.blocks import (
    MESSAGE_BLOCK_LIMIT,
    SECTION_TEXT_LIMIT,
    Message,
    actions,
    button,
    capped,
    context,
    escape,
    money,
    money_charged,
    section,
    slack_date,
    sync_preview_message,
    truncate,
    user_mention,
)
from handlers.deps import metadata_of, scoped
from handlers.ids import ReviewIds
from handlers.labels import counted, review_state_label
from handlers.run_messages import cause_text, causes, fix_button, fix_rows, summary_fixes
from handlers.views.common import modal
from sync.api import ReviewContent, ReviewInvoice, ReviewPage, ReviewState, ReviewView, SyncPreview

CAUSES_SHOWN = 5
FIX_BUTTONS_SHOWN = 5
EXCLUDED_NAMED = 10
INCLUDE_BUTTONS = 5  # the preview's "Include again" buttons
CHECKBOX_GROUP = 10  # Slack's limit of options per checkboxes element
OPTION_TEXT_LIMIT = 75
NAME_LIMIT = 200


def slack_time(moment: datetime | None) -> str:
    """A time of day Slack shows in each reader's time zone: "09:24"."""
    if moment is None:
        return "—"
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{moment:%Y-%m-%d %H:%M} UTC>"


def invoice_line(invoice: ReviewInvoice) -> str:
    """ "*INV-1* · Ana Gómez · 13,750.00 BRL (2,682.93 USD)", escaped."""
    number = escape(truncate(invoice.invoice_number, NAME_LIMIT))
    worker = escape(truncate(invoice.worker_name, NAME_LIMIT))
    return f"*{number}* · {worker} · {money_charged(invoice.amount, invoice.currency, invoice.amount_usd)}"


def totals_text(content: ReviewContent) -> str:
    """ "Totals: 4,100.00 BRL · 12,345.00 USD (in USD: 13,145.21)"."""
    per_currency = " · ".join(money(amount, currency) for currency, amount in content.totals.items())
    return f"Totals: {per_currency or '—'} (in USD: {money(content.usd_total, 'USD')})"


def content_blocks(
    content: ReviewContent, *, with_fixes: bool, connection_id: int | None = None
) -> list[dict[str, Any]]:
    """What a posting would do, for the review message and the preview alike."""
    to_do = [f"*{counted(content.bills, 'bill')}* to post"]
    if content.vendors_to_create:
        to_do.append(f"*{counted(content.vendors_to_create, 'supplier')}* to create")
    if content.vendors_to_link:
        to_do.append(f"{counted(content.vendors_to_link, 'supplier')} to link")
    if content.bills:
        blocks = [section(" · ".join(to_do) + "\n" + totals_text(content))]
    else:
        blocks = [section("*Nothing would be posted now.*")]
    if content.largest:
        lines = [f"• {invoice_line(invoice)}" for invoice in content.largest]
        more = content.bills - len(content.largest)
        if more > 0:
            lines.append(f"…and {counted(more, 'more invoice')}")
        heading = "*The largest*" if more > 0 else "*The invoices*"
        blocks.append(section(truncate(heading + "\n" + "\n".join(lines), SECTION_TEXT_LIMIT)))
    found = causes(content.blocked)
    if found:
        total = sum(group.count for group in content.blocked)
        blocks.append(section(f"*Blocked, not in this posting: {counted(total, 'invoice')}*"))
        blocks.extend(section(cause_text(cause)[0]) for cause in found[:CAUSES_SHOWN])
        if len(found) > CAUSES_SHOWN:
            blocks.append(context(f"…and {counted(len(found) - CAUSES_SHOWN, 'more cause')}"))
        fixes = summary_fixes(content.blocked)[:FIX_BUTTONS_SHOWN]
        if with_fixes and fixes:
            buttons = [fix_button(fix, target.name, connection_id) for fix, target in fixes]
            blocks.extend(fix_rows(buttons, block_id="review-fixes"))
    if content.excluded_count:
        named = ", ".join(escape(invoice.invoice_number) for invoice in content.excluded[:EXCLUDED_NAMED])
        more = content.excluded_count - min(len(content.excluded), EXCLUDED_NAMED)
        tail = f" and {more:,} more" if more > 0 else ""
        blocks.append(
            section(
                truncate(
                    f":no_entry_sign: *Excluded by an admin: {content.excluded_count:,}* ({named}{tail}): "
                    "never posted unless included again",
                    SECTION_TEXT_LIMIT,
                )
            )
        )
    return blocks


# --- the review message -------------------------------------------------------------------------------------------


def review_title(view: ReviewView) -> str:
    return f"Review #{view.review_id} before posting"


def _asked_by(view: ReviewView) -> str:
    parts = [f"Review #{view.review_id}"]
    if view.run_id is not None:
        parts.append(f"asked by sync #{view.run_id}")
    elif view.requested_by:
        parts.append(f"asked from the preview by {user_mention(view.requested_by)}")
    return " · ".join(parts)


def decision_text(view: ReviewView) -> str:
    """Who decided and when (or that it expired), once it is no longer pending."""
    who = user_mention(view.decided_by) if view.decided_by else "nobody"
    when = slack_time(view.decided_at)
    if view.state == ReviewState.APPROVED:
        posted = f" · posted by sync #{view.posted_run_id}" if view.posted_run_id else " · posting now"
        return f":white_check_mark: Approved by {who} at {when}{posted}"
    if view.state == ReviewState.SKIPPED:
        return f":no_entry_sign: Skipped by {who} at {when}: nothing was posted. The next sync asks again."
    if view.state == ReviewState.EXPIRED:
        return f":hourglass: Expired on {slack_date(view.decided_at)}: nothing was posted. The next sync asks again."
    return f"Waiting for approval until {slack_date(view.expires_at)}"


def review_buttons(view: ReviewView) -> dict[str, Any]:
    value = str(view.review_id)
    bills = counted(view.content.bills, "bill")
    confirm = {
        "title": {"type": "plain_text", "text": "Post to QuickBooks?"},
        "text": {
            "type": "mrkdwn",
            "text": f"Post {bills} ({money(view.content.usd_total, 'USD')}) to QuickBooks now?",
        },
        "confirm": {"type": "plain_text", "text": "Approve and post"},
        "deny": {"type": "plain_text", "text": "Not yet"},
    }
    return actions(
        [
            button("Approve and post", ReviewIds.APPROVE, value=value, style="primary", confirm=confirm),
            button("Review details", ReviewIds.DETAILS, value=value),
            button("Skip", ReviewIds.SKIP, value=value),
        ],
        block_id=f"review-{view.review_id}",
    )


def review_message(view: ReviewView) -> Message:
    """The finance channel's review message: what would be posted, and the buttons while it is pending."""
    pending = view.state == ReviewState.PENDING
    headline = f":raised_hand: *{review_title(view)}*"
    if pending:
        headline += "\nNothing is posted to QuickBooks until an admin approves it."
    blocks = [section(headline), *content_blocks(view.content, with_fixes=pending, connection_id=view.connection_id)]
    blocks.append(context(f"{_asked_by(view)} · {escape(review_state_label(view.state))}"))
    blocks.append(review_buttons(view) if pending else section(decision_text(view)))
    state = review_state_label(view.state)
    text = (
        f"{review_title(view)}: {counted(view.content.bills, 'bill')}, {money(view.content.usd_total, 'USD')} ({state})"
    )
    return Message(text=text, blocks=capped(blocks, MESSAGE_BLOCK_LIMIT))


def review_reminder_message(view: ReviewView) -> Message:
    """Day 6: the review expires tomorrow (a threaded reply, broadcast to the channel)."""
    text = (
        f":hourglass_flowing_sand: Review #{view.review_id} expires {slack_date(view.expires_at)}: "
        f"{counted(view.content.bills, 'bill')} ({money(view.content.usd_total, 'USD')}) wait for an admin's "
        "approval. Nothing is posted until then."
    )
    return Message(text=text, blocks=[section(text)])


# --- the details modal ------------------------------------------------------------------------------------------


def _option(invoice: ReviewInvoice) -> dict[str, Any]:
    """A checkbox for one invoice (plain text: Slack shows it as typed, no formatting or mentions)."""
    text = f"{invoice.invoice_number} · {invoice.worker_name}"
    amount = f"{invoice.amount:,.2f} {invoice.currency}"
    if invoice.amount_usd is not None and invoice.currency.upper() != "USD":
        amount += f" ({invoice.amount_usd:,.2f} USD)"
    return {
        "text": {"type": "plain_text", "text": truncate(text, OPTION_TEXT_LIMIT)},
        "description": {"type": "plain_text", "text": truncate(amount, OPTION_TEXT_LIMIT)},
        "value": invoice.invoice_id,
    }


def items_block_id(page: int, group: int) -> str:
    """Each page's checkbox groups have their own ids: Slack keeps an input's state across views with one id."""
    return f"{ReviewIds.ITEMS_BLOCK_PREFIX}{page}-{group}"


def review_details_view(found: ReviewPage) -> dict[str, Any]:
    """Every invoice of the review, a page at a time; while it is pending, checkboxes leave invoices out."""
    view = found.review
    pending = view.state == ReviewState.PENDING
    intro = (
        f"*{review_title(view)}*: {counted(view.content.bills, 'bill')} to post · {totals_text(view.content)}"
        f"\n{'Tick the invoices to leave out, then *Save*. ' if pending else ''}"
        "Left-out invoices are never posted unless included again."
    )
    if not pending:
        intro += f"\n{decision_text(view)}"
    blocks: list[dict[str, Any]] = [section(intro)]
    for group, start in enumerate(range(0, len(found.invoices), CHECKBOX_GROUP)):
        chunk = found.invoices[start : start + CHECKBOX_GROUP]
        if pending:
            options = [_option(invoice) for invoice in chunk]
            element: dict[str, Any] = {"type": "checkboxes", "action_id": ReviewIds.EXCLUDE, "options": options}
            chosen = [option for option, invoice in zip(options, chunk, strict=True) if invoice.excluded]
            if chosen:
                element["initial_options"] = chosen
            blocks.append(
                {
                    "type": "input",
                    "block_id": items_block_id(found.page, group),
                    "optional": True,
                    "label": {"type": "plain_text", "text": "Leave out"},
                    "element": element,
                }
            )
        else:
            lines = [f"{':no_entry_sign: ' if invoice.excluded else ''}{invoice_line(invoice)}" for invoice in chunk]
            blocks.append(section(truncate("\n".join(lines), SECTION_TEXT_LIMIT)))
    if found.pages > 1:
        paging = []
        if found.page > 0:
            paging.append(button("Previous", f"{ReviewIds.PAGE}-prev", value=str(found.page - 1)))
        if found.page < found.pages - 1:
            paging.append(button("Next", f"{ReviewIds.PAGE}-next", value=str(found.page + 1)))
        blocks.append(context(f"Page {found.page + 1} of {found.pages} · {counted(view.invoices, 'invoice')}"))
        blocks.append(actions(paging, block_id=f"review-paging-{found.page}"))
    metadata = json.dumps({"review_id": view.review_id, "page": found.page})
    return modal(
        "Review",
        blocks,
        callback_id=ReviewIds.DETAILS_CALLBACK,
        submit="Save" if pending else None,
        private_metadata=metadata,
    )


def read_exclusions(view: dict[str, Any], state: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The invoices a details page showed and those ticked to leave out; groups without state are left as they are
    (Slack sends the state of every input; a click that carries none must not include anything by accident)."""
    shown: list[str] = []
    excluded: list[str] = []
    for block in view.get("blocks") or []:
        block_id = str(block.get("block_id") or "")
        if not block_id.startswith(ReviewIds.ITEMS_BLOCK_PREFIX) or block_id not in state:
            continue
        options = (block.get("element") or {}).get("options") or []
        shown.extend(str(option.get("value")) for option in options)
        excluded.extend(str(value) for value in state.get(block_id) or [])
    return shown, excluded


def details_metadata(view: dict[str, Any]) -> tuple[int | None, int]:
    """(review id, page) from the details modal's private_metadata (only ever looked up within the workspace)."""
    loaded = metadata_of(view)
    review_id, page = loaded.get("review_id"), loaded.get("page", 0)
    return (review_id if isinstance(review_id, int) else None), (page if isinstance(page, int) else 0)


def exclusions_saved_text(view: ReviewView) -> str:
    left_out = view.content.excluded_count
    return (
        f":white_check_mark: Saved. {counted(left_out, 'invoice')} left out; "
        f"{counted(view.content.bills, 'bill')} ({money(view.content.usd_total, 'USD')}) will be posted when an "
        "admin approves the review."
    )


# --- the preview ----------------------------------------------------------------------------------------------


def preview_message(preview: SyncPreview) -> Message:
    """`/qbo sync preview`: the counts, then the same content a review shows, with a button that asks the channel
    for approval and one per excluded invoice that includes it again."""
    counts = sync_preview_message(preview)
    if preview.content is None:
        return counts
    content = preview.content
    blocks = [*counts.blocks, *content_blocks(content, with_fixes=False)]
    for invoice in content.excluded[:INCLUDE_BUTTONS]:
        blocks.append(
            section(
                f":no_entry_sign: {invoice_line(invoice)}",
                accessory=button(
                    "Include again", ReviewIds.INCLUDE, value=scoped(invoice.invoice_id, preview.connection_id)
                ),
            )
        )
    if content.bills:
        blocks.append(
            actions(
                [
                    button(
                        "Ask for approval in the channel",
                        ReviewIds.REQUEST,
                        value=scoped("preview", preview.connection_id),
                        style="primary",
                    )
                ],
                block_id="preview-actions",
            )
        )
    return Message(text=counts.text, blocks=capped(blocks, MESSAGE_BLOCK_LIMIT))


def review_requested_text(view: ReviewView, channel_id: str | None) -> str:
    where = f"<#{channel_id}>" if channel_id else "the finance channel"
    return (
        f":raised_hand: Review #{view.review_id} ({counted(view.content.bills, 'bill')}, "
        f"{money(view.content.usd_total, 'USD')}) is on its way to {where}. Nothing is posted until an admin approves."
    )
