"""Build and sign the exact HTTP requests Slack sends to our app (slash commands, interactivity, events).

Used by tests, the demo and benchmarks to drive the real `/slack/events` endpoint like Slack would.
Shapes follow ../shared/reference/slack.md §2 (signing) and §3 (payloads).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx

if TYPE_CHECKING:
    from devtools.fake_slack import FakeSlack

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"


def sign_request(signing_secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack adds to every request: v0 HMAC-SHA256 over `v0:<timestamp>:<raw body>`."""
    if not signing_secret:
        # Bolt's SignatureVerifier refuses an empty secret too; fail here with a clear message instead.
        raise ValueError("signing_secret must not be empty")
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    mac = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={mac}"}


@dataclass(frozen=True)
class SlackActor:
    """Who and where an inbound request comes from: the workspace, the user and the app."""

    team_id: str = "T0001"
    team_domain: str = "acme"
    user_id: str = "U0ANN"
    user_name: str = "ann"
    api_app_id: str = "A0QBO"
    enterprise_id: str | None = None
    enterprise_name: str | None = None
    verification_token: str = "xyzz0"  # deprecated `token` field Slack still sends

    @property
    def team(self) -> dict[str, str]:
        return {"id": self.team_id, "domain": self.team_domain}

    @property
    def user(self) -> dict[str, str]:
        return {"id": self.user_id, "username": self.user_name, "name": self.user_name, "team_id": self.team_id}

    @property
    def enterprise(self) -> dict[str, str] | None:
        if self.enterprise_id is None:
            return None
        return {"id": self.enterprise_id, "name": self.enterprise_name or self.enterprise_id}


# --- slash commands --------------------------------------------------------------------------------------------


def slash_command_body(
    actor: SlackActor,
    *,
    command: str = "/qbo",
    text: str = "",
    channel_id: str = "C0FIN",
    channel_name: str = "finance",
    trigger_id: str = "1234.5678.abcdef",
    response_url: str = "https://hooks.slack.com/commands/T0001/1234/abcd",
) -> bytes:
    """Form-encoded slash command body, fields in the order Slack sends them."""
    fields: list[tuple[str, str]] = [
        ("token", actor.verification_token),
        ("team_id", actor.team_id),
        ("team_domain", actor.team_domain),
    ]
    if actor.enterprise_id is not None:
        fields += [("enterprise_id", actor.enterprise_id), ("enterprise_name", actor.enterprise_name or "")]
    fields += [
        ("channel_id", channel_id),
        ("channel_name", channel_name),
        ("user_id", actor.user_id),
        ("user_name", actor.user_name),
        ("command", command),
        ("text", text),
        ("api_app_id", actor.api_app_id),
        ("is_enterprise_install", "false"),
        ("response_url", response_url),
        ("trigger_id", trigger_id),
    ]
    return urlencode(fields).encode()


# --- interactivity ---------------------------------------------------------------------------------------------


