"""Signed requests are exactly what Slack sends: Bolt verifies, parses and routes every one of them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devtools.fake_slack import FakeSlack
from devtools.server import BackgroundServer
from devtools.signing import (
    SlackActor,
    SlackClientSimulator,
    interactive_body,
    plain_text_state,
    selected_option_state,
    sign_request,
    slash_command_body,
    tokens_revoked_event,
)

SECRET = "test-signing-secret"

# Slack's documented example (docs: authentication/verifying-requests-from-slack).
EXAMPLE_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
EXAMPLE_TIMESTAMP = 1531420618
EXAMPLE_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
EXAMPLE_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


# --- the signer ------------------------------------------------------------------------------------------------


def test_signer_reproduces_slacks_documented_example() -> None:
    headers = sign_request(EXAMPLE_SECRET, EXAMPLE_BODY, EXAMPLE_TIMESTAMP)
    assert headers == {"X-Slack-Request-Timestamp": "1531420618", "X-Slack-Signature": EXAMPLE_SIGNATURE}


def test_slack_sdk_verifier_accepts_our_signature_and_rejects_tampering() -> None:
    body = slash_command_body(SlackActor(), text="sync")
    headers = sign_request(SECRET, body)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    assert not verifier.is_valid_request(body + b"&x=1", headers)
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)


def test_signature_older_than_five_minutes_is_rejected_by_the_verifier() -> None:
    body = b"token=x"
    stale = sign_request(SECRET, body, int(time.time()) - 301)
    assert not SignatureVerifier(SECRET).is_valid_request(body, stale)


def test_empty_signing_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="signing_secret"):
        sign_request("", b"")


def test_slash_command_body_has_slacks_fields() -> None:
    actor = SlackActor(team_id="T0001", user_id="U0ANN", enterprise_id="E0ENT", enterprise_name="Acme Group")
    fields = parse_qs(slash_command_body(actor, text="map hosting", trigger_id="1.2.3").decode())
    assert fields["command"] == ["/qbo"] and fields["text"] == ["map hosting"]
    assert fields["team_id"] == ["T0001"] and fields["user_id"] == ["U0ANN"] and fields["trigger_id"] == ["1.2.3"]
    assert fields["enterprise_id"] == ["E0ENT"] and fields["is_enterprise_install"] == ["false"]
    assert {"response_url", "channel_id", "channel_name", "api_app_id", "team_domain"} <= set(fields)


def test_interactive_body_is_a_url_encoded_payload_field() -> None:
    fields = parse_qs(interactive_body({"type": "view_closed", "note": "a&b=c"}).decode())
    assert json.loads(fields["payload"][0]) == {"type": "view_closed", "note": "a&b=c"}


# --- the simulator against a real Bolt app ---------------------------------------------------------------------


@dataclass
class Seen:
    """What the little Bolt app's listeners received."""

    submissions: list[dict[str, Any]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


def wait_until(condition: Callable[[], bool], timeout_seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def mapping_modal() -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "qbo_map",
        "notify_on_close": True,
        "title": {"type": "plain_text", "text": "Map accounts"},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            {
                "type": "input",
                "block_id": "concept:hosting",
                "label": {"type": "plain_text", "text": "Hosting"},
                "element": {"type": "external_select", "action_id": "qbo_account", "min_query_length": 1},
            },
            {"type": "actions", "elements": [{"type": "button", "action_id": "refresh", "text": _plain("Refresh")}]},
        ],
    }


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def build_bolt_app(fake: FakeSlack, seen: Seen) -> AsyncApp:
    """A minimal app shaped like ours: /qbo, a retry button, the mapping modal with options, App Home."""
    app = AsyncApp(signing_secret=SECRET, client=AsyncWebClient(token="xoxb-test", base_url=fake.api_url))

    @app.command("/qbo")
    async def qbo(ack: Any, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack(text=f"got {command['text']}")
        if command["text"] == "map":
            await client.views_open(trigger_id=command["trigger_id"], view=mapping_modal())
        elif command["text"] == "alert":
            await client.chat_postMessage(
                channel=command["channel_id"],
                text="Sync failed",
                blocks=[
                    {
                        "type": "actions",
                        "block_id": "alert-actions",
                        "elements": [
                            {
                                "type": "button",
                                "action_id": "sync_retry",
                                "value": "job:6f1c2a",
                                "text": _plain("Retry"),
                            }
                        ],
                    }
                ],
            )

    @app.action("sync_retry")
    async def retry(ack: Any, action: dict[str, Any], body: dict[str, Any], respond: Any) -> None:
        await ack()
        await respond(text=f"Retry of {action['value']} requested by {body['user']['id']}", replace_original=True)

    @app.action("refresh")
    async def refresh(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        view = body["view"]
        await client.views_update(view_id=view["id"], hash=view["hash"], view={**mapping_modal(), "blocks": []})

    @app.options("qbo_account")
    async def accounts(ack: Any, payload: dict[str, Any]) -> None:
        names = ["60200 Software", "60300 Hosting", "61000 Travel"]
        matching = [n for n in names if payload["value"].lower() in n.lower()]
        await ack(options=[{"text": _plain(n), "value": n.split()[0]} for n in matching])

    @app.view("qbo_map")
    async def save_mapping(ack: Any, view: dict[str, Any]) -> None:
        chosen = view["state"]["values"]["concept:hosting"]["qbo_account"]["selected_option"]
        if chosen is None:
            await ack(response_action="errors", errors={"concept:hosting": "Pick an expense account"})
            return
        seen.submissions.append(chosen)
        await ack()

    @app.view_closed("qbo_map")
    async def closed(ack: Any, view: dict[str, Any]) -> None:
        seen.closed.append(view["id"])
        await ack()

    @app.event("app_home_opened")
    async def home(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event["tab"] == "home":
            await client.views_publish(user_id=event["user"], view={"type": "home", "blocks": []})

    @app.event("tokens_revoked")
    async def revoked(event: dict[str, Any]) -> None:
        seen.events.append(event["type"])

    return app


@dataclass
class Harness:
    fake: FakeSlack
    app_url: str
    seen: Seen


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    # Expiry is covered with a manual clock in test_fake_slack; here a loaded CI machine must not trip it.
    with FakeSlack(trigger_ttl_seconds=30) as fake:
        seen = Seen()
        handler = AsyncSlackRequestHandler(build_bolt_app(fake, seen))

        async def events(request: Request) -> Response:
            return await handler.handle(request)

        web = Starlette(routes=[Route("/slack/events", events, methods=["POST"])])
        with BackgroundServer(web) as server:
            yield Harness(fake, server.url, seen)


def simulator(harness: Harness, user_id: str = "U0ANN") -> SlackClientSimulator:
    return SlackClientSimulator(harness.app_url, SECRET, "T0001", user_id, harness.fake)


async def open_mapping_modal(harness: Harness) -> str:
    before = len(harness.fake.calls("views.open"))
    async with simulator(harness) as slack:
        assert (await slack.command("map")).status_code == 200
    harness.fake.recorder.wait_for("views.open", count=before + 1)
    view = harness.fake.last_view("qbo_map", user_id="U0ANN")
    assert view is not None
    return str(view["id"])


async def test_slash_command_is_verified_and_acked(harness: Harness) -> None:
    async with simulator(harness) as slack:
        answer = await slack.command("status")
    assert answer.status_code == 200
    assert answer.text == "got status"  # Bolt acks a text-only reply as plain text


async def test_bad_or_stale_signature_is_refused_with_401(harness: Harness) -> None:
    async with simulator(harness) as slack:
        stale = await slack.post(
            slash_command_body(slack.actor, text="x"),
            "application/x-www-form-urlencoded",
            timestamp=int(time.time()) - 301,
        )
    async with SlackClientSimulator(harness.app_url, "wrong-secret", "T0001", "U0ANN", harness.fake) as forger:
        forged = await forger.command("status")
    assert (stale.status_code, forged.status_code) == (401, 401)


async def test_command_trigger_id_opens_a_modal_on_the_fake(harness: Harness) -> None:
    view_id = await open_mapping_modal(harness)
    assert harness.fake.calls("views.open")[-1].error is None
    assert harness.fake.view(view_id) is not None


async def test_options_request_is_answered_in_the_ack(harness: Harness) -> None:
    view_id = await open_mapping_modal(harness)
    async with simulator(harness) as slack:
        answer = await slack.suggest(view_id, "concept:hosting", "qbo_account", "host")
    assert answer.json()["options"] == [{"text": _plain("60300 Hosting"), "value": "60300"}]


async def test_view_submission_carries_the_state_values(harness: Harness) -> None:
    view_id = await open_mapping_modal(harness)
    async with simulator(harness) as slack:
        empty = await slack.submit_view(
            view_id, {"concept:hosting": {"qbo_account": {"type": "external_select", "selected_option": None}}}
        )
        chosen = await slack.submit_view(
            view_id, {"concept:hosting": {"qbo_account": selected_option_state("60300", "60300 Hosting")}}
        )
    assert empty.json() == {"response_action": "errors", "errors": {"concept:hosting": "Pick an expense account"}}
    assert (chosen.status_code, chosen.text) == (200, "")
    assert harness.seen.submissions[-1]["value"] == "60300"


async def test_view_closed_reaches_the_listener(harness: Harness) -> None:
    view_id = await open_mapping_modal(harness)
    async with simulator(harness) as slack:
        assert (await slack.close_view(view_id)).status_code == 200
    assert view_id in harness.seen.closed


async def test_button_in_a_modal_gets_a_trigger_and_the_view(harness: Harness) -> None:
    view_id = await open_mapping_modal(harness)
    before = len(harness.fake.calls("views.update"))
    async with simulator(harness) as slack:
        assert (await slack.click_view_element(view_id, "refresh")).status_code == 200
    updates = harness.fake.recorder.wait_for("views.update", count=before + 1)
    assert updates[-1].error is None  # the hash from the simulated payload matched the fake's
    refreshed = harness.fake.view(view_id)
    assert refreshed is not None and refreshed["blocks"] == []


async def test_click_on_a_message_button_uses_the_message_response_url(harness: Harness) -> None:
    async with simulator(harness) as slack:
        await slack.command("alert")
        harness.fake.recorder.wait_for("chat.postMessage")
        ts = next(m["ts"] for m in harness.fake.messages("C0FIN") if m["text"] == "Sync failed")
        responses_before = len(harness.fake.calls("response_url"))
        answer = await slack.as_user("U0BOB").click_message_button("C0FIN", ts, "sync_retry")
    assert answer.status_code == 200
    harness.fake.recorder.wait_for("response_url", count=responses_before + 1)  # respond() runs after the ack
    message = harness.fake.message("C0FIN", ts)
    assert message is not None and message["text"] == "Retry of job:6f1c2a requested by U0BOB"


async def test_app_home_opened_and_url_verification(harness: Harness) -> None:
    async with simulator(harness) as slack:
        challenge = await slack.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
        assert challenge.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
        assert (await slack.open_home()).status_code == 200
        assert (await slack.event(tokens_revoked_event(bot=["U0BOT"]))).status_code == 200
    harness.fake.recorder.wait_for("views.publish")
    assert harness.fake.home_view("U0ANN") is not None
    # Bolt acks events first and runs the listener after: poll briefly.
    assert wait_until(lambda: "tokens_revoked" in harness.seen.events)


def test_simulator_refuses_a_user_the_fake_does_not_know(harness: Harness) -> None:
    with pytest.raises(LookupError, match="U0GHOST"):
        SlackClientSimulator(harness.app_url, SECRET, "T0001", "U0GHOST", harness.fake)


def test_state_helpers_match_slacks_shapes() -> None:
    assert plain_text_state("hi") == {"type": "plain_text_input", "value": "hi"}
    assert selected_option_state("1", "One")["selected_option"] == {"text": _plain("One"), "value": "1"}
