"""The App Home dashboard (pure builder): status, last run, failures to fix, and the /qbo actions as buttons."""

from __future__ import annotations

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
)
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


def home_view(status: ConnectionStatusView | None, settings: WorkspaceSettings | None) -> dict[str, Any]:
    """The App Home dashboard: status, last run, failures to fix, and the /qbo actions as buttons."""
    blocks: list[dict[str, Any]] = [header("QuickBooks sync")]
    if status is None:
        blocks.append(section("QuickBooks is not connected yet."))
        blocks.append(actions([button("Connect", HomeIds.CONNECT, style="primary")], block_id="home-actions"))
    else:
        blocks.extend(status_blocks(status))
        if status.notifications_problem:
            blocks.append(section(f":warning: {escape(status.notifications_problem)}"))
        blocks.extend(_open_failures(status))
        blocks.extend(_open_reviews(status))
        if status.recent_runs:
            blocks.extend([divider(), section("*Recent syncs* (`/qbo history` lists more)")])
            blocks.extend(history_blocks(status.recent_runs))
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
