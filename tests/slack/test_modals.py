"""Modals over real HTTP: opened with the command's trigger_id, filled, validated inline, saved."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from bot.pages import LOGIN_COOKIE
from devtools.browser import link_in
from devtools.signing import plain_text_state, selected_option_state
from handlers.ids import BooksIds, ConnectIds, DisconnectIds, MappingIds, SettingsIds, VendorIds
from sync.api import CREATE_WALLET, NO_PAYMENTS, BooksChoice
from tests.slack.conftest import RunningApp
from tests.slack.fakes import ONTOP_EMAIL, ONTOP_PASSWORD, FakeService, default_books


def wait_view(app: RunningApp, callback_id: str, *, updates: int = 1) -> dict[str, Any]:
    """The modal with `callback_id`, once the app replaced the loading view with it."""
    app.fake.recorder.wait_for("views.update", updates)
    view = app.fake.last_view(callback_id)
    shown = [call.params.get("view", {}).get("callback_id") for call in app.fake.calls("views.update")]
    assert view is not None, f"no view {callback_id}; shown: {shown}"
    return view


def texts(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


async def open_modal(app: RunningApp, slack, text: str, callback_id: str) -> dict[str, Any]:
    response = await slack.command(text)
    assert response.status_code == 200
    return wait_view(app, callback_id)


# --- map --------------------------------------------------------------------------------------------------


async def test_map_opens_with_the_commands_trigger_id_then_shows_one_picker_per_concept(
    app: RunningApp, connected: FakeService, slack
) -> None:
    view = await open_modal(app, slack, "map", MappingIds.CALLBACK)
    [opened] = app.fake.calls("views.open")
    assert opened.error is None  # the trigger_id was fresh and used once
    inputs = [b for b in view["blocks"] if b["type"] == "input" and b["block_id"].startswith("concept:")]
    assert [b["block_id"] for b in inputs] == ["concept:bonus", "concept:reimbursement", "concept:base_compensation"]
    current = inputs[-1]["element"]["initial_option"]
    assert current == {"text": {"type": "plain_text", "text": "Contractors"}, "value": "60100"}
    assert all(b["element"]["type"] == "external_select" for b in inputs)


async def test_account_options_are_searched_in_the_cache_and_answered_in_the_ack(
    app: RunningApp, connected: FakeService, slack
) -> None:
    view = await open_modal(app, slack, "map", MappingIds.CALLBACK)
    response = await slack.suggest(view["id"], "concept:bonus", MappingIds.ACCOUNT, "bon")
    assert response.status_code == 200
    assert response.json() == {
        "options": [{"text": {"type": "plain_text", "text": "Contractors:Bonuses"}, "value": "60110"}]
    }
    [call] = connected.calls("account_options")
    assert call.team_id == "T0001" and call.args == {"search": "bon"}


async def test_mapping_submit_saves_and_shows_the_result(app: RunningApp, connected: FakeService, slack) -> None:
    view = await open_modal(app, slack, "map", MappingIds.CALLBACK)
    values = {
        "concept:bonus": {MappingIds.ACCOUNT: selected_option_state("60110", "Contractors:Bonuses")},
        "concept:reimbursement": {MappingIds.ACCOUNT: selected_option_state("60300", "Travel reimbursements")},
        "concept:base_compensation": {MappingIds.ACCOUNT: selected_option_state("60100", "Contractors")},
    }
    response = await slack.submit_view(view["id"], values)
    assert response.status_code == 200
    assert response.json()["response_action"] == "update"  # "Saving…" at once
    result = wait_view(app, "result-view", updates=2)
    assert "Saved. 3 of 3 concepts mapped." in texts(result)
    [call] = connected.calls("save_mappings")
    assert call.team_id == "T0001"
    assert call.args["mapping"] == {"bonus": "60110", "reimbursement": "60300", "base_compensation": "60100"}


async def test_mapping_submit_without_a_pick_gets_inline_errors_and_saves_nothing(
    app: RunningApp, connected: FakeService, slack
) -> None:
    view = await open_modal(app, slack, "map", MappingIds.CALLBACK)
    values = {
        "concept:bonus": {MappingIds.ACCOUNT: {"type": "external_select", "selected_option": None}},
        "concept:base_compensation": {MappingIds.ACCOUNT: selected_option_state("60100", "Contractors")},
    }
    response = await slack.submit_view(view["id"], values)
    assert response.json() == {"response_action": "errors", "errors": {"concept:bonus": "Pick an account"}}
    assert connected.calls("save_mappings") == []


async def test_mapping_refused_by_the_service_shows_the_message_under_that_concept(
    app: RunningApp, connected: FakeService, slack
) -> None:
    view = await open_modal(app, slack, "map", MappingIds.CALLBACK)
    values = {"concept:bonus": {MappingIds.ACCOUNT: selected_option_state("99999", "Sales")}}
    await slack.submit_view(view["id"], values)
    again = wait_view(app, MappingIds.CALLBACK, updates=2)
    blocks = again["blocks"]
    index = next(i for i, b in enumerate(blocks) if b.get("block_id") == "concept:bonus")
    assert "not an expense account" in json.dumps(blocks[index + 1])


def input_block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


def books_state(pay_from: str = "create-wallet", fees: str = "ontop", **more: dict[str, Any]) -> dict[str, Any]:
    """The books part as Slack submits it: every input, with the person's choice."""
    return {
        BooksIds.PAY_FROM_BLOCK: {BooksIds.PAY_FROM: selected_option_state(pay_from, pay_from)},
        BooksIds.FEES_BLOCK: {BooksIds.FEES: {"type": "radio_buttons", "selected_option": {"value": fees}}},
        **more,
    }


