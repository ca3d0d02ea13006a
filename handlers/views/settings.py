"""The settings modal: finance channel, daily sync hour and time zone, admins, auto-create suppliers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.blocks import context, escape
from handlers.ids import SettingsIds
from handlers.views.common import field_error, modal
from sync.api import WorkspaceSettings
from sync.scheduler import is_time_zone


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
    blocks: list[dict[str, Any]] = [
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
    for block_id, message in errors.items():
        index = next((i for i, b in enumerate(blocks) if b.get("block_id") == block_id), None)
        if index is not None:
            blocks.insert(index + 1, field_error(message))
    blocks.append(context("Workspace admins and owners can always change these."))
    return modal("Settings", blocks, callback_id=SettingsIds.CALLBACK, submit="Save")


@dataclass(frozen=True)
class SettingsForm:
    finance_channel_id: str | None
    sync_hour: int
    timezone: str
    admin_user_ids: list[str]
    auto_create_vendors: bool


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
    if errors:
        return None, errors
    return (
        SettingsForm(
            finance_channel_id=state.get(SettingsIds.CHANNEL_BLOCK) or None,
            sync_hour=hour,
            timezone=timezone,
            admin_user_ids=list(state.get(SettingsIds.ADMINS_BLOCK) or []),
            auto_create_vendors=SettingsIds.AUTO_CREATE_ON in (state.get(SettingsIds.AUTO_CREATE_BLOCK) or []),
        ),
        {},
    )


def settings_saved_text(settings: WorkspaceSettings) -> str:
    channel = f"<#{settings.finance_channel_id}>" if settings.finance_channel_id else "no finance channel"
    return f"Saved: daily sync at {settings.sync_hour:02d}:00 {escape(settings.timezone)}, summaries to {channel}."
