"""The connect modal: a button to Intuit's consent page and the Ontop API credentials form."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from handlers.blocks import button, context, section
from handlers.ids import ConnectIds
from handlers.views.common import field_error, modal


def connect_view(
    consent_url: str,
    *,
    email: str = "",
    errors: dict[str, str] | None = None,
    backfill_from: date | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Step 1 QuickBooks (a link, the callback finishes it), step 2 Ontop credentials (checked on submit).

    Args:
        errors: input block id -> message, for errors known only after the ack (shown under the field).
    """
    errors = errors or {}
    email_element: dict[str, Any] = {
        "type": "email_text_input",
        "action_id": ConnectIds.EMAIL,
        "placeholder": {"type": "plain_text", "text": "finance@example.com"},
    }
    if email:
        email_element["initial_value"] = email
    blocks: list[dict[str, Any]] = [
        section(
            "*1. QuickBooks Online*\nSign in to Intuit and pick the company to sync into.",
            accessory=button("Connect QuickBooks", ConnectIds.QBO_BUTTON, url=consent_url, style="primary"),
        ),
        section("*2. Ontop*\nThe API user's email and password. I check them by logging in."),
        {
            "type": "input",
            "block_id": ConnectIds.EMAIL_BLOCK,
            "label": {"type": "plain_text", "text": "Ontop email"},
            "element": email_element,
        },
    ]
    if ConnectIds.EMAIL_BLOCK in errors:
        blocks.append(field_error(errors[ConnectIds.EMAIL_BLOCK]))
    blocks.append(
        {
            "type": "input",
            "block_id": ConnectIds.PASSWORD_BLOCK,
            "label": {"type": "plain_text", "text": "Ontop password"},
            "element": {"type": "plain_text_input", "action_id": ConnectIds.PASSWORD},
        }
    )
    if ConnectIds.PASSWORD_BLOCK in errors:
        blocks.append(field_error(errors[ConnectIds.PASSWORD_BLOCK]))
    first_day = backfill_from or (today or datetime.now(UTC).date()).replace(day=1)
    blocks.append(
        {
            "type": "input",
            "block_id": ConnectIds.BACKFILL_BLOCK,
            "label": {"type": "plain_text", "text": "Sync invoices from"},
            "hint": {
                "type": "plain_text",
                "text": "The first sync books Ontop invoices paid or changed since this day.",
            },
            "element": {"type": "datepicker", "action_id": ConnectIds.BACKFILL, "initial_date": first_day.isoformat()},
        }
    )
    if ConnectIds.BACKFILL_BLOCK in errors:
        blocks.append(field_error(errors[ConnectIds.BACKFILL_BLOCK]))
    blocks.append(context("Credentials are stored encrypted and never shown again."))
    return modal("Connect", blocks, callback_id=ConnectIds.CALLBACK, submit="Save Ontop login")


def parse_backfill(value: str | None) -> date | None:
    """The datepicker's YYYY-MM-DD, or None when absent or unreadable."""
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def validate_credentials_form(
    email: str | None, password: str | None, backfill: str | None = None, today: date | None = None
) -> dict[str, str]:
    """Checks that need no network (answered inline in the ack): block id -> message."""
    problems: dict[str, str] = {}
    chosen = parse_backfill(backfill)
    if backfill and (chosen is None or chosen > (today or datetime.now(UTC).date())):
        problems[ConnectIds.BACKFILL_BLOCK] = "Choose a day in the past (or today)"
    if not email or "@" not in email or email.startswith("@") or email.endswith("@"):
        problems[ConnectIds.EMAIL_BLOCK] = "Enter the Ontop user's email address"
    if not password:
        problems[ConnectIds.PASSWORD_BLOCK] = "Enter the Ontop password"
    return problems
