"""Whatever people type (very long, unicode, control characters, injection strings), the app answers with a message
that says what to do: never a 5xx, never a traceback, never "something went wrong on my side"."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.web import DEFAULT_BODY_LIMIT
from devtools.browser import ONTOP_LOGIN_PATH, link_in
from devtools.signing import FORM_CONTENT_TYPE, interactive_body, sign_request, view_submission_payload
from devtools.stack import ADMIN_USER, SIGNING_SECRET, LocalStack
from handlers.ids import ConnectIds, MappingIds, MiscIds, SettingsIds
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


def view_updates(stack: LocalStack, view_id: str) -> list[dict[str, Any]]:
    """Every view the app sent to replace this modal (views.update), oldest first."""
    return [
        call.params.get("view") or {}
        for call in stack.fake_slack.calls("views.update")
        if call.params.get("view_id") == view_id
    ]


def after_the_ack(stack: LocalStack, view_id: str, before: int) -> dict[str, Any]:
    """The view the app shows once its work after the ack is done: the first views.update past `before` that is not
    a "working on it" view (every submission acked with a loading view ends with one, whatever happened)."""
    deadline = time.monotonic() + 20
    while True:
        shown = view_updates(stack, view_id)[before:]
        final = [view for view in shown if view.get("callback_id") != MiscIds.LOADING]
        if final:
            return final[0]
        assert time.monotonic() < deadline, f"the app never replaced the loading view of {view_id}: {shown}"
        time.sleep(0.02)


def ontop_login(stack: LocalStack, connect_view: dict[str, Any], fields: dict[str, str]) -> httpx.Response:
    """Open the Ontop login page the connect modal links to, and post its form with these fields filled."""
    with httpx.Client(timeout=15) as browser:
        page = browser.get(link_in(connect_view, ONTOP_LOGIN_PATH))
        assert page.status_code == 200, page.text[:300]
        hidden = dict(re.findall(r'<input type="hidden" name="([a-z]+)" value="([^"]*)">', page.text))
        return browser.post(f"{stack.app_url}{ONTOP_LOGIN_PATH}", data={**hidden, **fields})


@HYPOTHESIS
@given(
    timezone=st.one_of(texts, st.sampled_from(INJECTIONS)),
    hour=st.one_of(texts, st.integers(-100, 100).map(str)),
    email=st.one_of(texts, st.sampled_from(INJECTIONS), st.emails()),
    password=texts,
    backfill=st.one_of(texts, st.dates().map(str)),
    account=st.one_of(texts, st.sampled_from(INJECTIONS)),
)
def test_any_modal_or_login_page_values_get_an_error_where_typed_or_a_result_and_never_an_error(
    connected_stack: LocalStack,
    admin_views: dict[str, dict[str, Any]],
    timezone: str,
    hour: str,
    email: str,
    password: str,
    backfill: str,
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
        (connect_view, {}),  # *Check*: nothing is typed into this modal any more
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
        before = len(view_updates(stack, view["id"]))
        answer = submit(stack, view, state_from_view(view, overrides))

        assert answer.status_code == 200, (view["callback_id"], answer.status_code, answer.text[:200])
        assert "Traceback" not in answer.text
        action = json.loads(answer.text).get("response_action") if answer.text else None
        assert action in ("errors", "update"), answer.text[:200]
        if action == "update":  # acked with "working on it": what the person finally sees comes after the ack
            shown = json.dumps(after_the_ack(stack, view["id"], before), ensure_ascii=False)
            assert SIDE_DOOR not in shown and "Traceback" not in shown, (view["callback_id"], shown[:300])

    # The Ontop login moved to the bot's own page: the same kind of input there gets a 400 page saying what is
    # wrong (the connection's real login is never replaced by a refused one).
    fields = {"email": email, "password": password, "backfill": backfill}
    page = ontop_login(stack, connect_view, fields)
    if len(urlencode(fields)) > DEFAULT_BODY_LIMIT - 1024:  # the form's own hidden fields take the rest
        # Longer than any login form needs: refused before anything reads it (the body limit), never a 500.
        assert page.status_code == 413, (len(urlencode(fields)), page.status_code, page.text[:300])
    else:
        assert page.status_code == 400, (email, backfill, page.status_code, page.text[:300])
        assert 'class="error"' in page.text
    assert "Traceback" not in page.text
    assert side_door_answers(stack) == []
