"""The fake Slack Web API answers slack_sdk's AsyncWebClient over real HTTP the way Slack does."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from devtools.fake_slack import FakeSlack
from tests.devtools.conftest import ManualClock


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def modal(blocks: list[dict[str, Any]] | None = None, title: str = "Map accounts", **extra: Any) -> dict[str, Any]:
    return {"type": "modal", "title": {"type": "plain_text", "text": title}, "blocks": blocks or [], **extra}


async def slack_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as raised:
        await call
    return raised.value


# --- auth ------------------------------------------------------------------------------------------------------


async def test_auth_test_identifies_the_bot_of_the_workspace(client: AsyncWebClient) -> None:
    answer = await client.auth_test()
    assert (answer["team_id"], answer["user_id"], answer["bot_id"]) == ("T0001", "U0BOT", "B0BOT")
    assert answer["url"] == "https://acme.slack.com/"


async def test_unknown_token_is_invalid_auth_and_missing_token_is_not_authed(fake: FakeSlack) -> None:
    wrong = await slack_error(AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url).auth_test())
    assert wrong.response["error"] == "invalid_auth"
    missing = await slack_error(AsyncWebClient(base_url=fake.api_url).chat_postMessage(channel="C0FIN", text="x"))
    assert missing.response["error"] == "not_authed"


async def test_token_in_a_form_field_is_accepted_like_slack_does(fake: FakeSlack) -> None:
    answer = await AsyncWebClient(base_url=fake.api_url).api_call("auth.test", data={"token": "xoxb-test"})
    assert answer["ok"] is True
    assert "token" not in fake.calls("auth.test")[0].params


async def test_a_method_outside_the_token_scopes_is_missing_scope(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.set_token_scopes("xoxb-test", ["commands", "chat:write"])
    error = await slack_error(client.users_info(user="U0ANN"))
    assert error.response["error"] == "missing_scope"
    assert error.response["needed"] == "users:read"


# --- messages and recording ------------------------------------------------------------------------------------


async def test_post_message_is_recorded_stored_and_answered_with_ts(fake: FakeSlack, client: AsyncWebClient) -> None:
    answer = await client.chat_postMessage(channel="C0FIN", text="Sync done", blocks=[section("*Sync* done")])
    call = fake.calls("chat.postMessage")[0]
    assert call.params["text"] == "Sync done" and call.params["channel"] == "C0FIN"
    assert call.status == 200 and call.error is None
    stored = fake.message("C0FIN", answer["ts"])
    assert stored is not None and stored["blocks"][0]["text"]["text"] == "*Sync* done"
    assert stored["blocks"][0]["block_id"]  # Slack fills in block ids
    assert answer["channel"] == "C0FIN" and answer["message"]["bot_id"] == "B0BOT"


async def test_concurrent_posts_are_all_recorded_with_distinct_ts(fake: FakeSlack, client: AsyncWebClient) -> None:
    answers = await asyncio.gather(*(client.chat_postMessage(channel="C0FIN", text=f"m{i}") for i in range(20)))
    assert len(fake.calls("chat.postMessage")) == 20
    assert len({a["ts"] for a in answers}) == 20
    assert sorted(m["text"] for m in fake.messages("C0FIN")) == sorted(f"m{i}" for i in range(20))


async def test_post_message_accepts_a_channel_name_and_answers_with_the_id(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    answer = await client.chat_postMessage(channel="#finance", text="by name")
    assert answer["channel"] == "C0FIN"
    assert fake.messages("C0FIN")[0]["text"] == "by name"


async def test_malformed_json_body_is_invalid_json(fake: FakeSlack) -> None:
    async with httpx.AsyncClient(base_url=fake.url) as http:
        answer = await http.post(
            "/api/chat.postMessage",
            content=b"{not json",
            headers={"Content-Type": "application/json", "Authorization": "Bearer xoxb-test"},
        )
    assert answer.json() == {"ok": False, "error": "invalid_json"}
    assert fake.calls("chat.postMessage")[0].error == "invalid_json"


async def test_message_without_text_or_blocks_is_no_text(client: AsyncWebClient) -> None:
    error = await slack_error(client.api_call("chat.postMessage", json={"channel": "C0FIN"}))
    assert error.response["error"] == "no_text"


async def test_fifty_blocks_are_accepted_fifty_one_are_invalid_blocks(client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel="C0FIN", text="ok", blocks=[section(f"row {i}") for i in range(50)])
    error = await slack_error(
        client.chat_postMessage(channel="C0FIN", text="too many", blocks=[section(f"r{i}") for i in range(51)])
    )
    assert error.response["error"] == "invalid_blocks"


async def test_section_text_over_3000_characters_is_invalid_blocks(client: AsyncWebClient) -> None:
    error = await slack_error(client.chat_postMessage(channel="C0FIN", text="x", blocks=[section("y" * 3001)]))
    assert error.response["error"] == "invalid_blocks"
    assert error.response["response_metadata"]["messages"]


async def test_update_with_text_only_drops_the_blocks(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0FIN", text="Syncing", blocks=[section("Syncing 1/10")])
    await client.chat_update(channel="C0FIN", ts=posted["ts"], text="Synced")
    stored = fake.message("C0FIN", posted["ts"])
    assert stored is not None and stored["text"] == "Synced" and stored["blocks"] == []
    assert "edited" in stored


async def test_update_text_over_4000_characters_is_msg_too_long(client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0FIN", text="Syncing")
    error = await slack_error(client.chat_update(channel="C0FIN", ts=posted["ts"], text="x" * 4001))
    assert error.response["error"] == "msg_too_long"


async def test_update_of_an_unknown_message_is_message_not_found(client: AsyncWebClient) -> None:
    error = await slack_error(client.chat_update(channel="C0FIN", ts="1.000001", text="x"))
    assert error.response["error"] == "message_not_found"


async def test_channel_membership_rules(fake: FakeSlack, client: AsyncWebClient) -> None:
    # Public channel the bot is not in: fine with chat:write.public, not_in_channel without it.
    await client.chat_postMessage(channel="C0GEN", text="hello")
    fake.set_token_scopes("xoxb-test", ["chat:write"])
    assert (await slack_error(client.chat_postMessage(channel="C0GEN", text="x"))).response["error"] == "not_in_channel"
    # A private channel the bot is not in does not exist for it; an archived one refuses posts.
    assert (await slack_error(client.chat_postMessage(channel="G0PAY", text="x"))).response["error"] == (
        "channel_not_found"
    )
    fake.set_channel("C0FIN", is_archived=True)
    assert (await slack_error(client.chat_postMessage(channel="C0FIN", text="x"))).response["error"] == "is_archived"


async def test_post_ephemeral_needs_the_user_in_the_channel(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_channel("C0OPS", "ops", members=["U0ANN"])
    await client.chat_postEphemeral(channel="C0OPS", user="U0ANN", text="only you")
    assert fake.ephemerals(user_id="U0ANN")[0]["text"] == "only you"
    error = await slack_error(client.chat_postEphemeral(channel="C0OPS", user="U0BOB", text="x"))
    assert error.response["error"] == "user_not_in_channel"


async def test_permalink_points_at_the_message(client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0FIN", text="Sync done")
    answer = await client.chat_getPermalink(channel="C0FIN", message_ts=posted["ts"])
    assert answer["permalink"] == f"https://acme.slack.com/archives/C0FIN/p{posted['ts'].replace('.', '')}"


# --- conversations and users -----------------------------------------------------------------------------------


async def test_conversations_info_open_and_join(fake: FakeSlack, client: AsyncWebClient) -> None:
    info = await client.conversations_info(channel="C0GEN")
    assert info["channel"]["is_member"] is False and info["channel"]["name"] == "general"
    assert (await slack_error(client.conversations_info(channel="G0PAY"))).response["error"] == "channel_not_found"
    opened = await client.conversations_open(users="U0ANN")
    await client.chat_postMessage(channel=opened["channel"]["id"], text="hi in DM")
    assert fake.messages(opened["channel"]["id"])[0]["text"] == "hi in DM"
    # conversations.join needs channels:join, which our manifest does not ask for.
    assert (await slack_error(client.conversations_join(channel="C0GEN"))).response["error"] == "missing_scope"


async def test_users_info_reports_admin_flags_over_get(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_user("U0OWN", "olivia", is_owner=True)
    ann, bob, owner = [(await client.users_info(user=u))["user"] for u in ("U0ANN", "U0BOB", "U0OWN")]
    assert (ann["is_admin"], bob["is_admin"], owner["is_owner"]) == (True, False, True)
    assert fake.calls("users.info")[0].http_method == "GET"
    assert (await slack_error(client.users_info(user="U0NOPE"))).response["error"] == "user_not_found"


# --- views and trigger ids -------------------------------------------------------------------------------------


async def test_views_open_with_a_minted_trigger_id_stores_the_view(fake: FakeSlack, client: AsyncWebClient) -> None:
    trigger_id = fake.mint_trigger_id("U0ANN")
    answer = await client.views_open(trigger_id=trigger_id, view=modal([section("Loading…")], callback_id="qbo_map"))
    view_id = answer["view"]["id"]
    assert answer["view"]["hash"] and answer["view"]["root_view_id"] == view_id
    last = fake.last_view("qbo_map", user_id="U0ANN")
    assert last is not None and last["id"] == view_id and last["blocks"][0]["text"]["text"] == "Loading…"


async def test_trigger_id_is_single_use(fake: FakeSlack, client: AsyncWebClient) -> None:
    trigger_id = fake.mint_trigger_id("U0ANN")
    await client.views_open(trigger_id=trigger_id, view=modal())
    error = await slack_error(client.views_open(trigger_id=trigger_id, view=modal()))
    assert error.response["error"] == "exchanged_trigger_id"


async def test_trigger_id_expires_after_three_seconds(
    fake: FakeSlack, client: AsyncWebClient, clock: ManualClock
) -> None:
    fresh, stale = fake.mint_trigger_id("U0ANN"), fake.mint_trigger_id("U0ANN")
    clock.advance(2.9)
    await client.views_open(trigger_id=fresh, view=modal())
    clock.advance(0.2)
    assert (await slack_error(client.views_open(trigger_id=stale, view=modal()))).response["error"] == (
        "expired_trigger_id"
    )


async def test_unknown_trigger_id_is_invalid(client: AsyncWebClient) -> None:
    error = await slack_error(client.views_open(trigger_id="1234.5678.abcdef", view=modal()))
    assert error.response["error"] == "invalid_trigger_id"


async def test_view_limits_are_enforced(fake: FakeSlack, client: AsyncWebClient) -> None:
    no_type = {"title": {"type": "plain_text", "text": "x"}, "blocks": []}
    cases = [
        no_type,
        modal([section(f"b{i}") for i in range(101)]),
        modal(title="A title longer than 24 chars"),
        modal(private_metadata="x" * 3001),
    ]
    for view in cases:
        error = await slack_error(client.views_open(trigger_id=fake.mint_trigger_id("U0ANN"), view=view))
        assert error.response["error"] == "invalid_arguments", view
    await client.views_open(
        trigger_id=fake.mint_trigger_id("U0ANN"), view=modal([section(f"b{i}") for i in range(100)])
    )


async def test_views_update_checks_the_hash(fake: FakeSlack, client: AsyncWebClient) -> None:
    opened = (await client.views_open(trigger_id=fake.mint_trigger_id("U0ANN"), view=modal()))["view"]
    updated = await client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal([section("Ready")]))
    assert updated["view"]["hash"] != opened["hash"]
    stale = await slack_error(client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal()))
    assert stale.response["error"] == "hash_conflict"
    assert (await slack_error(client.views_update(view_id="V0NOPE", view=modal()))).response["error"] == "not_found"


async def test_modal_stack_holds_at_most_three_views(fake: FakeSlack, client: AsyncWebClient) -> None:
    top = (await client.views_open(trigger_id=fake.mint_trigger_id("U0ANN"), view=modal()))["view"]
    for _ in range(2):
        pushed = await client.views_push(trigger_id=fake.mint_trigger_id("U0ANN", view_id=top["id"]), view=modal())
        top = pushed["view"]
    error = await slack_error(
        client.views_push(trigger_id=fake.mint_trigger_id("U0ANN", view_id=top["id"]), view=modal())
    )
    assert error.response["error"] == "push_limit_reached"


async def test_a_title_that_is_not_a_text_object_is_invalid_arguments(fake: FakeSlack, client: AsyncWebClient) -> None:
    error = await slack_error(
        client.views_open(trigger_id=fake.mint_trigger_id("U0ANN"), view=modal(title="x") | {"title": "x"})
    )
    assert error.response["error"] == "invalid_arguments"


async def test_views_publish_keeps_one_home_view_per_user(fake: FakeSlack, client: AsyncWebClient) -> None:
    first = await client.views_publish(user_id="U0ANN", view={"type": "home", "blocks": [section("v1")]})
    second = await client.views_publish(user_id="U0ANN", view={"type": "home", "blocks": [section("v2")]})
    assert first["view"]["id"] == second["view"]["id"]
    home = fake.home_view("U0ANN")
    assert home is not None and home["blocks"][0]["text"]["text"] == "v2"
    error = await slack_error(client.views_publish(user_id="U0ANN", view=modal()))
    assert error.response["error"] == "invalid_arguments"


# --- faults ----------------------------------------------------------------------------------------------------


async def test_rate_limit_answers_429_with_retry_after(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.rate_limit_next("chat.postMessage", retry_after=7)
    error = await slack_error(client.chat_postMessage(channel="C0FIN", text="x"))
    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "7"
    await client.chat_postMessage(channel="C0FIN", text="fine again")


async def test_sdk_retry_handler_recovers_from_one_429(fake: FakeSlack) -> None:
    fake.rate_limit_next("chat.postMessage", retry_after=0)
    retrying = AsyncWebClient(
        token="xoxb-test", base_url=fake.api_url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)]
    )
    await retrying.chat_postMessage(channel="C0FIN", text="eventually")
    assert [c.status for c in fake.calls("chat.postMessage")] == [429, 200]
    assert len(fake.messages("C0FIN")) == 1


async def test_server_errors_and_error_codes_are_injected(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.server_error_next("views.publish", status=503)
    fake.fail_next("chat.postMessage", error="channel_not_found", times=2)
    assert (await slack_error(client.views_publish(user_id="U0ANN", view={"type": "home"}))).response.status_code == 503
    for _ in range(2):
        assert (await slack_error(client.chat_postMessage(channel="C0FIN", text="x"))).response["error"] == (
            "channel_not_found"
        )
    await client.chat_postMessage(channel="C0FIN", text="third time works")


# --- install and uninstall -------------------------------------------------------------------------------------


async def test_oauth_v2_access_exchanges_a_code_once_for_a_working_bot_token(fake: FakeSlack) -> None:
    code = fake.issue_oauth_code(
        team_id="T0001", user_id="U0ANN", redirect_uri="https://example.com/slack/oauth_redirect"
    )
    anonymous = AsyncWebClient(base_url=fake.api_url)
    answer = await anonymous.oauth_v2_access(
        client_id="1111.2222",
        client_secret="fake-client-secret",
        code=code,
        redirect_uri="https://example.com/slack/oauth_redirect",
    )
    assert answer["team"] == {"id": "T0001", "name": "Acme"} and answer["authed_user"] == {"id": "U0ANN"}
    assert answer["bot_user_id"] == "U0BOT" and answer["token_type"] == "bot"
    token = answer["access_token"]
    assert token.startswith("xoxb-")
    assert (await AsyncWebClient(token=token, base_url=fake.api_url).auth_test())["team_id"] == "T0001"
    assert "client_secret" not in fake.calls("oauth.v2.access")[0].params  # secrets are not recorded
    replay = await slack_error(
        anonymous.oauth_v2_access(
            client_id="1111.2222",
            client_secret="fake-client-secret",
            code=code,
            redirect_uri="https://example.com/slack/oauth_redirect",
        )
    )
    assert replay.response["error"] == "invalid_code"


async def test_oauth_v2_access_rejects_a_wrong_client_secret(fake: FakeSlack) -> None:
    code = fake.issue_oauth_code()
    error = await slack_error(
        AsyncWebClient(base_url=fake.api_url).oauth_v2_access(client_id="1111.2222", client_secret="nope", code=code)
    )
    assert error.response["error"] == "bad_client_secret"


async def test_apps_uninstall_revokes_the_workspace_tokens(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.apps_uninstall(client_id="1111.2222", client_secret="fake-client-secret")
    assert not fake.token_is_active("xoxb-test")
    assert (await slack_error(client.auth_test())).response["error"] == "token_revoked"


# --- response_url ----------------------------------------------------------------------------------------------


async def test_response_url_posts_ephemeral_in_channel_and_replaces_the_original(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel="C0FIN", text="Sync failed", blocks=[section("Retry?")])
    command_url = fake.new_response_url(channel_id="C0FIN", user_id="U0ANN")
    click_url = fake.new_response_url(channel_id="C0FIN", user_id="U0ANN", message_ts=posted["ts"])

    assert (await AsyncWebhookClient(command_url).send(text="Only you see this")).status_code == 200
    await AsyncWebhookClient(command_url).send(text="Everyone sees this", response_type="in_channel")
    await AsyncWebhookClient(click_url).send(text="Retry requested by @ann", replace_original=True)

    assert fake.ephemerals(user_id="U0ANN")[0]["text"] == "Only you see this"
    texts = [m["text"] for m in fake.messages("C0FIN")]
    assert texts == ["Retry requested by @ann", "Everyone sees this"]
    assert len(fake.calls("response_url")) == 3


async def test_response_url_can_delete_the_original_message(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0FIN", text="Confirm disconnect?")
    hook = AsyncWebhookClient(fake.new_response_url(channel_id="C0FIN", user_id="U0ANN", message_ts=posted["ts"]))
    assert (await hook.send_dict({"delete_original": True})).status_code == 200
    assert fake.message("C0FIN", posted["ts"]) is None


async def test_response_url_works_five_times_then_is_used_up(fake: FakeSlack) -> None:
    hook = AsyncWebhookClient(fake.new_response_url(channel_id="C0FIN", user_id="U0ANN"))
    statuses = [(await hook.send(text=f"update {i}")).status_code for i in range(6)]
    assert statuses == [200, 200, 200, 200, 200, 404]
    assert fake.calls("response_url")[-1].error == "used_url"


async def test_response_url_expires_after_thirty_minutes(fake: FakeSlack, clock: ManualClock) -> None:
    hook = AsyncWebhookClient(fake.new_response_url(channel_id="C0FIN", user_id="U0ANN"))
    clock.advance(30 * 60 + 1)
    answer = await hook.send(text="too late")
    assert (answer.status_code, answer.body) == (404, "expired_url")


def test_recorder_wait_for_times_out_with_a_clear_message(fake: FakeSlack) -> None:
    with pytest.raises(TimeoutError, match=r"chat\.update"):
        fake.recorder.wait_for("chat.update", timeout_seconds=0.05)
