"""Shared pieces of modals: the loading and result views, the modal frame, reading `view.state.values`."""

from __future__ import annotations

from typing import Any

from handlers.blocks import VIEW_BLOCK_LIMIT, capped, context, escape, plain, section, truncate
from handlers.ids import MiscIds

TITLE_LIMIT = 24


def modal(
    title: str,
    blocks: list[dict[str, Any]],
    *,
    callback_id: str,
    submit: str | None = None,
    close: str = "Close",
    private_metadata: str = "",
) -> dict[str, Any]:
    """A modal view within Slack's limits (title/submit/close ≤ 24 characters, ≤ 100 blocks)."""
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, TITLE_LIMIT),
        "close": plain(close, TITLE_LIMIT),
        "blocks": capped(blocks, VIEW_BLOCK_LIMIT),
    }
    if submit is not None:
        view["submit"] = plain(submit, TITLE_LIMIT)
    if private_metadata:
        view["private_metadata"] = private_metadata[:3000]
    return view


def loading_view(title: str, text: str = "Loading…") -> dict[str, Any]:
    """Opened with the trigger_id right away (it expires in 3 s); the real view replaces it via views.update."""
    return modal(title, [section(f":hourglass_flowing_sand: {text}")], callback_id=MiscIds.LOADING)


def result_view(title: str, text: str, *, details: list[str] | None = None) -> dict[str, Any]:
    """A modal with one message (mrkdwn: the caller escapes what it interpolates) and optional detail lines."""
    blocks = [section(text)]
    if details:
        blocks.append(context(*[truncate(d, 2000) for d in details]))
    return modal(title, blocks, callback_id=MiscIds.RESULT, close="Done")


def field_error(message: str) -> dict[str, Any]:
    """An error shown right under an input when it could only be known after the ack (e.g. a refused login).

    Escaped: a service's message may quote a company name or what the person typed.
    """
    return context(f":warning: {escape(message)}")


def flatten_state(view: dict[str, Any]) -> dict[str, Any]:
    """`view.state.values` as block_id -> the chosen value (text, option value, list of users, channel, checkboxes)."""
    flat: dict[str, Any] = {}
    values = ((view or {}).get("state") or {}).get("values") or {}
    for block_id, by_action in values.items():
        for state in by_action.values():
            flat[block_id] = _state_value(state)
    return flat


def _state_value(state: dict[str, Any]) -> Any:
    kind = state.get("type")
    if kind in ("static_select", "external_select", "radio_buttons"):
        option = state.get("selected_option")
        return option.get("value") if option else None
    if kind == "multi_users_select":
        return list(state.get("selected_users") or [])
    if kind == "conversations_select":
        return state.get("selected_conversation")
    if kind == "channels_select":
        return state.get("selected_channel")
    if kind == "checkboxes":
        return [option.get("value") for option in state.get("selected_options") or []]
    if kind == "datepicker":
        return state.get("selected_date")
    return state.get("value")