async def test_map_asks_how_invoices_are_booked_with_the_wallet_offered_and_fees_on_ontop(
    app: RunningApp, connected: FakeService, slack
) -> None:
    view = await open_modal(app, slack, "map", MappingIds.CALLBACK)
    pay_from = input_block(view, BooksIds.PAY_FROM_BLOCK)["element"]
    values = [option["value"] for option in pay_from["options"]]
    assert values == ["35", "41", CREATE_WALLET, NO_PAYMENTS]  # bank and card accounts, then the two choices
    assert pay_from["initial_option"]["value"] == CREATE_WALLET  # no wallet yet: creating one is the default
    fees = input_block(view, BooksIds.FEES_BLOCK)["element"]
    assert fees["type"] == "radio_buttons" and fees["initial_option"]["value"] == BooksIds.FEES_ON_ONTOP
    assert input_block(view, BooksIds.SUPPLIER_CURRENCY_BLOCK)["element"]["initial_option"]["value"] == "contract"
    euro_payables = input_block(view, "books-ap:EUR")["element"]
    assert [option["value"] for option in euro_payables["options"]] == ["77", "78"]
    assert not [b for b in view["blocks"] if str(b.get("block_id", "")).startswith("tax")]  # a US company


async def test_saving_the_books_comes_before_the_mapping_and_the_result_says_where_bills_are_paid_from(
    app: RunningApp, connected: FakeService, slack
) -> None:
    view = await open_modal(app, slack, "map", MappingIds.CALLBACK)
    values = {
        "concept:bonus": {MappingIds.ACCOUNT: selected_option_state("60110", "Contractors:Bonuses")},
        **books_state(CREATE_WALLET, BooksIds.FEES_ON_CONTRACTOR),
        "books-ap:EUR": {BooksIds.AP: selected_option_state("78", "A/P EUR (old)")},
    }
    await slack.submit_view(view["id"], values)
    result = wait_view(app, "result-view", updates=2)
    assert "Bills paid from Ontop wallet" in texts(result)
    assert "fees on the contractor" in texts(result)
    methods = [call.method for call in connected.calls() if call.method in ("save_books", "save_mappings")]
    assert methods == ["save_books", "save_mappings"]  # the first sync then already pays from the wallet
    [books] = connected.calls("save_books")
    assert books.args["choice"] == BooksChoice(
        pay_from=CREATE_WALLET, fees_on_contractor_bill=True, supplier_currency="contract", ap_accounts={"EUR": "78"}
    )


