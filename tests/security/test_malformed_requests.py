"""A request signed with the signing secret but not shaped like anything Slack sends is a 4xx, never a 500.

Only a holder of the signing secret can send these; still, a bug on Slack's side or a leaked secret must meet a
clean refusal: a 500 pages someone (and for deep nesting it used to be a RecursionError). The signature is checked
on the raw bytes first, so everything here reaches the parsing and the shape checks that follow it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.signing import FORM_CONTENT_TYPE, sign_request
from devtools.stack import SIGNING_SECRET, LocalStack
from handlers.ids import ConnectIds, HomeIds, MappingIds, SettingsIds, VendorIds

JSON = "application/json"


def post_as(stack: LocalStack, body: bytes, content_type: str) -> httpx.Response:
    headers = {"Content-Type": content_type, **sign_request(SIGNING_SECRET, body)}
    return httpx.post(f"{stack.app_url}/slack/events", content=body, headers=headers, timeout=15)


def as_payload(payload: object) -> tuple[bytes, str]:
    return urlencode({"payload": json.dumps(payload)}).encode(), FORM_CONTENT_TYPE


def as_json(body: object) -> tuple[bytes, str]:
    return json.dumps(body).encode(), JSON


DEEP = 20_000


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    return value


VIEW = {"id": "V1", "type": "modal", "callback_id": SettingsIds.CALLBACK.value, "state": {"values": {}}}
MALFORMED: dict[str, tuple[bytes, str]] = {
    "invalid_utf8": (b"\xff\xfe\xfd{", JSON),
    "truncated_json": (b'{"type": "event_callback", "event": ', JSON),
    "json_array": (b"[1, 2, 3]", JSON),
    "json_string": (b'"event_callback"', JSON),
    "object_nested_20000_deep": (b'{"a":' * DEEP + b"1" + b"}" * DEEP, JSON),
    "list_nested_20000_deep": (b'{"a":' + b"[" * DEEP + b"]" * DEEP + b"}", JSON),
    "payload_nested_20000_deep": (urlencode({"payload": "[" * DEEP + "]" * DEEP}).encode(), FORM_CONTENT_TYPE),
    # Parses, but nests far deeper than Slack ever does. Without a depth limit it reached a listener whose error
    # log (structlog's development renderer, which shows locals) rendered all 900 levels and stalled the event
    # loop: every request after it timed out.
    "action_nested_900_deep": as_payload(
        {
            "type": "block_actions",
            "team": {"id": "T0001"},
            "user": {"id": "U0ANN"},
            "trigger_id": "not-a-trigger",
            "actions": [{"action_id": HomeIds.SYNC.value, "value": "x", "extra": nested(900)}],
        }
    ),
    "payload_not_json": (b"payload=%7Bnot+json", FORM_CONTENT_TYPE),
    "payload_a_list": as_payload([1, 2]),
    "payload_a_string": as_payload("block_actions"),
    "payload_null": as_payload(None),
    "type_not_a_string": as_json({"type": 5}),
    "team_a_number": as_payload({"type": "block_actions", "team": 5, "actions": [{"action_id": "x"}]}),
    "user_id_a_list": as_payload({"type": "view_submission", "user": {"id": ["U0ANN"]}, "view": VIEW}),
    "actions_a_string": as_payload({"type": "block_actions", "actions": "approve"}),
    "actions_empty": as_payload({"type": "block_actions", "actions": []}),
    "action_id_a_number": as_payload({"type": "block_actions", "actions": [{"action_id": 7}]}),
    "view_a_string": as_payload({"type": "view_submission", "view": SettingsIds.CALLBACK.value}),
    "view_null": as_payload({"type": "block_suggestion", "view": None}),
    "view_without_type": as_payload({"type": "view_submission", "view": {"callback_id": SettingsIds.CALLBACK.value}}),
    "state_values_a_list": as_payload({"type": "view_submission", "view": {**VIEW, "state": {"values": []}}}),
    "event_a_string": as_json({"type": "event_callback", "event": "app_home_opened"}),
    "event_type_a_number": as_json({"type": "event_callback", "event": {"type": 1}}),
    "authorizations_not_objects": as_json(
        {"type": "event_callback", "event": {"type": "app_home_opened"}, "authorizations": [1]}
    ),
    "response_urls_a_string": as_payload({"type": "view_submission", "view": VIEW, "response_urls": "x"}),
    # From a workspace the app is not in, Bolt answers "not installed" through the response URL: it must be one.
    "response_url_not_an_address": as_payload(
        {"type": "block_actions", "team": {"id": "T0999"}, "actions": [{"action_id": "x"}], "response_url": "here"}
    ),
    "enterprise_install_a_list": as_json({"type": "event_callback", "event": {}, "is_enterprise_install": []}),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_a_signed_request_of_a_malformed_shape_is_a_4xx(connected_stack: LocalStack, case: str) -> None:
    body, content_type = MALFORMED[case]

    answer = post_as(connected_stack, body, content_type)

    assert 400 <= answer.status_code < 500, (case, answer.status_code, answer.text[:200])
    assert "Traceback" not in answer.text


# Bodies built from Slack's own field names and this app's ids, mostly well typed, sometimes not: the well-typed
# ones reach Bolt and the listeners, the others the shape checks. None of them may end in a 500.
# Never app_uninstalled, tokens_revoked or the disconnect modal: they would end the connection the module shares.
anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
ids = st.sampled_from(
    [
        ConnectIds.CALLBACK.value,
        ConnectIds.QBO_BUTTON.value,
        MappingIds.CALLBACK.value,
        MappingIds.ACCOUNT.value,
        SettingsIds.CALLBACK.value,
        VendorIds.CALLBACK.value,
        f"{VendorIds.PAGE.value}-2",
        HomeIds.SYNC.value,
        HomeIds.SETTINGS.value,
        "fix-retry",
    ]
) | st.text(max_size=12)
text = st.text(max_size=12)
reference = st.none() | text | st.fixed_dictionaries({}, optional={"id": text, "team_id": text, "enterprise_id": text})
state_values = st.dictionaries(text, st.dictionaries(ids, st.dictionaries(text, anything, max_size=3), max_size=2))
view = st.fixed_dictionaries(
    {"type": st.sampled_from(["modal", "home"]), "callback_id": ids},
    optional={
        "id": text,
        "hash": text,
        "private_metadata": text,
        "state": st.fixed_dictionaries({"values": state_values}),
    },
)
action = st.fixed_dictionaries(
    {"action_id": ids}, optional={"block_id": text, "type": text, "value": text, "selected_option": anything}
)
event = st.fixed_dictionaries(
    {"type": st.sampled_from(["app_home_opened", "message", "app_mention", "team_join"]) | text},
    optional={"user": reference, "channel": reference, "tab": st.sampled_from(["home", "messages"]), "text": text},
)


def shapes(wrong: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Slack-like bodies: every field well typed, or (wrong=True) any field possibly of any JSON type."""

    def field(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(strategy, anything) if wrong else strategy

    kinds = ["block_actions", "block_suggestion", "view_submission", "view_closed", "event_callback", "shortcut"]
    return st.fixed_dictionaries(
        {"type": st.sampled_from(kinds)},
        optional={
            "team": field(reference),
            "user": field(reference),
            "channel": field(reference),
            "enterprise": field(reference),
            "actions": field(st.lists(action, min_size=1, max_size=2)),
            "view": field(view),
            "event": field(event),
            "authorizations": field(st.lists(st.fixed_dictionaries({"team_id": text}), max_size=2)),
            "response_urls": field(st.lists(st.fixed_dictionaries({"response_url": text}), max_size=1)),
            "action_id": field(ids),
            "block_id": field(text),
            "callback_id": field(ids),
            "trigger_id": field(text),
            "value": field(text),
            "container": field(st.fixed_dictionaries({"type": text})),
            "is_enterprise_install": field(st.booleans()),
        },
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(body=shapes(wrong=False) | shapes(wrong=True), as_form=st.booleans())
def test_any_signed_body_built_from_slacks_field_names_is_never_a_500(
    connected_stack: LocalStack, body: dict[str, Any], as_form: bool
) -> None:
    raw, content_type = as_payload(body) if as_form else as_json(body)

    answer = post_as(connected_stack, raw, content_type)

    assert answer.status_code < 500, (body, answer.status_code, answer.text[:200])
