"""Render Block Kit as readable plain text, for the demo transcript and test failure messages.

Not a pixel-perfect preview: it keeps what a reader needs (text, fields, buttons, inputs) and turns Slack's
mrkdwn escapes into plain text (`<url|text>` -> `text (url)`, `<@U1>` -> `@U1`), keeping *bold* and _italic_.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devtools.fake_slack import RecordedCall

RULE = "─" * 40

# <url|text>, <@U123>, <#C123|name>, <!here>, <!date^1700000000^{date}|fallback>
_ANGLE = re.compile(r"<([^<>]+)>")


def render_mrkdwn(text: str) -> str:
    """Slack mrkdwn to readable text: links, mentions and dates resolved, entities unescaped."""

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return f"@{label or target[1:]}"
        if target.startswith("#"):
            return f"#{label or target[1:]}"
        if target.startswith("!subteam^"):
            return f"@{label or target.split('^', 1)[1]}"
        if target.startswith("!date^"):
            return label or target
        if target.startswith("!"):
            return f"@{target[1:]}"
        if label and label != target:
            return f"{label} ({target})"
        return target

    text = _ANGLE.sub(replace, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(obj: Any) -> str:
    """A text object (plain_text or mrkdwn) or a bare string as plain text."""
    if obj is None:
        return ""
    if isinstance(obj, str):
        return obj
    if obj.get("type") == "mrkdwn":
        return render_mrkdwn(str(obj.get("text", "")))
    return str(obj.get("text", ""))


def _element(element: Mapping[str, Any]) -> str:
    """One interactive or context element inline: buttons as [Label], selects as [Choice ▾]."""
    kind = element.get("type", "")
    if kind == "button":
        label = _text(element.get("text"))
        if element.get("url"):
            label = f"{label} ↗ {element['url']}"
        if element.get("style") == "danger":
            label = f"! {label}"
        return f"[{label}]"
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if kind in ("mrkdwn", "plain_text"):
        return _text(element)
    if kind == "overflow":
        return "[⋯]"
    if kind in ("plain_text_input", "email_text_input", "number_input", "url_text_input"):
        value = element.get("initial_value") or _text(element.get("placeholder"))
        return f"[{value or '…'}]"
    if kind in ("checkboxes", "radio_buttons"):
        chosen = {o.get("value") for o in element.get("initial_options") or []}
        initial = element.get("initial_option")
        if initial:
            chosen.add(initial.get("value"))
        marks = "☑☐" if kind == "checkboxes" else "◉○"
        return "  ".join(
            f"{marks[0] if o.get('value') in chosen else marks[1]} {_text(o.get('text'))}"
            for o in element.get("options") or []
        )
    if kind.endswith("select") or kind.endswith("multi_select"):
        initial = element.get("initial_option")
        initials = element.get("initial_options") or ([initial] if initial else [])
        shown = ", ".join(_text(o.get("text")) for o in initials) or _text(element.get("placeholder")) or "Choose"
        return f"[{shown} ▾]"
    if kind in ("datepicker", "timepicker", "datetimepicker"):
        value = element.get("initial_date") or element.get("initial_time") or _text(element.get("placeholder"))
        return f"[{value or kind} ▾]"
    return f"[{kind}]"


def _rich_text_inline(elements: Sequence[Mapping[str, Any]]) -> str:
    parts: list[str] = []
    for el in elements:
        kind = el.get("type")
        style = el.get("style") or {}
        if kind == "text":
            piece = str(el.get("text", ""))
            if style.get("bold"):
                piece = f"*{piece}*"
            if style.get("italic"):
                piece = f"_{piece}_"
            if style.get("code"):
                piece = f"`{piece}`"
            parts.append(piece)
        elif kind == "link":
            label = el.get("text")
            parts.append(f"{label} ({el.get('url')})" if label else str(el.get("url", "")))
        elif kind == "user":
            parts.append(f"@{el.get('user_id', '')}")
        elif kind == "channel":
            parts.append(f"#{el.get('channel_id', '')}")
        elif kind == "emoji":
            parts.append(f":{el.get('name', '')}:")
        elif kind == "date":
            parts.append(str(el.get("fallback") or el.get("timestamp", "")))
        else:
            parts.append(str(el.get("text", "")))
    return "".join(parts)


def _rich_text(block: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for part in block.get("elements") or []:
        kind = part.get("type")
        if kind == "rich_text_section":
            lines.extend(_rich_text_inline(part.get("elements") or []).splitlines() or [""])
        elif kind == "rich_text_list":
            indent = "  " * int(part.get("indent", 0))
            for number, item in enumerate(part.get("elements") or [], start=1):
                bullet = f"{number}." if part.get("style") == "ordered" else "•"
                lines.append(f"{indent}{bullet} {_rich_text_inline(item.get('elements') or [])}")
        elif kind == "rich_text_preformatted":
            lines.extend(["```", *_rich_text_inline(part.get("elements") or []).splitlines(), "```"])
        elif kind == "rich_text_quote":
            lines.extend(f"> {line}" for line in _rich_text_inline(part.get("elements") or []).splitlines())
    return lines


def _block(block: Mapping[str, Any]) -> list[str]:
    """One block as lines of text."""
    kind = block.get("type")
    if kind == "header":
        title = _text(block.get("text"))
        return [title, "═" * max(len(title), 3)]
    if kind == "divider":
        return [RULE]
    if kind == "section":
        lines = _text(block.get("text")).splitlines()
        for field in block.get("fields") or []:
            label, *value = [line.strip() for line in _text(field).splitlines() if line.strip()] or [""]
            lines.append(f"  {label}: {' '.join(value)}" if value else f"  {label}")  # "*Amount*\n$5" on one line
        accessory = block.get("accessory")
        if accessory:
            rendered = _element(accessory)
            if lines:
                lines[0] = f"{lines[0]}  {rendered}"
            else:
                lines = [rendered]
        return lines
    if kind == "context":
        return [" · ".join(_element(e) for e in block.get("elements") or [])]
    if kind == "actions":
        return ["  ".join(_element(e) for e in block.get("elements") or [])]
    if kind == "input":
        label = _text(block.get("label"))
        if block.get("optional"):
            label = f"{label} (optional)"
        lines = [f"{label}: {_element(block.get('element') or {})}"]
        if block.get("hint"):
            lines.append(f"  ({_text(block.get('hint'))})")
        return lines
    if kind == "image":
        title = _text(block.get("title"))
        return [f"[image: {block.get('alt_text', '')}]" + (f" {title}" if title else "")]
    if kind == "rich_text":
        return _rich_text(block)
    if kind == "markdown":
        return str(block.get("text", "")).splitlines()
    return [f"[{kind} block]"]


def render_blocks(blocks: Sequence[Mapping[str, Any]]) -> str:
    """Blocks as plain text, one block after another."""
    lines: list[str] = []
    for block in blocks:
        lines.extend(_block(block))
    return "\n".join(lines)


def render_view(view: Mapping[str, Any]) -> str:
    """A modal or Home tab: title bar, blocks, and the Close/Submit buttons of a modal."""
    title = _text(view.get("title")) or ("Home" if view.get("type") == "home" else "")
    width = max(len(title) + 4, 40)
    lines = ["┌" + "─" * (width - 2) + "┐", f"│ {title.ljust(width - 4)} │", "└" + "─" * (width - 2) + "┘"]
    body = render_blocks(view.get("blocks") or [])
    if body:
        lines.append(body)
    if view.get("type", "modal") == "modal":
        buttons = [f"[{_text(view.get('close')) or 'Cancel'}]"]
        if view.get("submit"):
            buttons.append(f"[{_text(view.get('submit'))}]")
        lines.append(" " * 4 + "  ".join(buttons))
    return "\n".join(lines)


def render_message(message: Mapping[str, Any]) -> str:
    """A message as Slack shows it: its blocks, or its top-level text when it has none."""
    blocks = message.get("blocks") or []
    if blocks:
        return render_blocks(blocks)
    return render_mrkdwn(str(message.get("text", "")))


_MESSAGE_METHODS = ("chat.postMessage", "chat.postEphemeral", "chat.update", "response_url")
_VIEW_METHODS = ("views.open", "views.push", "views.update", "views.publish")


def render_call(call: RecordedCall) -> str | None:
    """What a Slack user would see from one call the app made to the fake (None for calls that show nothing).

    For the demo transcript: render the calls recorded since the previous step.
    """
    if call.method not in _MESSAGE_METHODS + _VIEW_METHODS:
        return None
    params = call.params
    where = params.get("channel") or params.get("user_id") or params.get("view_id") or params.get("response_id")
    where = where or "new modal"  # views.open / views.push name no target: the user sees a modal appear
    if params.get("user") and call.method == "chat.postEphemeral":
        where = f"{where}, only {params['user']}"
    heading = f"── {call.method} → {where}"
    if call.error is not None:
        return f"{heading}: refused ({call.error})"
    if call.method in _VIEW_METHODS:
        view = params.get("view")
        return f"{heading}\n{render_view(view if isinstance(view, Mapping) else {})}"
    return f"{heading}\n{render_message(params)}"