async def test_no_payments_is_a_choice_the_result_explains(app: RunningApp, connected: FakeService, slack) -> None:
    view = await open_modal(app, slack, "map", MappingIds.CALLBACK)
    await slack.submit_view(view["id"], books_state(NO_PAYMENTS))
    result = wait_view(app, "result-view", updates=2)
    assert "match Ontop" in texts(result) and "bank feed" in texts(result)
    assert connected.team("T0001").books.payments_enabled is False


async def test_a_pay_from_account_the_service_refuses_shows_under_the_pay_from_input(
    app: RunningApp, connected: FakeService, slack
) -> None:
    view = await open_modal(app, slack, "map", MappingIds.CALLBACK)
    await slack.submit_view(view["id"], books_state("999"))
    again = wait_view(app, MappingIds.CALLBACK, updates=2)
    index = next(i for i, b in enumerate(again["blocks"]) if b.get("block_id") == BooksIds.PAY_FROM_BLOCK)
    assert "cannot pay bills" in json.dumps(again["blocks"][index + 1])
    assert connected.calls("save_mappings") == []


async def test_a_non_us_company_picks_a_tax_code_per_concept_and_a_default(
    app: RunningApp, connected: FakeService, slack
) -> None:
    connected.team("T0001").books = default_books(tax_codes=True)
    view = await open_modal(app, slack, "map", MappingIds.CALLBACK)
    default = input_block(view, BooksIds.TAX_DEFAULT_BLOCK)["element"]
    assert default["initial_option"]["value"] == "3"  # the zero-rated code
    bonus_tax = input_block(view, "tax:bonus")
    assert bonus_tax["optional"] is True and [o["value"] for o in bonus_tax["element"]["options"]] == ["3", "5"]
    values = {
        "concept:bonus": {MappingIds.ACCOUNT: selected_option_state("60110", "Contractors:Bonuses")},
        "tax:bonus": {MappingIds.TAX_CODE: selected_option_state("5", "20.0% S")},
        **books_state(CREATE_WALLET),
        BooksIds.TAX_DEFAULT_BLOCK: {BooksIds.TAX_DEFAULT: selected_option_state("3", "No VAT")},
    }
    await slack.submit_view(view["id"], values)
    wait_view(app, "result-view", updates=2)
    [mapping] = connected.calls("save_mappings")
    assert mapping.args["tax_codes"] == {"bonus": "5"}
    [books] = connected.calls("save_books")
    assert books.args["choice"].default_tax_code_id == "3"


async def test_a_mapping_modal_without_a_pay_from_choice_is_refused_inline(
    app: RunningApp, connected: FakeService, slack
) -> None:
    view = await open_modal(app, slack, "map", MappingIds.CALLBACK)
    values = {BooksIds.PAY_FROM_BLOCK: {BooksIds.PAY_FROM: {"type": "static_select", "selected_option": None}}}
    response = await slack.submit_view(view["id"], values)
    assert response.json()["errors"] == {BooksIds.PAY_FROM_BLOCK: "Choose where the bills are paid from"}
    assert connected.calls("save_books") == []


async def test_map_for_a_non_admin_shows_a_polite_refusal(app: RunningApp, connected: FakeService, slack) -> None:
    await slack.as_user("U0BOB").command("map")
    view = wait_view(app, "result-view")
    assert "only workspace admins" in texts(view)
    assert connected.calls("mapping_rows") == []


async def test_map_when_not_connected_says_so_in_the_modal(app: RunningApp, slack) -> None:
    view = await open_modal(app, slack, "map", "result-view")
    assert "/qbo connect" in texts(view)


# --- connect ----------------------------------------------------------------------------------------------


