"""Pure Block Kit builders for messages and the App Home: plain data in, dicts out, no I/O.

Every message carries top-level `text` (mobile notifications and screen readers use only that) and stays within
Slack's limits (../shared/reference/slack.md §4.1): long lists are cut with "and N more". Text that came from
Ontop, QuickBooks or a person goes through `escape` before it enters mrkdwn (top-level text included: it is
mrkdwn too, and notifications read it), so a worker called `<!channel>` pings nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from handlers.labels import concept_label, connection_status_label, counted, run_status_label
from sync import messages
from sync.api import (
    ConnectionStatusView,
    ReconcileReport,
    RunSummary,
    SyncPreview,
    SyncRequest,
)

MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
SECTION_TEXT_LIMIT = 3000
HEADER_TEXT_LIMIT = 150
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
ACTIONS_ELEMENT_LIMIT = 25
CONTEXT_ELEMENT_LIMIT = 10
MESSAGE_TEXT_LIMIT = 3900  # chat.update refuses more than 4000

SUBCOMMANDS: dict[str, str] = {
    "help": "show this help",
    "connect": "connect QuickBooks Online and enter the Ontop API credentials",
    "vendors": "match Ontop workers to QuickBooks suppliers and create the missing ones",
    "map": "map each Ontop invoice concept to a QuickBooks expense account",
    "sync": "sync new Ontop invoices into QuickBooks now (`sync preview` shows what would be created)",
    "status": "connections, last and next run, unresolved failures",
    "history": "the last 20 syncs: who started them, what they booked, how long they took",
    "run": "one sync's invoices by outcome, with links to the bills and a CSV (`run 12`)",
    "reconcile": "compare Ontop's paid invoices with QuickBooks' bills (`reconcile 2026-01-01 2026-02-01`)",
    "settings": "finance channel, daily sync time and time zone, admins, auto-create suppliers",
    "tracking": "a QuickBooks class per concept, a class and a location per worker",
    "disconnect": "revoke QuickBooks access and forget the mapping (history is kept)",
}


@dataclass(frozen=True)
class Message:
    """A message ready for chat.postMessage / chat.update / respond: top-level text plus blocks."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": truncate(self.text, MESSAGE_TEXT_LIMIT), "blocks": self.blocks}


# --- primitives ---------------------------------------------------------------------------------------------


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Text from Ontop, QuickBooks or a person, made inert in mrkdwn: no links, mentions or broken formatting.

    Slack asks for exactly these three characters to be escaped; *, _ and ~ only format when they pair up around
    a word, so a stray one shows as itself.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str, limit: int = SECTION_TEXT_LIMIT) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit), "emoji": True}


