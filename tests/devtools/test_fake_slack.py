"""The fake Slack Web API answers slack_sdk's AsyncWebClient over real HTTP the way Slack does: auth, scopes,
recording, injected faults, install and uninstall, response_url. Other method families have their own files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import yaml
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from devtools.fake_slack import FakeSlack
from tests.devtools.conftest import ManualClock, error_code, section, slack_error

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"

# --- auth and scopes -------------------------------------------------------------------------------------------


async def test_auth_test_identifies_the_bot_of_the_workspace(client: AsyncWebClient) -> None:
    answer = await client.auth_test()
    assert (answer["team_id"], answer["user_id"], answer["bot_id"]) == ("T0001", "U0BOT", "B0BOT")
    assert answer["url"] == "https://acme.slack.com/"


async def test_unknown_token_is_invalid_auth_and_missing_token_is_not_authed(fake: FakeSlack) -> None:
    assert await error_code(AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url).auth_test()) == "invalid_auth"
    anonymous = AsyncWebClient(base_url=fake.api_url)
    assert await error_code(anonymous.chat_postMessage(channel="C0FIN", text="x")) == "not_authed"


async def test_token_in_a_form_field_is_accepted_like_slack_does(fake: FakeSlack) -> None:
    answer = await AsyncWebClient(base_url=fake.api_url).api_call("auth.test", data={"token": "xoxb-test"})
    assert answer["ok"] is True
    assert "token" not in fake.calls("auth.test")[0].params


def test_the_seeded_token_has_exactly_the_scopes_the_manifest_asks_for(fake: FakeSlack) -> None:
    asked = yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"]
    assert set(asked) == set(fake.token_scopes("xoxb-test"))


async def test_a_method_outside_the_token_scopes_is_missing_scope(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.set_token_scopes("xoxb-test", ["commands", "chat:write"])
    error = await slack_error(client.users_info(user="U0ANN"))
    assert error.response["error"] == "missing_scope"
    assert error.response["needed"] == "users:read"


async def test_taking_one_scope_away_refuses_only_the_methods_needing_it(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.set_token_scopes("xoxb-test", fake.token_scopes("xoxb-test") - {"chat:write"})
    assert await error_code(client.chat_postMessage(channel="C0FIN", text="x")) == "missing_scope"
    assert (await client.users_info(user="U0ANN"))["user"]["id"] == "U0ANN"


# --- recording -------------------------------------------------------------------------------------------------


async def test_concurrent_posts_are_all_recorded_with_distinct_ts(fake: FakeSlack, client: AsyncWebClient) -> None:
    answers = await asyncio.gather(*(client.chat_postMessage(channel="C0FIN", text=f"m{i}") for i in range(20)))
    assert len(fake.calls("chat.postMessage")) == 20
    assert len({a["ts"] for a in answers}) == 20
    assert sorted(m["text"] for m in fake.messages("C0FIN")) == sorted(f"m{i}" for i in range(20))


async def test_malformed_json_body_is_invalid_json(fake: FakeSlack) -> None:
    async with httpx.AsyncClient(base_url=fake.url) as http:
        answer = await http.post(
            "/api/chat.postMessage",
            content=b"{not json",
            headers={"Content-Type": "application/json", "Authorization": "Bearer xoxb-test"},
        )
    assert answer.json() == {"ok": False, "error": "invalid_json"}
    assert fake.calls("chat.postMessage")[0].error == "invalid_json"


async def test_an_unknown_method_is_unknown_method(client: AsyncWebClient) -> None:
    assert await error_code(client.api_call("chat.scheduleMessage", json={"channel": "C0FIN"})) == "unknown_method"


def test_recorder_wait_for_times_out_with_a_clear_message(fake: FakeSlack) -> None:
    with pytest.raises(TimeoutError, match=r"chat\.update"):
        fake.recorder.wait_for("chat.update", timeout_seconds=0.05)


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
        assert await error_code(client.chat_postMessage(channel="C0FIN", text="x")) == "channel_not_found"
    await client.chat_postMessage(channel="C0FIN", text="third time works")


# --- install and uninstall -------------------------------------------------------------------------------------


async def test_oauth_v2_access_exchanges_a_code_once_for_a_working_bot_token(fake: FakeSlack) -> None:
    redirect_uri = "https://example.com/slack/oauth_redirect"
    code = fake.issue_oauth_code(team_id="T0001", user_id="U0ANN", redirect_uri=redirect_uri)
    anonymous = AsyncWebClient(base_url=fake.api_url)
    credentials = {"client_id": "1111.2222", "client_secret": "fake-client-secret"}
    answer = await anonymous.oauth_v2_access(**credentials, code=code, redirect_uri=redirect_uri)
    assert answer["team"] == {"id": "T0001", "name": "Acme"} and answer["authed_user"] == {"id": "U0ANN"}
    assert answer["bot_user_id"] == "U0BOT" and answer["token_type"] == "bot"
    token = answer["access_token"]
    assert token.startswith("xoxb-")
    assert (await AsyncWebClient(token=token, base_url=fake.api_url).auth_test())["team_id"] == "T0001"
    assert "client_secret" not in fake.calls("oauth.v2.access")[0].params  # secrets are not recorded
    replay = anonymous.oauth_v2_access(**credentials, code=code, redirect_uri=redirect_uri)
    assert await error_code(replay) == "invalid_code"


async def test_oauth_v2_access_rejects_a_wrong_client_secret(fake: FakeSlack) -> None:
    code = fake.issue_oauth_code()
    exchange = AsyncWebClient(base_url=fake.api_url).oauth_v2_access(
        client_id="1111.2222", client_secret="nope", code=code
    )
    assert await error_code(exchange) == "bad_client_secret"


async def test_apps_uninstall_revokes_the_workspace_tokens(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.apps_uninstall(client_id="1111.2222", client_secret="fake-client-secret")
    assert not fake.token_is_active("xoxb-test")
    assert await error_code(client.auth_test()) == "token_revoked"


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


async def test_an_in_channel_response_notifies_and_replacing_the_original_does_not(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel="C0FIN", text="Sync failed")
    click_url = fake.new_response_url(channel_id="C0FIN", user_id="U0ANN", message_ts=posted["ts"])
    await AsyncWebhookClient(click_url).send(text="Retry requested by @ann", replace_original=True)
    await AsyncWebhookClient(click_url).send(text="Retried", response_type="in_channel")
    assert [(n.text, n.via) for n in fake.notifications("C0FIN")] == [
        ("Sync failed", "chat.postMessage"),
        ("Retried", "response_url"),
    ]


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
