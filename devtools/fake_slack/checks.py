"""Slack's checks on what an app sends (message text and blocks, views, scopes), and its error answer."""

from __future__ import annotations

import copy
import json
import secrets
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

# Limits from ../shared/reference/slack.md §4.1.
MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100  # modal and Home tab
POST_TEXT_LIMIT = 40_000
UPDATE_TEXT_LIMIT = 4_000
VIEW_TITLE_LIMIT = 24
PRIVATE_METADATA_LIMIT = 3_000
CALLBACK_ID_LIMIT = 255
VIEW_BYTES_LIMIT = 250_000


class SlackMethodError(Exception):
    """An error answer: Slack's `{"ok": false, "error": code}` plus any extra fields."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def error_messages(*texts: str) -> dict[str, list[str]]:
    """`response_metadata` as Slack fills it for invalid arguments."""
    return {"messages": [f"[ERROR] {t}" for t in texts]}


def require_scope(scopes: frozenset[str], needed: str) -> None:
    if needed not in scopes:
        raise SlackMethodError("missing_scope", needed=needed, provided=",".join(sorted(scopes)))


def is_true(value: Any) -> bool:
    """A boolean argument as JSON (`true`) or form (`"true"`, `"1"`) sends it."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def check_message_content(params: dict[str, Any], text_limit: int) -> None:
    """Slack's checks on a message's `text` and `blocks`."""
    text = params.get("text")
    blocks = params.get("blocks")
    if not text and not blocks and not params.get("attachments"):
        raise SlackMethodError("no_text")
    if text is not None and len(str(text)) > text_limit:
        raise SlackMethodError("msg_too_long")
    if blocks:
        check_blocks(blocks, MESSAGE_BLOCK_LIMIT, "invalid_blocks", "/blocks")


def check_blocks(blocks: Any, limit: int, error: str, pointer: str) -> None:
    """Each block parses and validates with slack_sdk's models (lengths, required fields), and no more than `limit`."""
    if not isinstance(blocks, list):
        raise SlackMethodError("invalid_blocks_format")
    if len(blocks) > limit:
        raise SlackMethodError(
            error, response_metadata=error_messages(f"no more than {limit} items allowed [json-pointer:{pointer}]")
        )
    for index, block in enumerate(blocks):
        if not isinstance(block, dict) or "type" not in block:
            raise SlackMethodError(
                error,
                response_metadata=error_messages(f"missing required field: type [json-pointer:{pointer}/{index}]"),
            )
        try:
            parsed = Block.parse(copy.deepcopy(block))
            if parsed is None:
                raise SlackObjectFormationError(f"unsupported block type {block['type']!r}")
            parsed.validate_json()
        except (SlackObjectFormationError, TypeError, KeyError, AttributeError) as invalid:
            raise SlackMethodError(
                error, response_metadata=error_messages(f"{invalid} [json-pointer:{pointer}/{index}]")
            ) from None


def check_view(raw: Any, *, allowed_types: tuple[str, ...]) -> dict[str, Any]:
    """Slack's checks on a view: type, title, sizes and blocks. Returns the view as a dict."""
    if not isinstance(raw, dict):
        raise SlackMethodError(
            "invalid_arguments", response_metadata=error_messages("view must be an object [json-pointer:/view]")
        )
    if "type" not in raw:
        raise SlackMethodError(
            "invalid_arguments", response_metadata=error_messages("missing required field: type [json-pointer:/view]")
        )
    if raw["type"] not in allowed_types:
        raise SlackMethodError(
            "invalid_arguments", response_metadata=error_messages(f"view type must be one of {allowed_types}")
        )
    problems = _modal_problems(raw) if raw["type"] == "modal" else []
    if len(raw.get("private_metadata") or "") > PRIVATE_METADATA_LIMIT:
        problems.append(f"private_metadata must be at most {PRIVATE_METADATA_LIMIT} characters")
    if len(raw.get("callback_id") or "") > CALLBACK_ID_LIMIT:
        problems.append(f"callback_id must be at most {CALLBACK_ID_LIMIT} characters")
    if problems:
        raise SlackMethodError("invalid_arguments", response_metadata=error_messages(*problems))
    if len(json.dumps(raw)) > VIEW_BYTES_LIMIT:
        raise SlackMethodError("view_too_large")
    check_blocks(raw.get("blocks") or [], VIEW_BLOCK_LIMIT, "invalid_arguments", "/view/blocks")
    return raw


def _modal_problems(raw: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    title = plain_text_of(raw.get("title"))
    if not 1 <= len(title) <= VIEW_TITLE_LIMIT:
        problems.append(f"title must be between 1 and {VIEW_TITLE_LIMIT} characters [json-pointer:/view/title]")
    for button in ("submit", "close"):
        if len(plain_text_of(raw.get(button))) > VIEW_TITLE_LIMIT:
            problems.append(f"{button} must be at most {VIEW_TITLE_LIMIT} characters [json-pointer:/view/{button}]")
    has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in raw.get("blocks") or [])
    if has_input and not raw.get("submit"):
        problems.append("submit is required when a view has input blocks [json-pointer:/view/submit]")
    return problems


def plain_text_of(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def with_block_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of the blocks, each with a block_id (Slack assigns one when the app does not)."""
    return [{**block, "block_id": block.get("block_id") or secrets.token_hex(3)} for block in copy.deepcopy(blocks)]