async def test_connect_links_to_the_bots_own_pages_and_asks_nothing_secret_in_slack(
    app: RunningApp, service: FakeService, slack
) -> None:
    view = await open_modal(app, slack, "connect", ConnectIds.CALLBACK)
    links = {b["accessory"]["action_id"]: b["accessory"]["url"] for b in view["blocks"] if "accessory" in b}
    assert links[ConnectIds.QBO_BUTTON].startswith("https://bot.example.test/qbo/start?state=")
    assert links[ConnectIds.ONTOP_BUTTON].startswith("https://bot.example.test/ontop/credentials?state=")
    assert not [b for b in view["blocks"] if b["type"] == "input"], "no email or password field in Slack"
    for method in ("qbo_connect_page", "ontop_login_page"):
        [call] = service.calls(method)
        assert call.team_id == "T0001" and call.args == {"user_id": "U0ANN"}


async def test_check_says_what_is_still_missing_with_fresh_links_then_that_both_are_connected(
    app: RunningApp, service: FakeService, slack
) -> None:
    view = await open_modal(app, slack, "connect", ConnectIds.CALLBACK)
    await slack.submit_view(view["id"], {})
    again = wait_view(app, ConnectIds.CALLBACK, updates=2)
    assert "QuickBooks is not connected yet" in texts(again)
    assert len(service.calls("qbo_connect_page")) == 2, "fresh links: the first ones may be used up"

    service.connect("T0001")
    await slack.submit_view(again["id"], {})
    done = wait_view(app, "result-view", updates=3)
    assert "Acme Books LLC" in texts(done) and "Ontop are connected" in texts(done)


async def login_page(app: RunningApp, url: str) -> tuple[httpx.Response, dict[str, str]]:
    """GET the Ontop login page the modal links to (on the app's loopback address): the page and its cookie header.

    The app's public address is https, so its cookies are Secure and an http client would not send them back by
    itself: the test hands the cookie over as the browser would over https.
    """
    parts = urlsplit(url)
    async with httpx.AsyncClient(base_url=app.url, timeout=5) as http:
        page = await http.get(f"{parts.path}?{parts.query}")
    cookie = page.cookies.get(LOGIN_COOKIE)
    return page, {"Cookie": f"{LOGIN_COOKIE}={cookie}"} if cookie else {}


async def submit_login(app: RunningApp, url: str, email: str, password: str) -> httpx.Response:
    page, cookie = await login_page(app, url)
    fields = dict(re.findall(r'<input type="hidden" name="([a-z]+)" value="([^"]*)">', page.text))
    async with httpx.AsyncClient(base_url=app.url, timeout=5) as http:
        return await http.post(
            "/ontop/credentials", data={**fields, "email": email, "password": password}, headers=cookie
        )


@pytest.fixture
def qbo_only(connected: FakeService) -> FakeService:
    """QuickBooks connected, Ontop not yet."""
    connected.team("T0001").ontop_email = None
    return connected


async def test_a_refused_ontop_login_is_said_on_the_page_then_success_is_announced_in_slack(
    app: RunningApp, qbo_only: FakeService, slack
) -> None:
    connected = qbo_only
    view = await open_modal(app, slack, "connect", ConnectIds.CALLBACK)
    url = link_in(view, "/ontop/credentials")

    refused = await submit_login(app, url, ONTOP_EMAIL, "nope")
    assert refused.status_code == 400 and "Ontop refused" in refused.text
    assert "nope" not in refused.text, "the password is never echoed back"
    assert connected.team("T0001").ontop_email is None

    saved = await submit_login(app, url, ONTOP_EMAIL, ONTOP_PASSWORD)  # the same link: a refusal did not use it up
    assert saved.status_code == 200 and "Ontop connected" in saved.text
    app.fake.recorder.wait_for("chat.postMessage")
    [announcement] = app.fake.messages("C0FIN")
    assert "Ontop account connected by <@U0ANN>" in announcement["text"]
    used, _ = await login_page(app, url)
    assert used.status_code == 400 and "already used" in used.text, "a saved login used the link up"


