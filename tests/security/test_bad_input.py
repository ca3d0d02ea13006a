"""Whatever people type (very long, unicode, control characters, injection strings), the app answers with a message
that says what to do: never a 5xx, never a traceback, never "something went wrong on my side"."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.signing import FORM_CONTENT_TYPE, interactive_body, sign_request, view_submission_payload
from devtools.stack import ADMIN_USER, SIGNING_SECRET, LocalStack
from handlers.ids import ConnectIds, MappingIds, SettingsIds
from tests.security.support import command_body, state_from_view

INJECTIONS = [
    "'; DROP TABLE sync_runs; --",
    '" OR 1=1 --',
    "<script>alert(1)</script>",
    "<!channel> <@U0ANN> <#C0FIN>",
    "*bold* _it_ `code` ```block```",
    "{{7*7}} ${jndi:ldap://x} %s%s%n",
    "../../etc/passwd",
    'payload={"type":"view_submission"}',
    "\x00\x01\x1b[31m\u202e\ufeff",
    "sync " + "9" * 400,
    "map " + "ñ" * 3000,
]
SUBCOMMANDS = ["sync", "sync preview", "status", "map", "vendors", "settings", "connect", "disconnect", "help", ""]
SIDE_DOOR = "Something went wrong on my side"

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=400)
command_texts = st.one_of(
    texts,
    st.sampled_from(INJECTIONS),
    st.builds(lambda sub, rest: f"{sub} {rest}", st.sampled_from(SUBCOMMANDS), texts),
    st.builds(lambda word, times: word * times, st.sampled_from(["x", "é", "🙂", "\t", " "]), st.integers(1, 3000)),
)
HYPOTHESIS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def post(stack: LocalStack, body: bytes) -> httpx.Response:
    headers = {"Content-Type": FORM_CONTENT_TYPE, **sign_request(SIGNING_SECRET, body)}
    return httpx.post(f"{stack.app_url}/slack/events", content=body, headers=headers, timeout=15)


def side_door_answers(stack: LocalStack) -> list[str]:
    """Everything the app sent that is the generic "unexpected error" message."""
    return [
        json.dumps(call.params, ensure_ascii=False)
        for call in stack.fake_slack.calls()
        if SIDE_DOOR in json.dumps(call.params, ensure_ascii=False)
    ]


@HYPOTHESIS
@given(text=command_texts)
def test_any_slash_command_text_gets_a_helpful_answer_and_never_an_error(
    connected_stack: LocalStack, text: str
) -> None:
    stack = connected_stack
    actor = stack.slack(ADMIN_USER).actor

    answer = post(stack, command_body(stack, actor, text))

    assert answer.status_code == 200, (text, answer.status_code, answer.text[:200])
    assert "Traceback" not in answer.text
    if answer.text:
        assert json.loads(answer.text).get("text"), "an immediate answer carries text"
    assert side_door_answers(stack) == [], text


def opened_view(stack: LocalStack, subcommand: str, callback_id: str) -> dict[str, Any]:
    actor = stack.slack(ADMIN_USER).actor
    assert post(stack, command_body(stack, actor, subcommand)).status_code == 200
    stack.fake_slack.recorder.wait_for("views.update", 1, timeout_seconds=5)
    deadline = time.monotonic() + 5
    while (view := stack.fake_slack.last_view(callback_id, user_id=ADMIN_USER)) is None:
        assert time.monotonic() < deadline, f"no {callback_id} modal"
        time.sleep(0.02)
    return view


@pytest.fixture(scope="module")
def admin_views(connected_stack: LocalStack) -> dict[str, dict[str, Any]]:
    return {
        "settings": opened_view(connected_stack, "settings", SettingsIds.CALLBACK),
        "connect": opened_view(connected_stack, "connect", ConnectIds.CALLBACK),
        "map": opened_view(connected_stack, "map", MappingIds.CALLBACK),
    }


def submit(stack: LocalStack, view: dict[str, Any], values: dict[str, Any]) -> httpx.Response:
    actor = stack.slack(ADMIN_USER).actor
    payload = view_submission_payload(actor, view, values, trigger_id=stack.fake_slack.mint_trigger_id(ADMIN_USER))
    return post(stack, interactive_body(payload))


def first_concept_block(view: dict[str, Any]) -> str:
    return next(
        str(block["block_id"]) for block in view["blocks"] if str(block.get("block_id", "")).startswith("concept:")
    )


@HYPOTHESIS
@given(
    timezone=st.one_of(texts, st.sampled_from(INJECTIONS)),
    hour=st.one_of(texts, st.integers(-100, 100).map(str)),
    email=st.one_of(texts, st.sampled_from(INJECTIONS), st.emails()),
    password=texts,
    account=st.one_of(texts, st.sampled_from(INJECTIONS)),
)
def test_any_modal_values_get_an_inline_error_or_a_result_and_never_an_error(
    connected_stack: LocalStack,
    admin_views: dict[str, dict[str, Any]],
    timezone: str,
    hour: str,
    email: str,
    password: str,
    account: str,
) -> None:
    stack = connected_stack
    settings_view, connect_view, map_view = admin_views["settings"], admin_views["connect"], admin_views["map"]
    option = {"text": {"type": "plain_text", "text": hour[:75] or "?"}, "value": hour[:150] or "?"}
    submissions: list[tuple[dict[str, Any], dict[str, dict[str, Any]]]] = [
        (
            settings_view,
            {
                SettingsIds.TIMEZONE_BLOCK.value: {"value": timezone},
                SettingsIds.HOUR_BLOCK.value: {"selected_option": option},
            },
        ),
        (
            connect_view,
            {ConnectIds.EMAIL_BLOCK.value: {"value": email}, ConnectIds.PASSWORD_BLOCK.value: {"value": password}},
        ),
        (
            map_view,
            {
                first_concept_block(map_view): {
                    "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": account[:150] or "x"}
                }
            },
        ),
    ]
    for view, overrides in submissions:
        answer = submit(stack, view, state_from_view(view, overrides))

        assert answer.status_code == 200, (view["callback_id"], answer.status_code, answer.text[:200])
        assert "Traceback" not in answer.text
        action = json.loads(answer.text).get("response_action") if answer.text else None
        assert action in ("errors", "update"), answer.text[:200]
    assert side_door_answers(stack) == []