def interactive_body(payload: dict[str, Any]) -> bytes:
    """Form body `payload=<url-encoded JSON>` as Slack posts every interaction."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def _interaction_base(kind: str, actor: SlackActor) -> dict[str, Any]:
    return {
        "type": kind,
        "api_app_id": actor.api_app_id,
        "token": actor.verification_token,
        "team": actor.team,
        "enterprise": actor.enterprise,
        "is_enterprise_install": False,
        "user": actor.user,
    }


def block_actions_payload(
    actor: SlackActor,
    action: dict[str, Any],
    *,
    trigger_id: str,
    message: dict[str, Any] | None = None,
    channel: dict[str, str] | None = None,
    response_url: str | None = None,
    view: dict[str, Any] | None = None,
    action_ts: str | None = None,
) -> dict[str, Any]:
    """A `block_actions` payload from a message (give message, channel, response_url) or a view (give view).

    `action` is the element as the app sent it plus what the user chose (`value` or `selected_option`).
    """
    payload = _interaction_base("block_actions", actor)
    payload["trigger_id"] = trigger_id
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view["id"]}
        payload["view"] = view
    elif message is not None and channel is not None:
        payload["container"] = {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel["id"],
            "is_ephemeral": False,
        }
        payload["channel"] = channel
        payload["message"] = message
        payload["response_url"] = response_url
    else:
        raise ValueError("block_actions needs either a view or a message with its channel")
    payload["actions"] = [{**action, "action_ts": action_ts or f"{time.time():.6f}"}]
    return payload


def block_suggestion_payload(
    actor: SlackActor, *, action_id: str, block_id: str, value: str, view: dict[str, Any]
) -> dict[str, Any]:
    """A `block_suggestion` payload: the user typed `value` into an external_select in `view`."""
    payload = _interaction_base("block_suggestion", actor)
    payload.update(
        {
            "action_id": action_id,
            "block_id": block_id,
            "value": value,
            "container": {"type": "view", "view_id": view["id"]},
            "view": view,
        }
    )
    return payload


def view_submission_payload(
    actor: SlackActor, view: dict[str, Any], values: dict[str, dict[str, dict[str, Any]]], *, trigger_id: str
) -> dict[str, Any]:
    """A `view_submission` payload: `view` as Slack stores it with `state.values` set to `values`.

    Args:
        values: block_id -> action_id -> state value, e.g. from `selected_option_state` or `plain_text_state`.
    """
    payload = _interaction_base("view_submission", actor)
    payload["trigger_id"] = trigger_id
    payload["view"] = {**view, "state": {"values": values}}
    payload["response_urls"] = []
    return payload


def view_closed_payload(actor: SlackActor, view: dict[str, Any], *, is_cleared: bool = False) -> dict[str, Any]:
    """A `view_closed` payload (sent only for views with `notify_on_close: true`)."""
    payload = _interaction_base("view_closed", actor)
    payload["view"] = view
    payload["is_cleared"] = is_cleared
    return payload


def selected_option_state(value: str, text: str, *, element_type: str = "external_select") -> dict[str, Any]:
    """State value of a select with an option chosen."""
    return {"type": element_type, "selected_option": {"text": {"type": "plain_text", "text": text}, "value": value}}


def plain_text_state(value: str | None) -> dict[str, Any]:
    """State value of a plain_text_input (None when left empty)."""
    return {"type": "plain_text_input", "value": value}


# --- Events API ------------------------------------------------------------------------------------------------


def url_verification_body(challenge: str, *, verification_token: str = "xyzz0") -> bytes:
    """JSON body of the `url_verification` check Slack sends when the Request URL is saved."""
    return json.dumps({"token": verification_token, "challenge": challenge, "type": "url_verification"}).encode()


def event_callback_body(
    actor: SlackActor, event: dict[str, Any], *, bot_user_id: str = "U0BOT", event_time: int | None = None
) -> bytes:
    """JSON body of an `event_callback` envelope around `event`."""
    envelope = {
        "token": actor.verification_token,
        "team_id": actor.team_id,
        "enterprise_id": actor.enterprise_id,
        "api_app_id": actor.api_app_id,
        "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [
            {
                "enterprise_id": actor.enterprise_id,
                "team_id": actor.team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event": event,
    }
    return json.dumps(envelope).encode()


def app_home_opened_event(user_id: str, *, channel: str = "D0DM", tab: str = "home") -> dict[str, Any]:
    """`app_home_opened` event (`tab` is "home" or "messages")."""
    return {"type": "app_home_opened", "user": user_id, "channel": channel, "tab": tab, "event_ts": _event_ts()}


def app_uninstalled_event() -> dict[str, Any]:
    """`app_uninstalled` event."""
    return {"type": "app_uninstalled", "event_ts": _event_ts()}


def tokens_revoked_event(*, oauth: list[str] | None = None, bot: list[str] | None = None) -> dict[str, Any]:
    """`tokens_revoked` event listing the revoked user (oauth) and bot token owners."""
    return {"type": "tokens_revoked", "tokens": {"oauth": oauth or [], "bot": bot or []}, "event_ts": _event_ts()}


def _event_ts() -> str:
    return f"{time.time():.6f}"


# --- the simulator ---------------------------------------------------------------------------------------------


class SlackClientSimulator:
    """Plays Slack's side towards our app: signs and POSTs commands, clicks, submissions and events.

    trigger_ids and response_urls come from the fake Web API, so the app's follow-up calls
    (views.open, respond()) are checked by it like Slack would. Use `async with`.
    """

    def __init__(
        self,
        base_url: str,
        signing_secret: str,
        team_id: str,
        user_id: str,
        fake_slack: FakeSlack,
        *,
        events_path: str = "/slack/events",
        timeout_seconds: float = 10.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.actor = _actor_from_fake(fake_slack, team_id, user_id)
        self._base_url = base_url
        self._secret = signing_secret
        self._fake = fake_slack
        self._events_path = events_path
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout_seconds)

    async def __aenter__(self) -> SlackClientSimulator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def as_user(self, user_id: str) -> SlackClientSimulator:
        """A simulator for another user of the same workspace, sharing this one's connection (do not close it)."""
        return SlackClientSimulator(
            self._base_url,
            self._secret,
            self.actor.team_id,
            user_id,
            self._fake,
            events_path=self._events_path,
            http=self._http,
        )

    async def post(self, body: bytes, content_type: str, *, timestamp: int | None = None) -> httpx.Response:
        """POST a raw body to the events URL, signed (pass an old `timestamp` to test replay protection)."""
        headers = {"Content-Type": content_type, **sign_request(self._secret, body, timestamp)}
        return await self._http.post(self._events_path, content=body, headers=headers)

    async def command(self, text: str = "", *, command: str = "/qbo", channel_id: str = "C0FIN") -> httpx.Response:
        """Type `/qbo <text>` in a channel (one the fake knows)."""
        body = slash_command_body(
            self.actor,
            command=command,
            text=text,
            channel_id=channel_id,
            channel_name=self._fake.channel_ref(channel_id)["name"],
            trigger_id=self._fake.mint_trigger_id(self.actor.user_id),
            response_url=self._fake.new_response_url(channel_id=channel_id, user_id=self.actor.user_id),
        )
        return await self.post(body, FORM_CONTENT_TYPE)

    async def click_message_button(
        self, channel_id: str, message_ts: str, action_id: str, *, value: str | None = None
    ) -> httpx.Response:
        """Click the button `action_id` in a message the app posted (found in the fake's state)."""
        message = self._fake.message(channel_id, message_ts)
        if message is None:
            raise LookupError(f"no message {message_ts} in {channel_id}")
        action = _find_element(message.get("blocks") or [], action_id)
        if value is not None:
            action["value"] = value
        channel = self._fake.channel_ref(channel_id)
        payload = block_actions_payload(
            self.actor,
            action,
            trigger_id=self._fake.mint_trigger_id(self.actor.user_id),
            message=message,
            channel=channel,
            response_url=self._fake.new_response_url(
                channel_id=channel_id, user_id=self.actor.user_id, message_ts=message_ts
            ),
        )
        return await self.post(interactive_body(payload), FORM_CONTENT_TYPE)

    async def choose_in_ephemeral(
        self, channel_id: str, message: dict[str, Any], action_id: str, value: str
    ) -> httpx.Response:
        """Pick the option `value` in a select of an ephemeral message the app sent (Slack then sends no `message`,
        only its container, and a fresh response_url)."""
        block_id, element = next(
            (str(block.get("block_id")), element)
            for block in message.get("blocks") or []
            for element in [block.get("accessory") or {}, *block.get("elements", [])]
            if isinstance(element, dict) and element.get("action_id") == action_id
        )
        option = next(option for option in _options(element) if option.get("value") == value)
        action = {"type": element["type"], "action_id": action_id, "block_id": block_id, "selected_option": option}
        payload = block_actions_payload(
            self.actor,
            action,
            trigger_id=self._fake.mint_trigger_id(self.actor.user_id),
            message=message,
            channel=self._fake.channel_ref(channel_id),
            response_url=self._fake.new_response_url(channel_id=channel_id, user_id=self.actor.user_id),
        )
        payload["container"]["is_ephemeral"] = True
        del payload["message"]
        return await self.post(interactive_body(payload), FORM_CONTENT_TYPE)

    async def click_view_element(
        self,
        view_id: str,
        action_id: str,
        *,
        value: str | None = None,
        selected_option: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """Click a button or pick an option in a modal or the Home tab the app opened."""
        view = self._require_view(view_id)
        action = _find_element(view.get("blocks") or [], action_id)
        if value is not None:
            action["value"] = value
        if selected_option is not None:
            action["selected_option"] = selected_option
        payload = block_actions_payload(
            self.actor, action, trigger_id=self._fake.mint_trigger_id(self.actor.user_id, view_id=view_id), view=view
        )
        return await self.post(interactive_body(payload), FORM_CONTENT_TYPE)

    async def suggest(self, view_id: str, block_id: str, action_id: str, value: str) -> httpx.Response:
        """Type `value` into an external_select: Slack asks the app for options (the answer is in the response)."""
        payload = block_suggestion_payload(
            self.actor, action_id=action_id, block_id=block_id, value=value, view=self._require_view(view_id)
        )
        return await self.post(interactive_body(payload), FORM_CONTENT_TYPE)

    async def submit_view(self, view_id: str, values: dict[str, dict[str, dict[str, Any]]]) -> httpx.Response:
        """Press Submit on a modal with these input values (block_id -> action_id -> state value)."""
        payload = view_submission_payload(
            self.actor,
            self._require_view(view_id),
            values,
            trigger_id=self._fake.mint_trigger_id(self.actor.user_id, view_id=view_id),
        )
        return await self.post(interactive_body(payload), FORM_CONTENT_TYPE)

    async def close_view(self, view_id: str, *, is_cleared: bool = False) -> httpx.Response:
        """Press Close on a modal that asked to be notified."""
        payload = view_closed_payload(self.actor, self._require_view(view_id), is_cleared=is_cleared)
        return await self.post(interactive_body(payload), FORM_CONTENT_TYPE)

    async def event(self, event: dict[str, Any]) -> httpx.Response:
        """Deliver an Events API event to the app."""
        bot_user_id = self._fake.bot_user_id(self.actor.team_id)
        return await self.post(event_callback_body(self.actor, event, bot_user_id=bot_user_id), JSON_CONTENT_TYPE)

    async def open_home(self, *, tab: str = "home") -> httpx.Response:
        """Open the app's Home tab."""
        return await self.event(app_home_opened_event(self.actor.user_id, tab=tab))

    async def url_verification(self, challenge: str) -> httpx.Response:
        """Slack's check when the Request URL is saved in the app config."""
        return await self.post(url_verification_body(challenge), JSON_CONTENT_TYPE)

    def _require_view(self, view_id: str) -> dict[str, Any]:
        view = self._fake.view(view_id)
        if view is None:
            raise LookupError(f"no view {view_id} in the fake Slack")
        return view


def _actor_from_fake(fake: FakeSlack, team_id: str, user_id: str) -> SlackActor:
    """The actor as the fake knows them (domain, user name, enterprise), so payloads match the fake's state."""
    team = fake.team(team_id)
    user = fake.user(user_id)
    if team is None or user is None:
        raise LookupError(f"the fake Slack has no team {team_id} or no user {user_id}: add them first")
    return SlackActor(
        team_id=team_id,
        team_domain=team.domain,
        user_id=user_id,
        user_name=user.name,
        api_app_id=fake.app_id,
        enterprise_id=team.enterprise_id,
    )


def _find_element(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any]:
    """The interactive element with `action_id` (in actions, section accessories or inputs), as a payload action."""
    for block in blocks:
        candidates = list(block.get("elements") or [])
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                candidates.append(block[key])
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                action = {k: element[k] for k in ("type", "action_id", "text", "value", "url") if k in element}
                action["block_id"] = block.get("block_id", "")
                if "initial_option" in element:
                    action["selected_option"] = element["initial_option"]
                return action
    raise LookupError(f"no element with action_id {action_id!r}")


def view_state(view: dict[str, Any], answers: dict[str, Any] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """The `view.state.values` Slack sends when a modal is submitted: each input's initial value, or the answer given
    for its block id (plain: a text, an option value or option, a channel, users, checkbox options)."""
    values: dict[str, dict[str, dict[str, Any]]] = {}
    for block in view.get("blocks", []):
        element = block.get("element") if block.get("type") == "input" else None
        if not element:
            continue
        block_id, action_id = str(block["block_id"]), str(element.get("action_id", ""))
        answer = (answers or {}).get(block_id)
        values[block_id] = {action_id: _element_value(element, answer)}
    return values


def _element_value(element: dict[str, Any], answer: Any) -> dict[str, Any]:
    kind = element["type"]
    if kind == "datepicker":
        return {"type": kind, "selected_date": answer or element.get("initial_date")}
    if kind in ("plain_text_input", "email_text_input", "number_input", "url_text_input"):
        return {"type": kind, "value": answer if answer is not None else element.get("initial_value")}
    if kind in ("static_select", "external_select", "radio_buttons"):
        if isinstance(answer, dict):
            return {"type": kind, "selected_option": answer}
        if answer is not None:
            option = next(
                (o for o in _options(element) if o.get("value") == answer),
                {"text": {"type": "plain_text", "text": str(answer)}, "value": str(answer)},
            )
            return {"type": kind, "selected_option": option}
        return {"type": kind, "selected_option": element.get("initial_option")}
    if kind == "conversations_select":
        return {"type": kind, "selected_conversation": answer or element.get("initial_conversation")}
    if kind == "channels_select":
        return {"type": kind, "selected_channel": answer or element.get("initial_channel")}
    if kind == "multi_users_select":
        return {"type": kind, "selected_users": answer if answer is not None else element.get("initial_users", [])}
    if kind == "checkboxes":
        chosen = answer if answer is not None else element.get("initial_options", [])
        return {"type": kind, "selected_options": chosen}
    return {"type": kind, "value": answer}


def _options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options", []))
    for group in element.get("option_groups", []):
        options.extend(group.get("options", []))
    return options
