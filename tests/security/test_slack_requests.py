"""Only requests Slack signed, recently, reach a listener: anything else is 401 and changes nothing."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qsl

import pytest

from devtools.signing import SlackActor, app_home_opened_event, event_callback_body, sign_request
from devtools.stack import ADMIN_USER, SIGNING_SECRET, TEAM_ID, LocalStack
from sync.api import TeamRef
from tests.reliability.support import Driver
from tests.security.support import command_body, post_signed

STALE_SECONDS = 6 * 60  # Slack's window is five minutes


def admin(stack: LocalStack) -> SlackActor:
    return stack.slack(ADMIN_USER).actor


async def queued_runs(driver: Driver) -> int:
    return len(await driver.runs())


CASES: dict[str, dict[str, Any]] = {
    "bad_signature": {"secret": "not-the-signing-secret"},
    "stale_timestamp": {"timestamp": -STALE_SECONDS},
    "future_timestamp": {"timestamp": +STALE_SECONDS},
    "missing_signature": {"headers": {"X-Slack-Signature": ""}},
    "missing_timestamp": {"headers": {"X-Slack-Request-Timestamp": ""}},
    "garbage_timestamp": {"headers": {"X-Slack-Request-Timestamp": "yesterday"}},
    # "²" (latin-1 0xB2) passes str.isdigit() but not int(): it used to be a 500.
    "superscript_timestamp": {"headers": {"X-Slack-Request-Timestamp": b"\xb2"}},
    "huge_timestamp": {"headers": {"X-Slack-Request-Timestamp": "9" * 5000}},
    # hmac.compare_digest raises TypeError for non-ASCII text: it used to be a 500.
    "non_ascii_signature": {"headers": {"X-Slack-Signature": b"v0=" + b"\xe9" * 64}},
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
async def test_an_unsigned_or_badly_timed_slash_command_is_refused_with_401_and_does_nothing(
    connected: Driver, case: str
) -> None:
    stack = connected.stack
    body = command_body(stack, admin(stack), "sync")
    runs_before = await queued_runs(connected)
    fields = dict(parse_qsl(body.decode()))
    # What an answer to this request would carry: its trigger_id or its response_url. Other calls may still arrive
    # from earlier tests of the module's shared stack (a summary being delivered), so "no call at all" would be
    # about timing, not about this request.
    handles = (fields["trigger_id"], fields["response_url"].rsplit("/", 1)[-1])
    options = dict(CASES[case])
    if "timestamp" in options:
        options["timestamp"] = int(time.time()) + int(options["timestamp"])

    answer = await asyncio.to_thread(post_signed, stack.app_url, body, **options)

    assert answer.status_code == 401, answer.text
    assert await queued_runs(connected) == runs_before, "no sync was queued"
    answered = [call for call in stack.fake_slack.calls() if any(h in json.dumps(call.params) for h in handles)]
    assert answered == [], "the app said nothing to Slack about this request"


async def test_the_same_command_signed_properly_does_queue_a_sync(connected: Driver) -> None:
    """The control for the refusals above: the request they tamper with works when intact."""
    stack = connected.stack
    runs_before = await queued_runs(connected)

    answer = await asyncio.to_thread(post_signed, stack.app_url, command_body(stack, admin(stack), "sync"))

    assert answer.status_code == 200
    await connected.wait_for_runs_to_settle(at_least=runs_before + 1)


async def test_a_captured_request_replayed_after_the_window_is_refused(connected: Driver) -> None:
    stack = connected.stack
    captured_at = int(time.time()) - STALE_SECONDS
    body = command_body(stack, admin(stack), "sync")
    runs_before = await queued_runs(connected)

    answer = await asyncio.to_thread(post_signed, stack.app_url, body, timestamp=captured_at)
    fresh_header_old_signature = await asyncio.to_thread(
        post_signed,
        stack.app_url,
        body,
        timestamp=captured_at,
        headers={"X-Slack-Request-Timestamp": str(int(time.time()))},
    )

    assert answer.status_code == 401 and fresh_header_old_signature.status_code == 401
    assert await queued_runs(connected) == runs_before


async def test_a_signed_body_that_was_tampered_with_is_refused(connected: Driver) -> None:
    stack = connected.stack
    body = command_body(stack, admin(stack), "status")
    signed_for = body
    tampered = body.replace(b"text=status", b"text=disconnect")
    assert tampered != signed_for
    answer = await asyncio.to_thread(
        post_signed, stack.app_url, tampered, headers=sign_request(SIGNING_SECRET, signed_for)
    )

    assert answer.status_code == 401
    status = await connected.runtime.service.status(TeamRef(TEAM_ID))
    assert status is not None and status.status == "active", "still connected"


async def test_events_and_interactions_without_a_valid_signature_are_refused(connected: Driver) -> None:
    stack = connected.stack
    # Bob, not an admin: the App Home the bot republishes after runs is never his, so any publish for him would
    # have come from the forged event.
    event = event_callback_body(admin(stack), app_home_opened_event("U0BOB"), bot_user_id="U0BOT")
    answer = await asyncio.to_thread(post_signed, stack.app_url, event, content_type="application/json", secret="wrong")
    assert answer.status_code == 401
    assert [c for c in stack.fake_slack.calls("views.publish") if c.params.get("user_id") == "U0BOB"] == []
