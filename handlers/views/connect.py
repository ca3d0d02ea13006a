"""The connect modal: links to the bot's own pages for QuickBooks consent and the Ontop login, and where each stands.

Nothing secret is typed into Slack: the Ontop password goes into the bot's page in the browser (bot/pages.py).
Each link carries a single-use state that expires in 10 minutes; pressing *Check* shows what is connected now, with
fresh links.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.blocks import button, context, escape, section
from handlers.ids import ConnectIds
from handlers.views.common import modal


@dataclass(frozen=True)
class ConnectProgress:
    """What is connected so far (from the service's status)."""

    company_name: str = ""  # the QuickBooks company, "" when QuickBooks is not connected (or must be reconnected)
    ontop_connected: bool = False
    name: str = ""  # the connection's short name in commands


def connect_view(
    qbo_url: str, ontop_url: str, progress: ConnectProgress | None = None, *, note: str | None = None
) -> dict[str, Any]:
    """Step 1 QuickBooks (the bot's /qbo/start page), step 2 Ontop (the bot's login page); *Check* re-reads both.

    Args:
        note: said at the top, e.g. what is still missing after *Check* (mrkdwn: the caller escapes).
    """
    progress = progress or ConnectProgress()
    blocks: list[dict[str, Any]] = [section(note)] if note else []
    if progress.company_name:
        qbo_text = f"*1. QuickBooks Online* :white_check_mark:\nConnected to *{escape(progress.company_name)}*."
        if progress.name:
            qbo_text += f" In commands: `{escape(progress.name)}`."
        qbo_label = "Reconnect QuickBooks"
    else:
        qbo_text = "*1. QuickBooks Online*\nSign in to Intuit and pick the company to sync into."
        qbo_label = "Connect QuickBooks"
    blocks.append(section(qbo_text, accessory=button(qbo_label, ConnectIds.QBO_BUTTON, url=qbo_url, style="primary")))
    if progress.ontop_connected:
        ontop_text = "*2. Ontop* :white_check_mark:\nConnected: I logged in with the saved login."
        ontop_label = "Change Ontop login"
    else:
        ontop_text = (
            "*2. Ontop*\nThe login of an Ontop admin, typed on this bot's own secure page (never into Slack). "
            "I check it by logging in and store it encrypted."
        )
        ontop_label = "Enter Ontop login"
    blocks.append(section(ontop_text, accessory=button(ontop_label, ConnectIds.ONTOP_BUTTON, url=ontop_url)))
    blocks.append(
        context(
            "Each button works once, for 10 minutes, in your browser. Done in the browser? Press *Check*.",
            "Another QuickBooks company for this workspace? `/qbo connect new`.",
        )
    )
    return modal("Connect", blocks, callback_id=ConnectIds.CALLBACK, submit="Check")


def connect_done_text(company_name: str) -> str:
    """Both parts connected: what the person does next (mrkdwn, escaped)."""
    return (
        f":white_check_mark: QuickBooks (*{escape(company_name)}*) and Ontop are connected. "
        "Next: `/qbo vendors`, then `/qbo map`; the first sync starts once accounts are mapped."
    )
