"""The settings modal: finance channel, daily sync hour and time zone, admins, auto-create suppliers, and (once
QuickBooks is connected) the approval gate: when a sync waits for an admin before posting."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from handlers.blocks import context, escape
from handlers.ids import SettingsIds
from handlers.views.common import field_error, modal
from sync.api import ReviewSettings, WorkspaceSettings
from sync.naming import NAME_LENGTH, is_valid_name
from sync.scheduler import is_time_zone

MAX_USD_THRESHOLD = Decimal("1e15")  # the money columns hold 18 digits before the point


def _hour_option(hour: int) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": f"{hour:02d}:00"}, "value": str(hour)}


def settings_view(settings: WorkspaceSettings, *, errors: dict[str, str] | None = None) -> dict[str, Any]:
    errors = errors or {}
    channel_element: dict[str, Any] = {
        "type": "conversations_select",
        "action_id": SettingsIds.CHANNEL,
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
        "placeholder": {"type": "plain_text", "text": "Choose a channel"},
    }
    if settings.finance_channel_id:
        channel_element["initial_conversation"] = settings.finance_channel_id
    admins_element: dict[str, Any] = {"type": "multi_users_select", "action_id": SettingsIds.ADMINS}
    if settings.admin_user_ids:
        admins_element["initial_users"] = list(settings.admin_user_ids)
    auto_option = {"text": {"type": "plain_text", "text": "Create missing suppliers during syncs"}, "value": "on"}
    auto_element: dict[str, Any] = {
        "type": "checkboxes",
        "action_id": SettingsIds.AUTO_CREATE,
        "options": [auto_option],
    }
    if settings.auto_create_vendors:
        auto_element["initial_options"] = [auto_option]
    blocks: list[dict[str, Any]] = _connection_blocks(settings)
    blocks += [
        {
            "type": "input",
            "block_id": SettingsIds.CHANNEL_BLOCK,
            "label": {"type": "plain_text", "text": "Finance channel"},
            "hint": {"type": "plain_text", "text": "Run summaries and alerts go here. Private? /invite the bot."},
            "optional": True,
            "element": channel_element,
        },
        {
            "type": "input",
            "block_id": SettingsIds.HOUR_BLOCK,
            "label": {"type": "plain_text", "text": "Daily sync at"},
            "element": {
                "type": "static_select",
                "action_id": SettingsIds.HOUR,
                "options": [_hour_option(h) for h in range(24)],
                "initial_option": _hour_option(settings.sync_hour),
            },
        },
        {
            "type": "input",
            "block_id": SettingsIds.TIMEZONE_BLOCK,
            "label": {"type": "plain_text", "text": "Time zone (IANA name)"},
            "hint": {"type": "plain_text", "text": "For example America/Bogota or Europe/Madrid"},
            "element": {
                "type": "plain_text_input",
                "action_id": SettingsIds.TIMEZONE,
                "initial_value": settings.timezone,
            },
        },
        {
            "type": "input",
            "block_id": SettingsIds.ADMINS_BLOCK,
            "label": {"type": "plain_text", "text": "App admins (besides workspace admins)"},
            "optional": True,
            "element": admins_element,
        },
        {
            "type": "input",
            "block_id": SettingsIds.AUTO_CREATE_BLOCK,
            "label": {"type": "plain_text", "text": "Suppliers"},
            "optional": True,
            "element": auto_element,
        },
    ]
    if settings.review is not None:
        blocks.extend(review_blocks(settings.review))
    for block_id, message in errors.items():
        index = next((i for i, b in enumerate(blocks) if b.get("block_id") == block_id), None)
        if index is not None:
            blocks.insert(index + 1, field_error(message))
    blocks.append(context("Workspace admins and owners can always change these."))
    return modal("Settings", blocks, callback_id=SettingsIds.CALLBACK, submit="Save")


def review_blocks(review: ReviewSettings) -> list[dict[str, Any]]:
    """The approval gate: ask before the first sync posts, before later ones (only over a threshold, if set)."""
    first = {"text": {"type": "plain_text", "text": "Before the first sync posts"}, "value": SettingsIds.REVIEW_FIRST}
    later = {"text": {"type": "plain_text", "text": "Before later syncs post"}, "value": SettingsIds.REVIEW_LATER}
    element: dict[str, Any] = {"type": "checkboxes", "action_id": SettingsIds.REVIEW, "options": [first, later]}
    chosen = [option for option, on in ((first, review.first_sync), (later, review.later_runs)) if on]
    if chosen:
        element["initial_options"] = chosen
    over_bills: dict[str, Any] = {
        "type": "number_input",
        "action_id": SettingsIds.OVER_BILLS,
        "is_decimal_allowed": False,
        "min_value": "0",
    }
    if review.over_bills is not None:
        over_bills["initial_value"] = str(review.over_bills)
    over_usd: dict[str, Any] = {
        "type": "number_input",
        "action_id": SettingsIds.OVER_USD,
        "is_decimal_allowed": True,
        "min_value": "0",
    }
    if review.over_usd is not None:
        over_usd["initial_value"] = str(review.over_usd)
    return [
        {
            "type": "input",
            "block_id": SettingsIds.REVIEW_BLOCK,
            "label": {"type": "plain_text", "text": "Ask an admin to approve"},
            "hint": {
                "type": "plain_text",
                "text": "A sync that needs approval posts nothing: it shows what it would post, and who may approve.",
            },
            "optional": True,
            "element": element,
        },
        {
            "type": "input",
            "block_id": SettingsIds.OVER_BILLS_BLOCK,
            "label": {"type": "plain_text", "text": "Later syncs: only above this many bills"},
            "hint": {"type": "plain_text", "text": "Leave both limits empty to ask before every later sync."},
            "optional": True,
            "element": over_bills,
        },
        {
            "type": "input",
            "block_id": SettingsIds.OVER_USD_BLOCK,
            "label": {"type": "plain_text", "text": "…or above this amount in USD"},
            "optional": True,
            "element": over_usd,
        },
    ]


def _connection_blocks(settings: WorkspaceSettings) -> list[dict[str, Any]]:
    """For a connection: which company, and its short name in commands (an admin may rename it)."""
    if settings.connection_id is None:
        return []
    own = " (this company's own: the others keep theirs)" if settings.connections > 1 else ""
    return [
        context(f"*{escape(settings.company_name or settings.connection_name)}*{own}"),
        {
            "type": "input",
            "block_id": SettingsIds.NAME_BLOCK,
            "label": {"type": "plain_text", "text": "Short name in commands"},
            "hint": {"type": "plain_text", "text": "Like /qbo sync acme-us: lower-case letters, digits and dashes."},
            "element": {
                "type": "plain_text_input",
                "action_id": SettingsIds.NAME,
                "initial_value": settings.connection_name,
                "max_length": NAME_LENGTH,
            },
        },
    ]


@dataclass(frozen=True)
class SettingsForm:
    finance_channel_id: str | None
    sync_hour: int
    timezone: str
    admin_user_ids: list[str]
    auto_create_vendors: bool
    review: ReviewSettings | None = None  # None: the form had no approval part (QuickBooks not connected)
    connection_name: str | None = None  # None: the form had no name (no connection)


def read_settings(state: dict[str, Any]) -> tuple[SettingsForm | None, dict[str, str]]:
    """The submitted form, or the inline errors (block id -> message); pure, so it fits in the ack."""
    errors: dict[str, str] = {}
    raw_hour = state.get(SettingsIds.HOUR_BLOCK)
    try:
        hour = int(raw_hour) if raw_hour is not None else -1
    except (TypeError, ValueError):
        hour = -1
    if not 0 <= hour <= 23:
        errors[SettingsIds.HOUR_BLOCK] = "Pick an hour"
    timezone = str(state.get(SettingsIds.TIMEZONE_BLOCK) or "").strip()
    if not is_time_zone(timezone):
        errors[SettingsIds.TIMEZONE_BLOCK] = "Use an IANA time zone name, like America/Bogota"
    review = read_review(state, errors)
    connection_name = None
    if SettingsIds.NAME_BLOCK in state:
        connection_name = str(state.get(SettingsIds.NAME_BLOCK) or "").strip().lower()
        if not is_valid_name(connection_name):
            errors[SettingsIds.NAME_BLOCK] = "Lower-case letters, digits and dashes, like acme-us"
    if errors:
        return None, errors
    return (
        SettingsForm(
            finance_channel_id=state.get(SettingsIds.CHANNEL_BLOCK) or None,
            sync_hour=hour,
            timezone=timezone,
            admin_user_ids=list(state.get(SettingsIds.ADMINS_BLOCK) or []),
            auto_create_vendors=SettingsIds.AUTO_CREATE_ON in (state.get(SettingsIds.AUTO_CREATE_BLOCK) or []),
            review=review,
            connection_name=connection_name,
        ),
        {},
    )


def read_review(state: dict[str, Any], errors: dict[str, str]) -> ReviewSettings | None:
    """The approval part of the form (None when the form had none); problems go into `errors`."""
    if SettingsIds.REVIEW_BLOCK not in state:
        return None
    chosen = state.get(SettingsIds.REVIEW_BLOCK) or []
    over_bills: int | None = None
    raw_bills = str(state.get(SettingsIds.OVER_BILLS_BLOCK) or "").strip()
    if raw_bills:
        if raw_bills.isdigit():
            over_bills = int(raw_bills)
        else:
            errors[SettingsIds.OVER_BILLS_BLOCK] = "A whole number of bills, or empty"
    over_usd: Decimal | None = None
    raw_usd = str(state.get(SettingsIds.OVER_USD_BLOCK) or "").strip().replace(",", "")
    if raw_usd:
        try:
            parsed = Decimal(raw_usd)
        except InvalidOperation:
            parsed = Decimal("NaN")
        if parsed.is_finite() and 0 <= parsed < MAX_USD_THRESHOLD:
            over_usd = parsed.quantize(Decimal("0.01"))
        else:
            errors[SettingsIds.OVER_USD_BLOCK] = "An amount in USD, like 25000, or empty"
    return ReviewSettings(
        first_sync=SettingsIds.REVIEW_FIRST in chosen,
        later_runs=SettingsIds.REVIEW_LATER in chosen,
        over_bills=over_bills,
        over_usd=over_usd,
    )


def settings_saved_text(settings: WorkspaceSettings) -> str:
    channel = f"<#{settings.finance_channel_id}>" if settings.finance_channel_id else "no finance channel"
    saved = f"Saved: daily sync at {settings.sync_hour:02d}:00 {escape(settings.timezone)}, summaries to {channel}."
    if settings.connection_id is not None and settings.connections > 1:
        saved = f"*{escape(settings.connection_name)}*: {saved}"
    if settings.review is not None:
        saved += f" {review_policy_text(settings.review)}"
    return saved


def review_policy_text(review: ReviewSettings) -> str:
    """The approval gate in one sentence."""
    asked = []
    if review.first_sync:
        asked.append("the first sync")
    if review.later_runs:
        limits = []
        if review.over_bills is not None:
            limits.append(f"more than {review.over_bills:,} bills")
        if review.over_usd is not None:
            limits.append(f"more than {review.over_usd:,.2f} USD")
        asked.append("later syncs" + (f" that would post {' or '.join(limits)}" if limits else ""))
    if not asked:
        return "Syncs post without asking for approval."
    return f"An admin approves {' and '.join(asked)} before anything is posted."