async def test_the_ontop_password_never_reaches_slack_or_the_logs(
    app: RunningApp, qbo_only: FakeService, slack, caplog, capsys
) -> None:
    connected = qbo_only
    import logging

    caplog.set_level(logging.DEBUG)  # Bolt, slack_sdk and httpx at their chattiest
    secret = "hunter2-very-secret"
    view = await open_modal(app, slack, "connect", ConnectIds.CALLBACK)
    refused = await submit_login(app, link_in(view, "/ontop/credentials"), ONTOP_EMAIL, secret)
    await slack.submit_view(view["id"], {})  # *Check* in Slack afterwards
    wait_view(app, ConnectIds.CALLBACK, updates=2)
    captured = capsys.readouterr()
    assert "Ontop refused" in refused.text
    assert "views.update" in caplog.text  # the capture sees the app's debug logging
    assert secret not in caplog.text and secret not in captured.out and secret not in captured.err
    assert all(secret not in json.dumps(call.params) for call in app.fake.calls())
    assert all(secret not in json.dumps(call.args) for call in connected.calls())


# --- vendors ----------------------------------------------------------------------------------------------


async def test_vendors_lists_matches_and_the_confirm_creates_the_missing(
    app: RunningApp, connected: FakeService, slack
) -> None:
    view = await open_modal(app, slack, "vendors", VendorIds.CALLBACK)
    body = texts(view)
    assert "Ana Gómez" in body and "linked" in body
    assert "Ben Li" in body and "will create" in body
    assert "will link (same email)" in body
    assert view["submit"]["text"] == "Create 1, link 1"
    response = await slack.submit_view(view["id"], {})
    assert response.json()["response_action"] == "update"
    result = wait_view(app, "result-view", updates=2)
    assert "Created 1 supplier and linked 1 existing supplier." in texts(result)
    [call] = connected.calls("create_missing_vendors")
    assert call.team_id == "T0001" and call.args["agreement_ids"] is None


async def test_vendors_are_paged_within_block_limits(app: RunningApp, connected: FakeService, slack) -> None:
    from sync.api import VendorMatch, VendorPreviewRow

    state = connected.team("T0001")
    state.vendor_rows = [
        VendorPreviewRow(f"agr-{n}", f"Worker {n:03d}", None, "CO", "USD", VendorMatch.LINKED, f"Worker {n:03d}")
        for n in range(95)
    ]
    view = await open_modal(app, slack, "vendors", VendorIds.CALLBACK)
    assert len(view["blocks"]) <= 100
    assert "Worker 000" in texts(view) and "Worker 040" not in texts(view)
    await slack.click_view_element(view["id"], f"{VendorIds.PAGE}-next")
    app.fake.recorder.wait_for("views.update", 2)
    page_two = app.fake.view(view["id"])
    assert page_two is not None
    assert "Worker 040" in texts(page_two) and "Page 2 of 3" in texts(page_two)


# --- settings ---------------------------------------------------------------------------------------------


def settings_values(timezone: str, channel: str = "C0FIN") -> dict[str, Any]:
    return {
        SettingsIds.CHANNEL_BLOCK: {
            SettingsIds.CHANNEL: {"type": "conversations_select", "selected_conversation": channel}
        },
        SettingsIds.HOUR_BLOCK: {SettingsIds.HOUR: selected_option_state("7", "07:00", element_type="static_select")},
        SettingsIds.TIMEZONE_BLOCK: {SettingsIds.TIMEZONE: plain_text_state(timezone)},
        SettingsIds.ADMINS_BLOCK: {SettingsIds.ADMINS: {"type": "multi_users_select", "selected_users": ["U0BOB"]}},
        SettingsIds.AUTO_CREATE_BLOCK: {
            SettingsIds.AUTO_CREATE: {
                "type": "checkboxes",
                "selected_options": [{"text": {"type": "plain_text", "text": "Create"}, "value": "on"}],
            }
        },
    }


