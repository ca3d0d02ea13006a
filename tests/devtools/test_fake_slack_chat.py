"""chat.* on the fake Slack: content checks, Slack's channel rules for every write, threads and notifications."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from devtools.fake_slack import FakeSlack
from tests.devtools.conftest import error_code, section

# --- content ---------------------------------------------------------------------------------------------------


async def test_post_message_is_recorded_stored_and_answered_with_ts(fake: FakeSlack, client: AsyncWebClient) -> None:
    answer = await client.chat_postMessage(channel="C0FIN", text="Sync done", blocks=[section("*Sync* done")])
    call = fake.calls("chat.postMessage")[0]
    assert call.params["text"] == "Sync done" and call.params["channel"] == "C0FIN"
    assert call.status == 200 and call.error is None
    stored = fake.message("C0FIN", answer["ts"])
    assert stored is not None and stored["blocks"][0]["text"]["text"] == "*Sync* done"
    assert stored["blocks"][0]["block_id"]  # Slack fills in block ids
    assert answer["channel"] == "C0FIN" and answer["message"]["bot_id"] == "B0BOT"


async def test_post_message_accepts_a_channel_name_and_answers_with_the_id(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    answer = await client.chat_postMessage(channel="#finance", text="by name")
    assert answer["channel"] == "C0FIN"
    assert fake.messages("C0FIN")[0]["text"] == "by name"


async def test_message_without_text_or_blocks_is_no_text(client: AsyncWebClient) -> None:
    assert await error_code(client.api_call("chat.postMessage", json={"channel": "C0FIN"})) == "no_text"


async def test_fifty_blocks_are_accepted_fifty_one_are_invalid_blocks(client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel="C0FIN", text="ok", blocks=[section(f"row {i}") for i in range(50)])
    too_many = client.chat_postMessage(channel="C0FIN", text="too many", blocks=[section(f"r{i}") for i in range(51)])
    assert await error_code(too_many) == "invalid_blocks"


async def test_section_text_over_3000_characters_is_invalid_blocks(client: AsyncWebClient) -> None:
    assert await error_code(client.chat_postMessage(channel="C0FIN", text="x", blocks=[section("y" * 3001)])) == (
        "invalid_blocks"
    )


async def test_update_with_text_only_drops_the_blocks(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0FIN", text="Syncing", blocks=[section("Syncing 1/10")])
    await client.chat_update(channel="C0FIN", ts=posted["ts"], text="Synced")
    stored = fake.message("C0FIN", posted["ts"])
    assert stored is not None and stored["text"] == "Synced" and stored["blocks"] == []
    assert "edited" in stored


async def test_update_text_over_4000_characters_is_msg_too_long(client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0FIN", text="Syncing")
    assert await error_code(client.chat_update(channel="C0FIN", ts=posted["ts"], text="x" * 4001)) == "msg_too_long"


async def test_update_of_an_unknown_message_is_message_not_found(client: AsyncWebClient) -> None:
    assert await error_code(client.chat_update(channel="C0FIN", ts="1.000001", text="x")) == "message_not_found"


async def test_post_ephemeral_needs_the_user_in_the_channel(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_channel("C0OPS", "ops", members=["U0ANN"])
    await client.chat_postEphemeral(channel="C0OPS", user="U0ANN", text="only you")
    assert fake.ephemerals(user_id="U0ANN")[0]["text"] == "only you"
    assert await error_code(client.chat_postEphemeral(channel="C0OPS", user="U0BOB", text="x")) == (
        "user_not_in_channel"
    )


async def test_a_person_taken_out_of_a_channel_gets_no_ephemeral_there(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.chat_postEphemeral(channel="C0FIN", user="U0BOB", text="while bob is in")
    fake.set_channel("C0FIN", members=["U0ANN"])
    assert await error_code(client.chat_postEphemeral(channel="C0FIN", user="U0BOB", text="x")) == (
        "user_not_in_channel"
    )


async def test_permalink_points_at_the_message(client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0FIN", text="Sync done")
    answer = await client.chat_getPermalink(channel="C0FIN", message_ts=posted["ts"])
    assert answer["permalink"] == f"https://acme.slack.com/archives/C0FIN/p{posted['ts'].replace('.', '')}"


# --- channel rules, the same for every write -------------------------------------------------------------------

Write = Callable[[AsyncWebClient, str, str], Awaitable[Any]]
WRITES: dict[str, Write] = {
    "chat.postMessage": lambda client, channel, _ts: client.chat_postMessage(channel=channel, text="x"),
    "chat.update": lambda client, channel, ts: client.chat_update(channel=channel, ts=ts, text="x"),
    "chat.postEphemeral": lambda client, channel, _ts: client.chat_postEphemeral(
        channel=channel, user="U0ANN", text="x"
    ),
}


def archive(fake: FakeSlack, channel_id: str) -> None:
    fake.set_channel(channel_id, is_archived=True)


def remove_bot(fake: FakeSlack, channel_id: str) -> None:
    fake.set_channel(channel_id, bot_is_member=False)


def remove_bot_and_chat_write_public(fake: FakeSlack, channel_id: str) -> None:
    remove_bot(fake, channel_id)
    fake.set_token_scopes("xoxb-test", fake.token_scopes("xoxb-test") - {"chat:write.public"})


def forget(fake: FakeSlack, channel_id: str) -> None:
    """Nothing to change: the test writes to a channel id Slack never had."""


# (what happens to a channel the bot could write in, the channel, Slack's answer; None: the write goes through)
CHANNEL_CASES = {
    "archived": (archive, "C0FIN", "is_archived"),
    "public_without_the_bot_and_chat_write_public": (remove_bot_and_chat_write_public, "C0FIN", "not_in_channel"),
    "public_without_the_bot_with_chat_write_public": (remove_bot, "C0FIN", None),
    "private_without_the_bot": (remove_bot, "G0OPS", "channel_not_found"),
    "unknown": (forget, "C0GONE", "channel_not_found"),
}


@pytest.mark.parametrize("method", list(WRITES))
@pytest.mark.parametrize("case", list(CHANNEL_CASES))
async def test_every_write_follows_slacks_channel_rules(
    fake: FakeSlack, client: AsyncWebClient, method: str, case: str
) -> None:
    change, channel, expected = CHANNEL_CASES[case]
    fake.add_channel("G0OPS", "ops-private", is_private=True, bot_is_member=True)
    ts = "1.000001"
    if channel != "C0GONE":  # a message of the bot's, posted while it still could, for chat.update to edit
        ts = (await client.chat_postMessage(channel=channel, text="before"))["ts"]
    change(fake, channel)
    write = WRITES[method](client, channel, ts)
    if expected is None:
        assert (await write)["ok"] is True
    else:
        assert await error_code(write) == expected
        assert [m["text"] for m in fake.messages(channel)] == (["before"] if channel != "C0GONE" else [])


async def test_posting_to_a_made_up_id_is_channel_not_found(client: AsyncWebClient) -> None:
    assert await error_code(client.chat_postMessage(channel="system", text="x")) == "channel_not_found"


async def test_posting_to_a_person_lands_in_the_apps_dm_with_them(fake: FakeSlack, client: AsyncWebClient) -> None:
    answer = await client.chat_postMessage(channel="U0ANN", text="hi")
    assert answer["channel"].startswith("D")
    assert fake.messages(answer["channel"])[0]["text"] == "hi"


# --- threads ---------------------------------------------------------------------------------------------------


async def test_replies_are_kept_in_their_thread_apart_from_the_top_level(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    parent = (await client.chat_postMessage(channel="C0FIN", text="Sync #7: 2 failures"))["ts"]
    await client.chat_postMessage(channel="C0FIN", thread_ts=parent, text="Invoice 1 failed")
    await client.chat_postMessage(channel="C0FIN", thread_ts=parent, text="Invoice 2 failed", reply_broadcast=True)
    await client.chat_postMessage(channel="C0FIN", text="Sync #8 started")

    replies = fake.replies("C0FIN", parent)
    assert [(r["text"], r["thread_ts"], r["reply_broadcast"]) for r in replies] == [
        ("Invoice 1 failed", parent, False),
        ("Invoice 2 failed", parent, True),
    ]
    assert replies[1]["subtype"] == "thread_broadcast"
    assert [m["text"] for m in fake.top_level("C0FIN")] == ["Sync #7: 2 failures", "Sync #8 started"]
    assert len(fake.messages("C0FIN")) == 4  # messages() is everything, replies included


async def test_a_reply_needs_its_parent_in_that_channel(fake: FakeSlack, client: AsyncWebClient) -> None:
    parent = (await client.chat_postMessage(channel="C0FIN", text="Sync done"))["ts"]
    reply = (await client.chat_postMessage(channel="C0FIN", thread_ts=parent, text="details"))["ts"]
    assert await error_code(client.chat_postMessage(channel="C0FIN", thread_ts="1.000009", text="x")) == (
        "thread_not_found"
    )
    assert await error_code(client.chat_postMessage(channel="C0GEN", thread_ts=parent, text="x")) == (
        "thread_not_found"
    )
    # Slack: "Never use a reply's ts value; use its parent instead."
    assert await error_code(client.chat_postMessage(channel="C0FIN", thread_ts=reply, text="x")) == ("thread_not_found")
    assert fake.replies("C0FIN", parent) == [fake.message("C0FIN", reply)]


# --- notifications ---------------------------------------------------------------------------------------------


async def test_new_posts_and_replies_notify_and_edits_do_not(fake: FakeSlack, client: AsyncWebClient) -> None:
    parent = (await client.chat_postMessage(channel="C0FIN", text="Syncing"))["ts"]
    await client.chat_update(channel="C0FIN", ts=parent, text="Synced, 1 failure")
    reply = (await client.chat_postMessage(channel="C0FIN", thread_ts=parent, text="Invoice 1 failed"))["ts"]
    await client.chat_update(channel="C0FIN", ts=reply, text="Invoice 1 failed (retried)")

    assert [(n.ts, n.thread_ts) for n in fake.notifications("C0FIN")] == [(parent, None), (reply, parent)]
    [in_thread] = fake.notifications("C0FIN", thread_ts=parent)
    assert (in_thread.text, in_thread.via, in_thread.broadcast) == ("Invoice 1 failed", "chat.postMessage", False)
    assert fake.notifications("C0GEN") == []
