"""The disconnect confirmation modal."""

from __future__ import annotations

from typing import Any

from handlers.blocks import escape, section
from handlers.ids import DisconnectIds
from handlers.views.common import modal


def disconnect_view(company_name: str | None) -> dict[str, Any]:
    company = f"*{escape(company_name)}*" if company_name else "QuickBooks"
    text = (
        f":warning: Disconnect {company}?\n"
        "• QuickBooks access is revoked and scheduled syncs stop\n"
        "• the account mapping is deleted\n"
        "• the sync history is kept; nothing in QuickBooks is changed or deleted"
    )
    return modal("Disconnect", [section(text)], callback_id=DisconnectIds.CALLBACK, submit="Disconnect")


def disconnected_text(company_name: str | None) -> str:
    """The confirmation, in the modal and the finance channel: which company (with several, it matters)."""
    company = f"QuickBooks company *{escape(company_name)}*" if company_name else "QuickBooks"
    return f"{company} disconnected. The mapping is deleted; the sync history is kept."
