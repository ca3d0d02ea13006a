"""Pure Block Kit builders for messages and the App Home: plain data in, dicts out, no I/O.

Every message carries top-level `text` (mobile notifications and screen readers use only that) and stays within
Slack's limits (../shared/reference/slack.md §4.1): long lists are cut with "and N more".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from handlers.ids import FixIds, HomeIds
from sync.api import (
    ConnectionStatusView,
    Fix,
    FixKind,
    InvoiceFailure,
    QboConnected,
    RunStatusName,
    RunSummary,
    SyncPreview,
    SyncRequest,
    WorkspaceSettings,
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
FAILURES_INLINE = 5  # failures listed in the channel message; the rest go to a thread
FIX_BUTTONS_LIMIT = 10

SUBCOMMANDS: dict[str, str] = {
    "help": "show this help",
    "connect": "connect QuickBooks Online and enter the Ontop API credentials",
    "vendors": "match Ontop workers to QuickBooks suppliers and create the missing ones",
    "map": "map each Ontop invoice concept to a QuickBooks expense account",
    "sync": "sync new Ontop invoices into QuickBooks now (`sync preview` shows what would be created)",
    "status": "connections, last and next run, unresolved failures",
    "settings": "finance channel, daily sync time and time zone, admins, auto-create suppliers",
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


def confirm_dialog(title: str, text: str, confirm: str, *, danger: bool = False) -> dict[str, Any]:
    dialog: dict[str, Any] = {
        "title": plain(title, 100),
        "text": mrkdwn(text, 300),
        "confirm": plain(confirm, 30),
        "deny": plain("Cancel", 30),
    }
    if danger:
        dialog["style"] = "danger"
    return dialog


def actions(elements: Sequence[dict[str, Any]], *, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "actions", "elements": list(elements[:ACTIONS_ELEMENT_LIMIT])}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def capped(blocks: list[dict[str, Any]], limit: int, *, reserved: int = 0) -> list[dict[str, Any]]:
    """At most `limit - reserved` blocks; when cut, the last one says how many were left out."""
    room = limit - reserved
    if len(blocks) <= room:
        return blocks
    kept = blocks[: room - 1]
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
    if amount is None:
        return "—"
    return f"{amount:,.2f} {currency or ''}".strip()


def slack_date(moment: datetime | None) -> str:
    """A date Slack shows in each reader's own time zone (with a UTC fallback for old clients)."""
    if moment is None:
        return "—"
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def user_mention(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id else "the schedule"


# --- command answers ----------------------------------------------------------------------------------------


def help_message(*, unknown: str | None = None, suggestion: str | None = None) -> Message:
    """The `/qbo help` answer; for an unknown subcommand it starts with what was not understood."""
    lines = [f"`/qbo {name}`: {purpose}" for name, purpose in SUBCOMMANDS.items()]
    blocks: list[dict[str, Any]] = []
    text = "QuickBooks sync commands"
    if unknown is not None:
        hint = f" Did you mean `/qbo {suggestion}`?" if suggestion else ""
        intro = f"I don't know `/qbo {truncate(unknown, 50)}`.{hint}"
        blocks.append(section(intro))
        text = intro
    blocks.append(section("*QuickBooks sync commands*\n" + "\n".join(lines)))
    blocks.append(context("Admin-only: connect, vendors, map, sync, settings, disconnect."))
    return Message(text=text, blocks=blocks)


def refusal_message(action: str) -> Message:
    text = (
        f"Sorry, only workspace admins or the people on this app's admin list can {action}. "
        "Ask an admin to add you in `/qbo settings`."
    )
    return Message(text=text, blocks=[section(f":lock: {text}")])


def error_message(message: str) -> Message:
    return Message(text=message, blocks=[section(f":warning: {message}")])


def info_message(message: str) -> Message:
    return Message(text=message, blocks=[section(message)])


def not_connected_message() -> Message:
    text = "QuickBooks is not connected yet. An admin can run `/qbo connect`."
    return Message(text=text, blocks=[section(text)])


def sync_queued_message(request: SyncRequest) -> Message:
    if request.joined_existing:
        text = f"A sync is already {request.status.value} (run #{request.run_id}); your request joined it."
    else:
        text = f"Sync #{request.run_id} queued. Progress and the result will appear in the finance channel."
    return Message(text=text, blocks=[section(f":arrows_counterclockwise: {text}")])


def sync_preview_message(preview: SyncPreview) -> Message:
    text = f"Sync preview: {preview.eligible} bill(s) would be created."
    lines = [
        f"*{preview.eligible}* invoice(s) would become bills",
        f"*{preview.already_synced}* already in QuickBooks",
        f"*{preview.not_final}* not final yet (skipped until paid or approved)",
    ]
    if preview.blocked_no_vendor:
        lines.append(f"*{preview.blocked_no_vendor}* blocked: worker is not a supplier yet (`/qbo vendors`)")
    unmapped = [f"{concept} ({count})" for concept, count in sorted(preview.blocked_unmapped.items())]
    if unmapped:
        lines.append("*Blocked by unmapped concepts* (`/qbo map`): " + ", ".join(unmapped))
    return Message(text=text, blocks=[header("Sync preview"), section("\n".join(lines))])


def status_message(status: ConnectionStatusView | None) -> Message:
    """`/qbo status`: connection, counts, last and next run, what needs fixing."""
    if status is None:
        return not_connected_message()
    text = f"QuickBooks: {status.company_name} ({status.status})"
    return Message(text=text, blocks=status_blocks(status))


def status_blocks(status: ConnectionStatusView) -> list[dict[str, Any]]:
    state_icon = {"active": ":large_green_circle:", "needs_reauth": ":red_circle:"}.get(status.status, ":white_circle:")
    blocks: list[dict[str, Any]] = [
        section(f"{state_icon} *QuickBooks:* {status.company_name} · realm {status.realm_id} · `{status.status}`"),
        fields_section(
            [
                ("Ontop", "connected" if status.ontop_connected else "not connected"),
                ("Home currency", status.home_currency + (" (multicurrency)" if status.multicurrency_enabled else "")),
                ("Mapped concepts", f"{status.mapped_concepts}"),
                ("Suppliers linked", f"{status.vendors_linked}"),
                ("Bills created", f"{status.bills_created_total}"),
                ("Unresolved failures", f"{status.failed_invoices}"),
                ("Last run", last_run_text(status.last_run)),
                ("Next daily run", slack_date(status.next_daily_run_at)),
            ]
        ),
    ]
    if status.unmapped_concepts:
        blocks.append(section("*Unmapped concepts:* " + ", ".join(status.unmapped_concepts)))
    if status.active_run is not None:
        active = status.active_run
        blocks.append(context(f":hourglass_flowing_sand: Run #{active.run_id} is {active.status.value}"))
    channel = status.settings.finance_channel_id
    blocks.append(
        context(
            f"Finance channel: {f'<#{channel}>' if channel else 'not set'}",
            f"Daily at {status.settings.sync_hour:02d}:00 {status.settings.timezone}",
        )
    )
    return blocks


def last_run_text(run: RunSummary | None) -> str:
    if run is None:
        return "never"
    when = slack_date(run.finished_at or run.queued_at)
    return f"#{run.run_id} {run.status.value}, {run.bills_created} created, {run.failed} failed · {when}"


# --- notifications ------------------------------------------------------------------------------------------


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


def run_progress_message(run_id: int, done: int, total: int, *, requested_by: str | None = None) -> Message:
    percent = 0 if total <= 0 else round(100 * done / total)
    text = f"QuickBooks sync #{run_id}: {done}/{total} invoices ({percent}%)"
    bar = progress_bar(done, total)
    return Message(
        text=text,
        blocks=[
            section(f":arrows_counterclockwise: *Sync #{run_id}* {bar} {done}/{total} ({percent}%)"),
            context(f"Requested by {user_mention(requested_by)}"),
        ],
    )


STATUS_ICONS = {
    RunStatusName.SUCCEEDED: ":white_check_mark:",
    RunStatusName.PARTIAL: ":warning:",
    RunStatusName.FAILED: ":x:",
    RunStatusName.CANCELLED: ":no_entry_sign:",
}


def _duration(summary: RunSummary) -> str:
    if summary.started_at is None or summary.finished_at is None:
        return ""
    seconds = int((summary.finished_at - summary.started_at).total_seconds())
    minutes, seconds = divmod(seconds, 60)
    return f" in {minutes}m {seconds:02d}s" if minutes else f" in {seconds}s"


def failure_line(failure: InvoiceFailure) -> str:
    return (
        f"*{failure.invoice_number}* · {failure.worker_name} · {money(failure.amount, failure.currency)}: "
        f"{failure.reason}"
    )


def fix_button(fix: Fix) -> dict[str, Any]:
    """The button for one way of fixing failures: the value is the concept/agreement/invoice within this team."""
    action_id = {
        FixKind.MAP_CONCEPT: FixIds.MAP,
        FixKind.CREATE_VENDOR: FixIds.CREATE_VENDOR,
        FixKind.RECONNECT: FixIds.RECONNECT,
        FixKind.RETRY: FixIds.RETRY,
    }[fix.kind]
    style = "primary" if fix.kind in (FixKind.MAP_CONCEPT, FixKind.RECONNECT) else None
    return button(fix.label, action_id, value=fix.value, style=style)


def fix_accessory(failure: InvoiceFailure) -> dict[str, Any] | None:
    fix = failure.fix
    return fix_button(fix) if fix is not None and fix.kind is not FixKind.CONTACT_SUPPORT else None


def distinct_fixes(failures: Iterable[InvoiceFailure]) -> list[Fix]:
    """One fix per (kind, value), in the order failures mention them; support cases have no button."""
    seen: set[tuple[FixKind, str]] = set()
    fixes: list[Fix] = []
    for failure in failures:
        fix = failure.fix
        if fix is None or fix.kind is FixKind.CONTACT_SUPPORT or (fix.kind, fix.value) in seen:
            continue
        seen.add((fix.kind, fix.value))
        fixes.append(fix)
    return fixes


def run_summary_message(summary: RunSummary) -> Message:
    """The finance-channel summary: counts, duration, failures grouped by cause and a button per fix."""
    icon = STATUS_ICONS.get(summary.status, ":information_source:")
    title = f"QuickBooks sync #{summary.run_id} {summary.status.value}{_duration(summary)}"
    counts = (
        f"{summary.bills_created} bill(s) created, {summary.already_synced} already synced, "
        f"{summary.skipped} skipped, {summary.failed} failed"
    )
    if summary.vendors_created:
        counts += f", {summary.vendors_created} supplier(s) created"
    blocks: list[dict[str, Any]] = [
        section(f"{icon} *{title}*\n{counts}"),
    ]
    if summary.error_summary:
        blocks.append(section(f":warning: {summary.error_summary}"))
    groups = group_failures(summary.failures)
    for reason, failures in list(groups.items())[:FAILURES_INLINE]:
        lines = [failure_line(f) for f in failures[:3]]
        more = f"\n…and {len(failures) - 3} more" if len(failures) > 3 else ""
        blocks.append(section(f"*{reason}* ({len(failures)})\n" + "\n".join(lines) + more))
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


# --- App Home -----------------------------------------------------------------------------------------------


def home_view(status: ConnectionStatusView | None, settings: WorkspaceSettings | None) -> dict[str, Any]:
    """The App Home dashboard: status, last run, failures to fix, and the /qbo actions as buttons."""
    blocks: list[dict[str, Any]] = [header("QuickBooks sync")]
    if status is None:
        blocks.append(section("QuickBooks is not connected yet."))
        blocks.append(actions([button("Connect", HomeIds.CONNECT, style="primary")], block_id="home-actions"))
    else:
        blocks.extend(status_blocks(status))
        run = status.last_run
        if run is not None and run.failures:
            blocks.append(divider())
            blocks.append(section(f"*Failures to fix* ({len(run.failures)})"))
            for failure in run.failures[:10]:
                blocks.append(section(failure_line(failure), accessory=fix_accessory(failure)))
            if len(run.failures) > 10:
                blocks.append(context(f"…and {len(run.failures) - 10} more"))
        blocks.append(divider())
        blocks.append(
            actions(
                [
                    button("Sync now", HomeIds.SYNC, style="primary"),
                    button("Map accounts", HomeIds.MAP),
                    button("Suppliers", HomeIds.VENDORS),
                    button("Settings", HomeIds.SETTINGS),
                    button("Reconnect" if status.status == "needs_reauth" else "Connect", HomeIds.CONNECT),
                    button("Disconnect", HomeIds.DISCONNECT, style="danger"),
                ],
                block_id="home-actions",
            )
        )
    if settings is not None and status is None:
        blocks.append(context(f"Daily sync at {settings.sync_hour:02d}:00 {settings.timezone}"))
    return {"type": "home", "callback_id": "home-dashboard", "blocks": capped(blocks, VIEW_BLOCK_LIMIT)}
