"""The App Home dashboard (pure builder): status, last run, failures to fix, and the /qbo actions as buttons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from handlers.blocks import (
    VIEW_BLOCK_LIMIT,
    actions,
    button,
    capped,
    context,
    divider,
    escape,
    header,
    section,
    status_blocks,
    truncate,
)
from handlers.deps import scoped
from handlers.ids import HomeIds
from handlers.run_messages import cause_text, causes, fix_button, fix_rows, summary_fixes
from handlers.views.runs import history_blocks
from sync.api import ConnectionStatusView, WorkspaceSettings

HOME_CAUSES = 8  # causes listed; the rest are counted
HOME_FIX_BUTTONS = 10
HOME_REVIEWS = 5


def _open_failures(status: ConnectionStatusView) -> list[dict[str, Any]]:
    """Every run's unresolved failures, by cause, each fix once (however old the run that found it)."""
    groups = list(status.open_failures)
    if not groups:
        return []
    total = sum(group.count for group in groups)
    blocks: list[dict[str, Any]] = [divider(), section(f"*Failures to fix* ({total:,})")]
    found = causes(groups)
    for cause in found[:HOME_CAUSES]:
        text, _ = cause_text(cause)
        blocks.append(section(text))
    if len(found) > HOME_CAUSES:
        blocks.append(context(f"…and {len(found) - HOME_CAUSES} more causes"))
    buttons = [fix_button(fix, target.name) for fix, target in summary_fixes(groups)[:HOME_FIX_BUTTONS]]
    if buttons:
        blocks.extend(fix_rows(buttons, block_id="home-fixes"))
    return blocks


def _open_reviews(status: ConnectionStatusView) -> list[dict[str, Any]]:
    reviews = status.open_reviews
    if not reviews:
        return []
    lines = [
        f"• {escape(case.invoice_number)} ({escape(case.worker_name)}): {escape(case.reason)}"
        for case in reviews[:HOME_REVIEWS]
    ]
    if len(reviews) > HOME_REVIEWS:
        lines.append(f"…and {len(reviews) - HOME_REVIEWS} more")
    return [divider(), section(f"*To review* ({len(reviews)})\n" + "\n".join(lines))]


NEW_CONNECTION = "new"  # the Connect button's value that adds another company


def _connection_blocks(status: ConnectionStatusView, *, several: bool) -> list[dict[str, Any]]:
    """One connection: its status, failures, reviews and latest runs, and its buttons (each carrying it)."""
    blocks: list[dict[str, Any]] = []
    if several:
        blocks.extend([divider(), header(truncate(f"{status.company_name or status.name} · {status.name}", 150))])
    blocks.extend(status_blocks(status))
    if status.notifications_problem:
        blocks.append(section(f":warning: {escape(status.notifications_problem)}"))
    blocks.extend(_open_failures(status))
    blocks.extend(_open_reviews(status))
    if status.recent_runs:
        blocks.extend([divider(), section("*Recent syncs* (`/qbo history` lists more)")])
        blocks.extend(history_blocks(status.recent_runs[: 2 if several else None]))
    if not several:
        blocks.append(divider())
    value = scoped("home", status.connection_id)
    blocks.append(
        actions(
            [
                button("Sync now", HomeIds.SYNC, value=value, style="primary"),
                button("Map accounts", HomeIds.MAP, value=value),
                button("Suppliers", HomeIds.VENDORS, value=value),
                button("Settings", HomeIds.SETTINGS, value=value),
                button("Reconnect" if status.status == "needs_reauth" else "Connect", HomeIds.CONNECT, value=value),
                button("Disconnect", HomeIds.DISCONNECT, value=value, style="danger"),
            ],
            block_id=f"home-actions-{status.connection_id}",
        )
    )
    return blocks


def home_view(statuses: Sequence[ConnectionStatusView], settings: WorkspaceSettings | None) -> dict[str, Any]:
    """The App Home dashboard: each connected company's status, last runs, failures to fix, and its actions as
    buttons; then a button to connect another company."""
    blocks: list[dict[str, Any]] = [header("QuickBooks sync")]
    if not statuses:
        blocks.append(section("QuickBooks is not connected yet."))
        blocks.append(actions([button("Connect", HomeIds.CONNECT, style="primary")], block_id="home-actions"))
    several = len(statuses) > 1
    # The companies share the view's 100 blocks: each gets its part, its buttons last so they are never cut off.
    share = max(8, (VIEW_BLOCK_LIMIT - 4) // max(1, len(statuses)))
    for status in statuses:
        part = _connection_blocks(status, several=several)
        blocks.extend(part if len(part) <= share else [*part[: share - 1], part[-1]])
    if statuses:
        blocks.append(
            context(
                "Another QuickBooks company? `/qbo connect new`, or the button: each gets a short name to use "
                "in commands, like `/qbo sync acme-us`."
            )
        )
        blocks.append(
            actions([button("Connect another company", HomeIds.CONNECT, value=NEW_CONNECTION)], block_id="home-new")
        )
    if settings is not None and not statuses:
        blocks.append(context(f"Daily sync at {settings.sync_hour:02d}:00 {settings.timezone}"))
    return {"type": "home", "callback_id": "home-dashboard", "blocks": capped(blocks, VIEW_BLOCK_LIMIT)}
