"""manifest.yml is a valid Slack app manifest for our HTTP app, asking for no more than it uses."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from devtools.fake_slack import DEFAULT_BOT_SCOPES, SCOPE_FOR_METHOD

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_PATH = ROOT / "manifest.yml"
# Slack's official v1 schema (slackapi/manifest-schema, schemas/manifest.schema.1.0.0.json, MIT), vendored.
SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "slack-app-manifest.schema.json"
PLACEHOLDER = "https://example.com"
EVENTS_URL = f"{PLACEHOLDER}/slack/events"

# Why each bot scope is asked for: the Web API method (or feature) that needs it (slack.md §7, §9.5).
SCOPE_USES: dict[str, str] = {
    "commands": "slash command /qbo",
    "chat:write": "chat.postMessage",
    "chat:write.public": "posting to a public finance channel the bot was not invited to",
    "users:read": "users.info",
    "channels:read": "conversations.info (public channel)",
    "groups:read": "conversations.info (private channel)",
    "im:write": "conversations.open",
    "channels:history": "conversations.history/replies: find a post whose answer was lost before posting again",
    "groups:history": "the same in a private finance channel",
    "im:history": "the same in a DM fallback",
    "files:write": "files.uploadV2: the CSV of a run's failures",
}
# Why each bot event is subscribed: the listener that handles it.
EVENT_USES: dict[str, str] = {
    "app_home_opened": "publishes the App Home dashboard",
    "app_uninstalled": "deletes the installation",
    "tokens_revoked": "deletes the revoked tokens",
}
SUBCOMMANDS = ("connect", "vendors", "map", "sync", "status", "settings", "disconnect", "help")


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MANIFEST_PATH.read_text())
    return loaded


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def test_manifest_validates_against_slacks_schema(manifest: dict[str, Any], validator: Draft7Validator) -> None:
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(manifest)]
    assert errors == []


def test_schema_rejects_a_command_without_a_slash(manifest: dict[str, Any], validator: Draft7Validator) -> None:
    broken = copy.deepcopy(manifest)
    broken["features"]["slash_commands"][0]["command"] = "qbo"
    assert any("does not match" in e.message for e in validator.iter_errors(broken))


def test_qbo_command_posts_to_the_events_endpoint_and_lists_every_subcommand(manifest: dict[str, Any]) -> None:
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert list(commands) == ["/qbo"]
    qbo = commands["/qbo"]
    assert qbo["url"] == EVENTS_URL
    assert qbo["description"]
    assert all(word in qbo["usage_hint"] for word in SUBCOMMANDS)


def test_interactivity_options_and_events_share_the_events_endpoint(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["interactivity"] == {
        "is_enabled": True,
        "request_url": EVENTS_URL,
        "message_menu_options_url": EVENTS_URL,
    }
    assert settings["event_subscriptions"]["request_url"] == EVENTS_URL
    assert manifest["oauth_config"]["redirect_urls"] == [f"{PLACEHOLDER}/slack/oauth_redirect"]


def test_http_mode_with_home_tab_and_bot_user(manifest: dict[str, Any]) -> None:
    assert manifest["settings"]["socket_mode_enabled"] is False
    assert manifest["settings"]["token_rotation_enabled"] is False  # the fake and the worker assume no rotation
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["features"]["bot_user"]["display_name"]


def test_every_url_is_the_documented_placeholder(manifest: dict[str, Any]) -> None:
    urls = [c["url"] for c in manifest["features"]["slash_commands"]]
    urls += manifest["oauth_config"]["redirect_urls"]
    urls += [manifest["settings"]["event_subscriptions"]["request_url"]]
    urls += [manifest["settings"]["interactivity"][k] for k in ("request_url", "message_menu_options_url")]
    assert all(url.startswith(PLACEHOLDER + "/") for url in urls)
    assert PLACEHOLDER in MANIFEST_PATH.read_text().split("_metadata:")[0]  # the header comment explains it


def test_required_events_are_subscribed_and_no_unhandled_ones(manifest: dict[str, Any]) -> None:
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == list(EVENT_USES)


def test_every_bot_scope_is_justified_and_no_user_scopes(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]
    assert set(scopes) == {"bot"}
    assert sorted(scopes["bot"]) == sorted(SCOPE_USES)
    header = MANIFEST_PATH.read_text().split("_metadata:")[0]
    assert all(f"#   {scope} " in header for scope in scopes["bot"])  # each scope's reason is written down


def test_scopes_needed_by_the_fake_web_api_are_granted(manifest: dict[str, Any]) -> None:
    # The fake Slack grants exactly the manifest's scopes, so tests fail with missing_scope where Slack would.
    assert sorted(DEFAULT_BOT_SCOPES) == sorted(manifest["oauth_config"]["scopes"]["bot"])
    granted = set(manifest["oauth_config"]["scopes"]["bot"])
    used_methods = {"chat.postMessage", "chat.update", "chat.postEphemeral", "users.info", "conversations.open"}
    assert {SCOPE_FOR_METHOD[m] for m in used_methods} <= granted
    assert SCOPE_FOR_METHOD["conversations.join"] not in granted  # chat:write.public makes joining unnecessary
