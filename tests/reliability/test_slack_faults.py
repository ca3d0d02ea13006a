"""Slack misbehaves while the worker reports: the summary still reaches someone who can act, and says where it went."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.stack import ADMIN_USER, FINANCE_CHANNEL
from tests.reliability.support import Driver, assert_nothing_lost_nor_doubled, wait_until


def direct_messages(driver: Driver) -> list[dict[str, Any]]:
    """Messages the app posted in DMs (conversations.open gave it the channel)."""
    fake = driver.stack.fake_slack
    channels = {
        str(call.params.get("channel"))
        for call in fake.calls("chat.postMessage")
        if str(call.params.get("channel", "")).startswith("D")
    }
    return [message for channel in sorted(channels) for message in fake.messages(channel)]


async def test_a_rate_limited_chat_post_is_retried_after_retry_after_and_the_summary_lands(driver: Driver) -> None:
    await driver.connect(map_all=False)
    driver.stack.fake_slack.rate_limit_next("chat.postMessage", retry_after=1)
    driver.stack.fake_slack.rate_limit_next("chat.update", retry_after=1)

    await driver.map_everything()

    outcome = await assert_nothing_lost_nor_doubled(driver)
    assert outcome.lost == 0
    statuses = [call.status for call in driver.stack.fake_slack.calls("chat.postMessage")]
    assert 429 in statuses and statuses[-1] == 200


@pytest.mark.parametrize("method", ["chat.postMessage", "chat.update"])
async def test_a_slack_server_error_while_reporting_never_stops_the_sync_and_the_summary_still_lands(
    driver: Driver, method: str
) -> None:
    await driver.connect(map_all=False)
    driver.stack.fake_slack.server_error_next(method, status=503)

    await driver.map_everything()

    outcome = await assert_nothing_lost_nor_doubled(driver)
    assert outcome.lost == 0
    assert 503 in [call.status for call in driver.stack.fake_slack.calls(method)]


PRIVATE_FINANCE_CHANNEL = "G0PAY"  # a private channel of the fake Slack


@pytest.mark.parametrize("problem", ["archived", "bot_removed_from_private_channel", "deleted"])
async def test_when_the_finance_channel_cannot_take_the_summary_it_goes_to_the_admin_by_dm_saying_why(
    driver: Driver, problem: str
) -> None:
    await driver.connect(map_all=False)
    channel = FINANCE_CHANNEL
    if problem == "deleted":
        channel = "C0GONE"
    elif problem == "archived":
        driver.stack.fake_slack.set_channel(FINANCE_CHANNEL, is_archived=True)
    else:
        # Public channels take posts without membership (chat:write.public); a private one does not.
        channel = PRIVATE_FINANCE_CHANNEL
        driver.stack.fake_slack.set_channel(channel, bot_is_member=True)
        await driver.configure(finance_channel=channel)
        driver.stack.fake_slack.set_channel(channel, bot_is_member=False)
    await driver.configure(finance_channel=channel)
    posted_before = len(driver.stack.fake_slack.messages(channel))

    await driver.map_everything()
    runs = await driver.wait_for_runs_to_settle()
    await driver.check_exactly_once()

    async def summary_in_dm() -> bool:
        return any("QuickBooks sync #" in str(m.get("text")) and "booked" in str(m.get("text"))
                   for m in direct_messages(driver))  # fmt: skip

    await wait_until(summary_in_dm, timeout_seconds=10, what="the run summary in the admin's DM")
    dm_text = str(direct_messages(driver))
    assert "Sent to you directly" in dm_text, "the DM says why it is not in the channel"
    first_dm = next(
        call for call in driver.stack.fake_slack.calls("chat.postMessage") if call.params["channel"][0] == "D"
    )
    assert channel in str(first_dm.params["blocks"]), "the first DM names the channel that could not take it"
    assert f"#{runs[0].id}" in dm_text
    opened = [call.params.get("users") for call in driver.stack.fake_slack.calls("conversations.open")]
    assert ADMIN_USER in opened
    assert len(driver.stack.fake_slack.messages(channel)) == posted_before, "nothing landed in the unusable channel"
