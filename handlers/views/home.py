"""The App Home dashboard (pure builder): status, last run, failures to fix, and the /qbo actions as buttons."""

from __future__ import annotations

from typing import Any

from handlers.blocks import VIEW_BLOCK_LIMIT, actions, button, capped, context, divider, header, section, status_blocks
from handlers.ids import HomeIds
from handlers.run_messages import failure_line, fix_accessory
from sync.api import ConnectionStatusView, WorkspaceSettings


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
