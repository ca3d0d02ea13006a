"""Block Kit renders as plain text a reader of the demo transcript can follow."""

from __future__ import annotations

from typing import Any

from devtools.fake_slack import RecordedCall
from devtools.render import render_blocks, render_call, render_message, render_mrkdwn, render_view


def plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


FAILURE_ALERT: list[dict[str, Any]] = [
    {"type": "header", "text": plain("QuickBooks sync failed")},
    {
        "type": "section",
        "text": mrkdwn("*2 invoices* failed, started by <@U0ANN|ann> in <#C0FIN|finance>"),
        "fields": [mrkdwn("*Invoice #*\nINV-1001"), mrkdwn("*Amount*\nUSD 1,250.00")],
    },
    {"type": "divider"},
    {
        "type": "context",
        "elements": [
            mrkdwn("Job 6f1c2a"),
            {"type": "image", "image_url": "https://x/i.png", "alt_text": "QuickBooks logo"},
        ],
    },
    {
        "type": "actions",
        "elements": [
            {"type": "button", "text": plain("Retry"), "action_id": "sync_retry", "style": "primary"},
            {
                "type": "button",
                "text": plain("Open in QuickBooks"),
                "action_id": "open",
                "url": "https://qbo.example/b/1",
            },
            {"type": "static_select", "action_id": "pick", "placeholder": plain("Choose account")},
        ],
    },
]


def test_mrkdwn_links_mentions_and_entities_become_readable() -> None:
    text = "See <https://qbo.example/app|QuickBooks> &amp; <https://x.example>, ask <@U0ANN> or <!here> in <#C0FIN|fin>"
    assert render_mrkdwn(text) == (
        "See QuickBooks (https://qbo.example/app) & https://x.example, ask @U0ANN or @here in #fin"
    )
    assert render_mrkdwn("due <!date^1700000000^{date_short}|Nov 14, 2023>") == "due Nov 14, 2023"
    assert render_mrkdwn("*bold* and _italic_ stay") == "*bold* and _italic_ stay"


def test_failure_alert_renders_header_fields_context_and_buttons() -> None:
    assert render_blocks(FAILURE_ALERT).splitlines() == [
        "QuickBooks sync failed",
        "══════════════════════",
        "*2 invoices* failed, started by @ann in #finance",
        "  *Invoice #*: INV-1001",
        "  *Amount*: USD 1,250.00",
        "─" * 40,
        "Job 6f1c2a · [image: QuickBooks logo]",
        "[Retry]  [Open in QuickBooks ↗ https://qbo.example/b/1]  [Choose account ▾]",
    ]


def test_section_accessory_and_image_block() -> None:
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": mrkdwn("Vendor *Ana Silva*"),
            "accessory": {"type": "button", "text": plain("Create"), "action_id": "c"},
        },
        {"type": "image", "image_url": "https://x/chart.png", "alt_text": "invoices per day"},
    ]
    assert render_blocks(blocks) == "Vendor *Ana Silva*  [Create]\n[image: invoices per day]"


def test_rich_text_sections_lists_and_preformatted() -> None:
    block = {
        "type": "rich_text",
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [
                    {"type": "text", "text": "Errors: "},
                    {"type": "text", "text": "2", "style": {"bold": True}},
                ],
            },
            {
                "type": "rich_text_list",
                "style": "ordered",
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": "unmapped concept"}]},
                    {
                        "type": "rich_text_section",
                        "elements": [{"type": "link", "url": "https://x.example", "text": "missing vendor"}],
                    },
                ],
            },
            {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "ValidationFault 6000"}]},
        ],
    }
    assert render_blocks([block]).splitlines() == [
        "Errors: *2*",
        "1. unmapped concept",
        "2. missing vendor (https://x.example)",
        "```",
        "ValidationFault 6000",
        "```",
    ]


def test_modal_shows_title_inputs_and_submit_close() -> None:
    view = {
        "type": "modal",
        "title": plain("Map accounts"),
        "submit": plain("Save"),
        "close": plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": "concept:hosting",
                "label": plain("Hosting"),
                "hint": plain("Expense account in QuickBooks"),
                "element": {
                    "type": "external_select",
                    "action_id": "qbo_account",
                    "initial_option": {"text": plain("60300 Hosting"), "value": "60300"},
                },
            },
            {
                "type": "input",
                "optional": True,
                "label": plain("Memo"),
                "element": {"type": "plain_text_input", "action_id": "memo"},
            },
        ],
    }
    rendered = render_view(view).splitlines()
    assert "│ Map accounts" in rendered[1]
    assert rendered[3:] == [
        "Hosting: [60300 Hosting ▾]",
        "  (Expense account in QuickBooks)",
        "Memo (optional): […]",
        "    [Cancel]  [Save]",
    ]


def test_home_tab_has_no_modal_buttons() -> None:
    rendered = render_view({"type": "home", "blocks": [{"type": "section", "text": plain("Connected")}]})
    assert "Home" in rendered and rendered.endswith("Connected")


def test_message_uses_blocks_when_present_and_text_otherwise() -> None:
    assert render_message({"text": "Sync failed", "blocks": FAILURE_ALERT[:1]}).startswith("QuickBooks sync failed")
    assert render_message({"text": "Hi <@U0ANN|ann>"}) == "Hi @ann"


def test_unknown_block_types_are_named_not_dropped() -> None:
    assert render_blocks([{"type": "video", "title": plain("x")}]) == "[video block]"


def test_recorded_calls_render_as_a_transcript() -> None:
    def call(method: str, params: dict[str, Any], error: str | None = None) -> RecordedCall:
        return RecordedCall(method, params, "POST", 0.0, 200, error)

    posted = call("chat.postMessage", {"channel": "C0FIN", "text": "Sync done", "blocks": FAILURE_ALERT[:1]})
    assert render_call(posted) == "── chat.postMessage → C0FIN\nQuickBooks sync failed\n══════════════════════"
    opened = call("views.open", {"trigger_id": "1.2.3", "view": {"type": "modal", "title": plain("Map accounts")}})
    assert (render_call(opened) or "").startswith("── views.open → new modal\n┌")
    assert "│ Map accounts" in (render_call(opened) or "")
    refused = call("chat.postMessage", {"channel": "G0PAY", "text": "x"}, error="channel_not_found")
    assert render_call(refused) == "── chat.postMessage → G0PAY: refused (channel_not_found)"
    assert render_call(call("users.info", {"user": "U0ANN"})) is None