def mrkdwn(text: str, limit: int = SECTION_TEXT_LIMIT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": truncate(text, limit)}


def section(text: str, *, accessory: dict[str, Any] | None = None, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": mrkdwn(text)}
    if accessory is not None:
        block["accessory"] = accessory
    if block_id is not None:
        block["block_id"] = block_id
    return block


def fields_section(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A two-column grid; Slack allows 10 fields of 2000 characters."""
    return {"type": "section", "fields": [mrkdwn(f"*{label}*\n{value}", 2000) for label, value in pairs[:10]]}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain(text, HEADER_TEXT_LIMIT)}


def context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(t, 2000) for t in texts[:CONTEXT_ELEMENT_LIMIT]]}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def button(
    text: str,
    action_id: str,
    *,
    value: str | None = None,
    style: str | None = None,
    url: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "text": plain(text, BUTTON_TEXT_LIMIT), "action_id": action_id}
    if value is not None:
        element["value"] = value[:BUTTON_VALUE_LIMIT]
    if style is not None:
        element["style"] = style
    if url is not None:
        element["url"] = url
    if confirm is not None:
        element["confirm"] = confirm
    return element


def actions(elements: Sequence[dict[str, Any]], *, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "actions", "elements": list(elements[:ACTIONS_ELEMENT_LIMIT])}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def capped(blocks: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """At most `limit` blocks; when cut, the last one says how many were left out."""
    if len(blocks) <= limit:
        return blocks
    kept = blocks[: limit - 1]
    return [*kept, context(f"_…and {len(blocks) - len(kept)} more_")]


def bullet_list(items: Sequence[str], *, limit: int = SECTION_TEXT_LIMIT) -> str:
    """Items as mrkdwn bullets, cut with "and N more" so the section stays under `limit` characters."""
    lines: list[str] = []
    used = 0
    for index, item in enumerate(items):
        line = f"• {item}"
        remaining = len(items) - index
        tail = f"\n…and {remaining} more"
        if used + len(line) + 1 + len(tail) > limit:
            lines.append(f"…and {remaining} more")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def money(amount: Decimal | None, currency: str | None) -> str:
    """ "1,234.50 USD"; the currency code comes from Ontop, so it is escaped like any other of its text."""
    if amount is None:
        return "—"
    return escape(f"{amount:,.2f} {currency or ''}".strip())


def money_charged(amount: Decimal | None, currency: str | None, amount_usd: Decimal | None) -> str:
    """The invoice's amount, plus the USD Ontop charged when the invoice is in another currency:
    "13,750.00 BRL (2,682.93 USD)"."""
    shown = money(amount, currency)
    if amount_usd is None or amount is None or (currency or "").upper() == "USD":
        return shown
    return f"{shown} ({money(amount_usd, 'USD')})"


def slack_date(moment: datetime | None) -> str:
    """A date Slack shows in each reader's own time zone (with a UTC fallback for old clients)."""
    if moment is None:
        return "—"
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def user_mention(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id else "the schedule"


# --- command answers ----------------------------------------------------------------------------------------


def help_message(
    *, unknown: str | None = None, suggestion: str | None = None, admin_only: Sequence[str] = ()
) -> Message:
    """The `/qbo help` answer; for an unknown subcommand it starts with what was not understood."""
    lines = [f"`/qbo {name}`: {purpose}" for name, purpose in SUBCOMMANDS.items()]
    blocks: list[dict[str, Any]] = []
    text = "QuickBooks sync commands"
    if unknown is not None:
        hint = f" Did you mean `/qbo {suggestion}`?" if suggestion else ""
        intro = f"I don't know `/qbo {escape(truncate(unknown, 50))}`.{hint}"
        blocks.append(section(intro))
        text = intro
    blocks.append(section("*QuickBooks sync commands*\n" + "\n".join(lines)))
    if admin_only:
        blocks.append(context(f"Admin-only: {', '.join(admin_only)}."))
    return Message(text=text, blocks=blocks)


def refusal_message(action: str) -> Message:
    text = (
        f"Sorry, only workspace admins or the people on this app's admin list can {action}. "
        "Ask an admin to add you in `/qbo settings`."
    )
    return Message(text=text, blocks=[section(f":lock: {text}")])


def error_message(message: str) -> Message:
    """A problem the person can act on (a ServiceError's message or ours): escaped, since the service's messages
    may quote a company name or what the person typed."""
    message = escape(message)
    return Message(text=message, blocks=[section(f":warning: {message}")])


def info_message(message: str) -> Message:
    """Our own mrkdwn (mentions, bold): the caller escapes anything it interpolates."""
    return Message(text=message, blocks=[section(message)])


def not_connected_message() -> Message:
    return Message(text=messages.QBO_NOT_CONNECTED, blocks=[section(messages.QBO_NOT_CONNECTED)])


def sync_queued_message(request: SyncRequest) -> Message:
    if request.joined_existing:
        text = f"A sync is already {run_status_label(request.status)} (sync #{request.run_id}); your request joined it."
    else:
        text = f"Sync #{request.run_id} queued. Progress and the result will appear in the finance channel."
    return Message(text=text, blocks=[section(f":arrows_counterclockwise: {text}")])


def sync_preview_message(preview: SyncPreview) -> Message:
    """`/qbo sync preview`: what the next sync would book, and what holds the rest back, in plain words."""
    text = f"Sync preview: {counted(preview.eligible, 'bill')} would be booked."
    lines = [
        f"*{counted(preview.eligible, 'invoice')}* would become bills",
        f"*{preview.already_synced:,}* already in QuickBooks",
    ]
    if preview.not_final:
        lines.append(f"*{preview.not_final:,}* waiting for payment in Ontop (booked once paid)")
    if preview.vendors_to_create or preview.vendors_to_link:
        lines.append(
            f"*{counted(preview.vendors_to_create, 'supplier')}* would be created, "
            f"*{preview.vendors_to_link:,}* linked to existing ones"
        )
    if preview.blocked_no_vendor:
        lines.append(
            f"*{counted(preview.blocked_no_vendor, 'invoice')}* held back: the worker is not a supplier yet "
            "(`/qbo vendors`)"
        )
    unmapped = [
        f"{escape(concept_label(concept))} ({count:,})" for concept, count in sorted(preview.blocked_unmapped.items())
    ]
    if unmapped:
        lines.append("*Held back by concepts not mapped to an account* (`/qbo map`): " + ", ".join(unmapped))
    if preview.blocked_other:
        lines.append(
            f"*{counted(preview.blocked_other, 'invoice')}* held back by a supplier or currency problem "
            "(the sync lists each one)"
        )
    if preview.review:
        lines.append(f"*{counted(preview.review, 'invoice')}* changed in Ontop after its bill was made: to review")
    return Message(text=text, blocks=[header("Sync preview"), section(truncate("\n".join(lines), SECTION_TEXT_LIMIT))])


def reconcile_message(report: ReconcileReport, listed: int = 15) -> Message:
    """`/qbo reconcile`: what is missing, duplicated or different between Ontop and QuickBooks."""
    period = f"{report.since:%Y-%m-%d} to {report.until:%Y-%m-%d}"
    if report.clean:
        text = (
            f"Reconciled {period}: all {report.paid_invoices:,} paid Ontop invoices have exactly one matching bill, "
            "paid once, at what Ontop charged."
        )
        return Message(text=text, blocks=[section(f":white_check_mark: {text}")])
    text = (
        f"Reconciled {period}: {len(report.missing):,} missing, {len(report.duplicated):,} duplicated, "
        f"{len(report.different):,} different, {len(report.open_bills):,} open, "
        f"{len(report.paid_twice):,} paid twice, of {counted(report.paid_invoices, 'paid Ontop invoice')}."
    )
    lines = [f":mag: *{text}*"]
    if report.missing:
        lines.append(
            f"*No bill in QuickBooks:* {_listed(report.missing, listed)} (run `/qbo sync` or see the failures)"
        )
    if report.duplicated:
        lines.append(f"*More than one bill:* {_listed(report.duplicated, listed)}")
    if report.open_bills:
        lines.append(
            f"*Paid in Ontop, still open in QuickBooks:* {_listed(report.open_bills, listed)} "
            "(the next sync pays them, unless payments are off)"
        )
    if report.paid_twice:
        lines.append(f"*Paid more than once:* {_listed(report.paid_twice, listed)} (delete the extra payment)")
    for difference in report.different[:listed]:
        lines.append(
            f"*{escape(difference.invoice_number)}*: expected {escape(difference.expected)}, "
            f"found {escape(difference.found)}"
        )
    if len(report.different) > listed:
        lines.append(f"…and {len(report.different) - listed:,} more differences")
    return Message(text=text, blocks=[section(truncate("\n".join(lines), SECTION_TEXT_LIMIT))])


def _listed(items: list[str], limit: int) -> str:
    shown = ", ".join(escape(item) for item in items[:limit])
    return shown + (f" and {len(items) - limit:,} more" if len(items) > limit else "")


def status_message(status: ConnectionStatusView | None) -> Message:
    """`/qbo status`: connection, counts, last and next run, what needs fixing."""
    if status is None:
        return not_connected_message()
    text = f"QuickBooks: {escape(status.company_name)} ({connection_status_label(status.status)})"
    return Message(text=text, blocks=status_blocks(status))


CONNECTION_ICONS = {"active": ":large_green_circle:", "needs_reauth": ":red_circle:"}


def status_blocks(status: ConnectionStatusView) -> list[dict[str, Any]]:
    """The connection in plain words (no realm id, no internal state codes), for `/qbo status` and App Home."""
    state_icon = CONNECTION_ICONS.get(status.status, ":white_circle:")
    state = connection_status_label(status.status)
    blocks: list[dict[str, Any]] = [
        section(f"{state_icon} *QuickBooks:* {escape(status.company_name)} · {state}"),
        fields_section(
            [
                ("Ontop", "connected" if status.ontop_connected else "not connected"),
                (
                    "Home currency",
                    escape(status.home_currency) + (" (multicurrency)" if status.multicurrency_enabled else ""),
                ),
                ("Mapped concepts", f"{status.mapped_concepts:,}"),
                ("Suppliers linked", f"{status.vendors_linked:,}"),
                ("Bills booked", f"{status.bills_created_total:,}"),
                ("Invoices to fix", f"{status.failed_invoices:,}"),
                ("Last sync", last_run_text(status.last_run)),
                ("Next daily sync", slack_date(status.next_daily_run_at)),
            ]
        ),
    ]
    if status.unmapped_concepts:
        unmapped = ", ".join(escape(concept_label(concept)) for concept in status.unmapped_concepts)
        blocks.append(section(truncate(f"*Concepts not mapped yet* (`/qbo map`): {unmapped}", SECTION_TEXT_LIMIT)))
    if status.active_run is not None:
        active = status.active_run
        blocks.append(context(f":hourglass_flowing_sand: Sync #{active.run_id} is {run_status_label(active.status)}"))
    channel = status.settings.finance_channel_id
    blocks.append(
        context(
            f"Finance channel: {f'<#{channel}>' if channel else 'not set'}",
            f"Daily at {status.settings.sync_hour:02d}:00 {escape(status.settings.timezone)}",
        )
    )
    return blocks


def last_run_text(run: RunSummary | None) -> str:
    if run is None:
        return "never"
    when = slack_date(run.finished_at or run.queued_at)
    outcome = f"{counted(run.bills_created, 'bill')} booked"
    if run.failed:
        outcome += f", {run.failed:,} {'needs' if run.failed == 1 else 'need'} a fix"
    return f"#{run.run_id} {run_status_label(run.status)}: {outcome} · {when}"
