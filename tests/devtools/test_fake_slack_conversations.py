"""conversations.* and users.info on the fake Slack: channels seen as the bot sees them, DMs only with people."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from devtools.fake_slack import FakeSlack
from tests.devtools.conftest import error_code, slack_error


async def test_conversations_info_shows_public_channels_and_hides_private_ones_without_the_bot(
    client: AsyncWebClient,
) -> None:
    info = await client.conversations_info(channel="C0GEN")
    assert info["channel"]["is_member"] is False and info["channel"]["name"] == "general"
    assert await error_code(client.conversations_info(channel="G0PAY")) == "channel_not_found"


async def test_conversations_join_needs_channels_join_which_the_manifest_does_not_ask_for(
    client: AsyncWebClient,
) -> None:
    assert await error_code(client.conversations_join(channel="C0GEN")) == "missing_scope"


async def test_conversations_open_with_a_person_opens_one_dm_the_bot_can_post_in(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    opened = await client.conversations_open(users="U0ANN")
    again = await client.conversations_open(users="U0ANN")
    dm = opened["channel"]["id"]
    assert dm.startswith("D") and again["channel"]["id"] == dm
    await client.chat_postMessage(channel=dm, text="hi in DM")
    assert fake.messages(dm)[0]["text"] == "hi in DM"


@pytest.mark.parametrize(
    "users",
    ["system", "", "C0FIN", "U0NOPE", "U2EVE", "U0ANN,system"],
    ids=["made_up_text", "empty", "a_channel_id", "unknown_user", "user_of_another_workspace", "one_of_two_unknown"],
)
async def test_conversations_open_refuses_anything_but_a_person_of_the_workspace(
    fake: FakeSlack, client: AsyncWebClient, users: str
) -> None:
    fake.add_team("T0002", "Other", domain="other", bot_token=None, bot_user_id="U2BOT", bot_id="B2BOT")
    fake.add_user("U2EVE", "eve", team_id="T0002")
    assert await error_code(client.conversations_open(users=users)) == "user_not_found"


async def test_conversations_open_with_the_bot_itself_is_cannot_dm_bot(client: AsyncWebClient) -> None:
    assert await error_code(client.conversations_open(users="U0BOT")) == "cannot_dm_bot"


async def test_conversations_open_needs_im_write(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.set_token_scopes("xoxb-test", fake.token_scopes("xoxb-test") - {"im:write"})
    error = await slack_error(client.conversations_open(users="U0ANN"))
    assert (error.response["error"], error.response["needed"]) == ("missing_scope", "im:write")


async def test_users_info_reports_admin_flags_over_get(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_user("U0OWN", "olivia", is_owner=True)
    ann, bob, owner = [(await client.users_info(user=u))["user"] for u in ("U0ANN", "U0BOB", "U0OWN")]
    assert (ann["is_admin"], bob["is_admin"], owner["is_owner"]) == (True, False, True)
    assert fake.calls("users.info")[0].http_method == "GET"


@pytest.mark.parametrize("user", ["U0NOPE", "system", "U2EVE"])
async def test_users_info_of_anyone_not_in_the_workspace_is_user_not_found(
    fake: FakeSlack, client: AsyncWebClient, user: str
) -> None:
    fake.add_team("T0002", "Other", domain="other", bot_token=None, bot_user_id="U2BOT", bot_id="B2BOT")
    fake.add_user("U2EVE", "eve", team_id="T0002")
    assert await error_code(client.users_info(user=user)) == "user_not_found"
