"""Choosing one of a workspace's QuickBooks companies (pure builders): an ephemeral message or a modal with a select.

What the person was doing when asked (`/qbo map`, a button) travels with the select as a small JSON "continuation";
the chosen option is a connection id, which the service checks against the signed workspace like any other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from handlers.blocks import Message, escape, plain, section, truncate
from handlers.ids import ChooseIds
from handlers.views.common import modal
from sync.api import ConnectionChoice

OPTIONS_LIMIT = 100  # Slack's static_select limit
BLOCK_ID_LIMIT = 255


def choice_label(choice: ConnectionChoice) -> str:
    return f"{choice.name} ({choice.company_name})" if choice.company_name else choice.name


def connection_select(choices: Sequence[ConnectionChoice]) -> dict[str, Any]:
    return {
        "type": "static_select",
        "action_id": ChooseIds.SELECT,
        "placeholder": plain("Choose a company"),
        "options": [
            {"text": plain(truncate(choice_label(choice), 75)), "value": str(choice.connection_id)}
            for choice in choices[:OPTIONS_LIMIT]
        ],
    }


def choose_text(message: str, choices: Sequence[ConnectionChoice]) -> str:
    names = ", ".join(f"`{escape(choice.name)}`" for choice in choices)
    return f"{escape(message)} Next time, name it: `/qbo <command> <name>` ({names})."


def choose_connection_message(message: str, choices: Sequence[ConnectionChoice], then: dict[str, Any]) -> Message:
    """The ephemeral question; `then` (what to continue with) rides in the block id (at most 255 characters)."""
    block_id = json.dumps(then, separators=(",", ":"))
    if len(block_id) > BLOCK_ID_LIMIT:
        block_id = json.dumps({k: v for k, v in then.items() if k != "args"}, separators=(",", ":"))
    text = choose_text(message, choices)
    block = section(text, accessory=connection_select(choices), block_id=block_id)
    return Message(text=escape(message), blocks=[block])


def choose_connection_view(
    title: str, message: str, choices: Sequence[ConnectionChoice], then: dict[str, Any]
) -> dict[str, Any]:
    """The same question inside a modal that was opening; `then` rides in its private_metadata."""
    block = section(choose_text(message, choices), accessory=connection_select(choices), block_id=ChooseIds.BLOCK)
    return modal(title, [block], callback_id=ChooseIds.CALLBACK, private_metadata=json.dumps(then))


def continuation_of(body: dict[str, Any], action: dict[str, Any]) -> dict[str, Any]:
    """What the person was doing when asked: from the modal's metadata or the message block's id."""
    view = body.get("view")
    raw = (view or {}).get("private_metadata") if view else action.get("block_id")
    try:
        loaded = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {}
    return loaded if isinstance(loaded, dict) else {}