async def test_settings_are_saved_for_this_workspace(app: RunningApp, connected: FakeService, slack) -> None:
    view = await open_modal(app, slack, "settings", SettingsIds.CALLBACK)
    await slack.submit_view(view["id"], settings_values("Europe/Madrid"))
    result = wait_view(app, "result-view", updates=2)
    assert "07:00 Europe/Madrid" in texts(result)
    [call] = connected.calls("update_settings")
    assert call.team_id == "T0001"
    assert call.args == {
        "user_id": "U0ANN",
        "finance_channel_id": "C0FIN",
        "sync_hour": 7,
        "timezone": "Europe/Madrid",
        "admin_user_ids": ["U0BOB"],
        "auto_create_vendors": True,
    }


async def test_a_channel_the_bot_cannot_post_in_is_refused_on_save_with_what_to_do(
    app: RunningApp, connected: FakeService, slack
) -> None:
    app.fake.set_channel("C0GEN", is_archived=True)
    for channel, advice in (("G0PAY", "/invite"), ("C0GEN", "archived")):
        # Counted before the command: the second modal's own update must not pass for the refusal.
        opened = len(app.fake.calls("views.update"))
        await slack.command("settings")
        view = wait_view(app, SettingsIds.CALLBACK, updates=opened + 1)
        before = opened + 1
        await slack.submit_view(view["id"], settings_values("Europe/Madrid", channel))
        again = wait_view(app, SettingsIds.CALLBACK, updates=before + 1)
        index = next(i for i, b in enumerate(again["blocks"]) if b.get("block_id") == SettingsIds.CHANNEL_BLOCK)
        assert advice in json.dumps(again["blocks"][index + 1])
    assert connected.calls("update_settings") == []


async def test_unknown_time_zone_is_an_inline_error(app: RunningApp, connected: FakeService, slack) -> None:
    view = await open_modal(app, slack, "settings", SettingsIds.CALLBACK)
    response = await slack.submit_view(view["id"], settings_values("Mars/Olympus"))
    assert response.json() == {
        "response_action": "errors",
        "errors": {SettingsIds.TIMEZONE_BLOCK: "Use an IANA time zone name, like America/Bogota"},
    }
    assert connected.calls("update_settings") == []


# --- disconnect -------------------------------------------------------------------------------------------


async def test_disconnect_asks_first_then_disconnects_and_announces(
    app: RunningApp, connected: FakeService, slack
) -> None:
    view = await open_modal(app, slack, "disconnect", DisconnectIds.CALLBACK)
    assert "Acme Books LLC" in texts(view)
    assert connected.calls("disconnect") == []
    await slack.submit_view(view["id"], {})
    result = wait_view(app, "result-view", updates=2)
    assert "QuickBooks company *Acme Books LLC* disconnected" in texts(result)
    [call] = connected.calls("disconnect")
    assert call.team_id == "T0001"
    app.fake.recorder.wait_for("chat.postMessage")
    assert "QuickBooks company *Acme Books LLC* disconnected" in app.fake.messages("C0FIN")[0]["text"]


async def test_crafted_submission_by_a_non_admin_changes_nothing(
    app: RunningApp, connected: FakeService, slack
) -> None:
    view = await open_modal(app, slack, "disconnect", DisconnectIds.CALLBACK)
    await slack.as_user("U0BOB").submit_view(view["id"], {})
    refused = wait_view(app, "result-view", updates=2)
    assert "only workspace admins" in texts(refused)
    assert connected.calls("disconnect") == []


async def test_account_options_after_a_disconnect_are_empty_not_an_error(
    app: RunningApp, connected: FakeService, slack
) -> None:
    from sync.api import NotConnectedError

    view = await open_modal(app, slack, "map", MappingIds.CALLBACK)
    connected.failures["account_options"] = NotConnectedError("QuickBooks is not connected.")
    response = await slack.suggest(view["id"], "concept:bonus", MappingIds.ACCOUNT, "")
    assert response.status_code == 200 and response.json() == {"options": []}
