"""A fake Slack Web API for tests, the demo and benchmarks: answers, validates and records like Slack.

Serve it on loopback and point `AsyncWebClient(base_url=fake.api_url)` at it:

    with FakeSlack() as fake:                       # starts uvicorn on 127.0.0.1, a free port
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        await client.chat_postMessage(channel="C0FIN", text="hi")
        assert fake.calls("chat.postMessage")[0].params["text"] == "hi"

Facts reproduced (../shared/reference/slack.md §4.1, §5, §7, §9): `{"ok": false, "error": ...}` on HTTP 200,
`Authorization: Bearer` or `token=` auth, Block Kit limits, single-use trigger_ids that expire after 3 s,
`hash_conflict`, the modal stack of 3, `not_in_channel`/`channel_not_found`/`is_archived`, `missing_scope`,
`oauth.v2.access` with HTTP Basic client credentials, `response_url` (5 uses in 30 minutes), and injected
faults (429 + Retry-After, 5xx, any error code).

Seeded workspace T0001 "Acme": bot U0BOT/B0BOT with token `xoxb-test`, admin U0ANN (ann), member U0BOB (bob),
public #finance C0FIN (bot is a member), public #general C0GEN (bot is not), private #payroll G0PAY (bot is not).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from devtools.server import BackgroundServer

# What the manifest asks for; tests/test_manifest.py checks the two stay equal.
DEFAULT_BOT_SCOPES: tuple[str, ...] = (
    "commands",
    "chat:write",
    "chat:write.public",
    "users:read",
    "channels:read",
    "groups:read",
    "im:write",
)
SCOPE_FOR_METHOD: dict[str, str] = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.join": "channels:join",
    "conversations.open": "im:write",
    "users.info": "users:read",
}
MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100  # modal and Home tab
POST_TEXT_LIMIT = 40_000
UPDATE_TEXT_LIMIT = 4_000
VIEW_TITLE_LIMIT = 24
PRIVATE_METADATA_LIMIT = 3_000
CALLBACK_ID_LIMIT = 255
VIEW_BYTES_LIMIT = 250_000
MODAL_STACK_LIMIT = 3
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL_SECONDS = 30 * 60
JSON_FIELDS = ("blocks", "view", "attachments", "metadata")


@dataclass
class FakeTeam:
    id: str
    name: str
    domain: str
    bot_user_id: str
    bot_id: str
    enterprise_id: str | None = None


@dataclass
class FakeUser:
    id: str
    team_id: str
    name: str
    is_admin: bool = False
    is_owner: bool = False
    is_primary_owner: bool = False
    is_bot: bool = False
    tz: str = "America/New_York"

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "real_name": self.name.title(),
            "deleted": False,
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_primary_owner": self.is_primary_owner,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "tz": self.tz,
            "profile": {"real_name": self.name.title(), "display_name": self.name},
        }


@dataclass
class FakeChannel:
    id: str
    team_id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    is_archived: bool = False
    bot_is_member: bool = True
    members: set[str] | None = None  # None: every user of the team

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private and not self.is_im,
            "is_group": self.is_private,
            "is_im": self.is_im,
            "is_private": self.is_private or self.is_im,
            "is_archived": self.is_archived,
            "is_member": self.bot_is_member,
            "context_team_id": self.team_id,
        }


@dataclass
class TokenGrant:
    team_id: str
    scopes: frozenset[str]
    user_id: str | None = None  # None: a bot token
    revoked: bool = False


@dataclass
class _Trigger:
    user_id: str
    issued_at: float
    view_id: str | None
    used: bool = False


@dataclass
class _ResponseUrl:
    channel_id: str
    user_id: str
    message_ts: str | None
    created_at: float
    uses: int = 0


@dataclass
class _OAuthCode:
    team_id: str
    user_id: str
    redirect_uri: str | None
    used: bool = False


@dataclass
class _Fault:
    method: str
    status: int
    error: str
    retry_after: int | None
    remaining: int


@dataclass(frozen=True)
class RecordedCall:
    """One request the fake received: Web API method (or "response_url"), merged params and the outcome."""

    method: str
    params: dict[str, Any]
    http_method: str
    at: float
    status: int
    error: str | None
    token: str | None = field(default=None, repr=False)


class CallRecorder:
    """Thread-safe log of every call; the server thread appends, tests read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[RecordedCall] = []

    def record(self, call: RecordedCall) -> None:
        with self._lock:
            self._calls.append(call)

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        """Calls in arrival order, optionally only those to `method`."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def last(self, method: str) -> RecordedCall | None:
        found = self.calls(method)
        return found[-1] if found else None

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def wait_for(self, method: str, count: int = 1, timeout_seconds: float = 2.0) -> list[RecordedCall]:
        """Poll until `count` calls to `method` arrived (work the app does after its ack); raise on timeout."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            found = self.calls(method)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected {count} call(s) to {method}, got {len(found)}")
            time.sleep(0.01)


class SlackMethodError(Exception):
    """An error answer: Slack's `{"ok": false, "error": code}` plus any extra fields."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


Handler = Callable[[dict[str, Any], TokenGrant | None], dict[str, Any]]


class FakeSlack:
    """The fake Web API: state (teams, users, channels, messages, views), validation, faults and a recorder."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test",
        client_id: str = "1111.2222",
        client_secret: str = "fake-client-secret",
        app_id: str = "A0QBO",
        trigger_ttl_seconds: float = 3.0,
        clock: Callable[[], float] = time.time,
        seed: bool = True,
    ) -> None:
        self.recorder = CallRecorder()
        self.client_id = client_id
        self.app_id = app_id
        self.trigger_ttl_seconds = trigger_ttl_seconds
        self._client_secret = client_secret
        self._clock = clock
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._ts_seq = itertools.count(1)
        self._teams: dict[str, FakeTeam] = {}
        self._users: dict[str, FakeUser] = {}
        self._channels: dict[str, FakeChannel] = {}
        self._tokens: dict[str, TokenGrant] = {}
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._ephemerals: list[dict[str, Any]] = []
        self._views: dict[str, dict[str, Any]] = {}
        self._view_owner: dict[str, str] = {}
        self._view_order: list[str] = []
        self._modal_stacks: dict[str, list[str]] = {}  # root view id -> open views, bottom first
        self._home_by_user: dict[str, str] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._oauth_codes: dict[str, _OAuthCode] = {}
        self._faults: list[_Fault] = []
        self._server: BackgroundServer | None = None
        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_join,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "apps.uninstall": self._apps_uninstall,
            "oauth.v2.access": self._oauth_v2_access,
        }
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._api_endpoint, methods=["GET", "POST"]),
                Route("/response/{response_id}", self._response_url_endpoint, methods=["POST"]),
            ]
        )
        if seed:
            self.add_team("T0001", "Acme", domain="acme", bot_token=bot_token, bot_user_id="U0BOT", bot_id="B0BOT")
            self.add_user("U0ANN", "ann", is_admin=True)
            self.add_user("U0BOB", "bob")
            self.add_channel("C0FIN", "finance")
            self.add_channel("C0GEN", "general", bot_is_member=False)
            self.add_channel("G0PAY", "payroll", is_private=True, bot_is_member=False)

    # --- serving ------------------------------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        self._server = BackgroundServer(self.app).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return self._server.url

    @property
    def api_url(self) -> str:
        """Base URL for `AsyncWebClient(base_url=...)` (trailing slash, as slack_sdk expects)."""
        return self.url + "/api/"

    # --- seeding ------------------------------------------------------------------------------------------------

    def add_team(
        self,
        team_id: str,
        name: str,
        *,
        domain: str,
        bot_token: str | None,
        bot_user_id: str,
        bot_id: str,
        enterprise_id: str | None = None,
        scopes: Iterable[str] = DEFAULT_BOT_SCOPES,
    ) -> None:
        """A workspace with the app installed (its bot user, and a bot token unless `bot_token` is None)."""
        with self._lock:
            self._teams[team_id] = FakeTeam(team_id, name, domain, bot_user_id, bot_id, enterprise_id)
            self._users[bot_user_id] = FakeUser(bot_user_id, team_id, "qbo", is_bot=True)
            if bot_token is not None:
                self._tokens[bot_token] = TokenGrant(team_id, frozenset(scopes))

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        team_id: str = "T0001",
        is_admin: bool = False,
        is_owner: bool = False,
        is_primary_owner: bool = False,
    ) -> None:
        with self._lock:
            self._users[user_id] = FakeUser(user_id, team_id, name, is_admin, is_owner, is_primary_owner)

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        team_id: str = "T0001",
        is_private: bool = False,
        is_archived: bool = False,
        bot_is_member: bool = True,
        members: Iterable[str] | None = None,
    ) -> None:
        with self._lock:
            self._channels[channel_id] = FakeChannel(
                channel_id, team_id, name, is_private, False, is_archived, bot_is_member, _set_or_none(members)
            )

    def set_channel(
        self, channel_id: str, *, is_archived: bool | None = None, bot_is_member: bool | None = None
    ) -> None:
        """Change a channel mid-test (archive it, remove the bot)."""
        with self._lock:
            channel = self._channels[channel_id]
            if is_archived is not None:
                channel.is_archived = is_archived
            if bot_is_member is not None:
                channel.bot_is_member = bot_is_member

    def set_token_scopes(self, token: str, scopes: Iterable[str]) -> None:
        with self._lock:
            self._tokens[token].scopes = frozenset(scopes)

    # --- what simulated interactions need -----------------------------------------------------------------------

    def mint_trigger_id(self, user_id: str, *, view_id: str | None = None) -> str:
        """A trigger_id as Slack puts in a command or interaction payload (from within `view_id`, if given)."""
        with self._lock:
            trigger_id = f"{next(self._ids)}.{int(self._clock())}.{secrets.token_hex(16)}"
            self._triggers[trigger_id] = _Trigger(user_id, self._clock(), view_id)
            return trigger_id

    def new_response_url(self, *, channel_id: str, user_id: str, message_ts: str | None = None) -> str:
        """A response_url for a command (or for a click on the message `message_ts`)."""
        with self._lock:
            response_id = secrets.token_hex(8)
            self._response_urls[response_id] = _ResponseUrl(channel_id, user_id, message_ts, self._clock())
        return f"{self.url}/response/{response_id}"

    def issue_oauth_code(
        self, *, team_id: str = "T0001", user_id: str = "U0ANN", redirect_uri: str | None = None
    ) -> str:
        """The `code` Slack appends to the OAuth redirect after a user approves the install."""
        with self._lock:
            code = f"{next(self._ids)}.{secrets.token_hex(12)}"
            self._oauth_codes[code] = _OAuthCode(team_id, user_id, redirect_uri)
            return code

    # --- fault injection ----------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        error: str = "fatal_error",
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls to `method` (or "response_url") answer `{"ok": false, "error": error}`, `status`."""
        with self._lock:
            self._faults.append(_Fault(method, status, error, retry_after, times))

    def rate_limit_next(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """HTTP 429 with `Retry-After`, as Slack answers over a method's tier limit."""
        self.fail_next(method, error="ratelimited", status=429, retry_after=retry_after, times=times)

    def server_error_next(self, method: str, *, status: int = 500, times: int = 1) -> None:
        self.fail_next(method, error="internal_error", status=status, times=times)

    # --- queries for tests --------------------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        return self.recorder.calls(method)

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Messages the app has in a channel (thread replies included), oldest first."""
        with self._lock:
            return copy.deepcopy(self._messages.get(channel_id, []))

    def message(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._find_message(channel_id, ts)
            return copy.deepcopy(found) if found else None

    def ephemerals(self, *, user_id: str | None = None, channel_id: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral messages (chat.postEphemeral and ephemeral response_url replies), oldest first."""
        with self._lock:
            return [
                copy.deepcopy(m)
                for m in self._ephemerals
                if (user_id is None or m["user"] == user_id) and (channel_id is None or m["channel"] == channel_id)
            ]

    def view(self, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._views.get(view_id)
            return copy.deepcopy(found) if found else None

    def last_view(
        self, callback_id: str | None = None, *, user_id: str | None = None, view_type: str | None = None
    ) -> dict[str, Any] | None:
        """The most recently opened, pushed, updated or published view matching the filters."""
        with self._lock:
            for view_id in reversed(self._view_order):
                view = self._views[view_id]
                if (
                    (callback_id is None or view.get("callback_id") == callback_id)
                    and (user_id is None or self._view_owner.get(view_id) == user_id)
                    and (view_type is None or view["type"] == view_type)
                ):
                    return copy.deepcopy(view)
            return None

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            view_id = self._home_by_user.get(user_id)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    def channel_ref(self, channel_id: str) -> dict[str, str]:
        """`{"id", "name"}` as interaction payloads carry it."""
        with self._lock:
            return {"id": channel_id, "name": self._channels[channel_id].name}

    def bot_user_id(self, team_id: str) -> str:
        with self._lock:
            return self._teams[team_id].bot_user_id

    def team(self, team_id: str) -> FakeTeam | None:
        with self._lock:
            found = self._teams.get(team_id)
            return copy.copy(found) if found else None

    def user(self, user_id: str) -> FakeUser | None:
        with self._lock:
            found = self._users.get(user_id)
            return copy.copy(found) if found else None

    def token_is_active(self, token: str) -> bool:
        with self._lock:
            grant = self._tokens.get(token)
            return grant is not None and not grant.revoked

    # --- HTTP ---------------------------------------------------------------------------------------------------

    async def _api_endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        try:
            params = _parse_params(
                dict(request.query_params), await request.body(), request.headers.get("content-type")
            )
        except (json.JSONDecodeError, UnicodeDecodeError):
            self.recorder.record(RecordedCall(method, {}, request.method, self._clock(), 200, "invalid_json"))
            return JSONResponse({"ok": False, "error": "invalid_json"})
        token = _bearer(request.headers.get("authorization")) or params.pop("token", None)
        basic = _basic(request.headers.get("authorization"))
        if basic is not None:
            params["client_id"], params["client_secret"] = basic
        with self._lock:
            status, body, headers = self._dispatch(method, params, token)
        safe_params = {k: v for k, v in params.items() if k != "client_secret"}  # never keep secrets around
        error = None if body.get("ok") else str(body.get("error"))
        self.recorder.record(RecordedCall(method, safe_params, request.method, self._clock(), status, error, token))
        return JSONResponse(body, status_code=status, headers=headers)

    def _dispatch(
        self, method: str, params: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        fault = self._take_fault(method)
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return fault.status, {"ok": False, "error": fault.error}, headers
        handler = self._handlers.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}
        try:
            # oauth.v2.access authenticates the app by its client credentials, not by a token.
            grant = None if method == "oauth.v2.access" else self._authenticate(token, method)
            result = handler(params, grant)
        except SlackMethodError as refused:
            return 200, {"ok": False, "error": refused.error, **refused.extra}, {}
        return 200, {"ok": True, **result}, {}

    def _authenticate(self, token: str | None, method: str) -> TokenGrant:
        if not token:
            raise SlackMethodError("not_authed")
        grant = self._tokens.get(token)
        if grant is None:
            raise SlackMethodError("invalid_auth")
        if grant.revoked:
            raise SlackMethodError("token_revoked")
        needed = SCOPE_FOR_METHOD.get(method)
        if needed is not None:
            _require_scope(grant, needed)
        return grant

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.remaining > 0:
                fault.remaining -= 1
                return fault
        return None

    async def _response_url_endpoint(self, request: Request) -> Response:
        response_id = request.path_params["response_id"]
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = dict(parse_qsl(raw.decode()))
        with self._lock:
            status, answer = self._respond(response_id, _decode_json_fields(body))
        params = {**body, "response_id": response_id}
        error = None if status == 200 else answer
        self.recorder.record(RecordedCall("response_url", params, "POST", self._clock(), status, error))
        return PlainTextResponse(answer, status_code=status)

    def _respond(self, response_id: str, body: dict[str, Any]) -> tuple[int, str]:
        fault = self._take_fault("response_url")
        if fault is not None:
            return fault.status, fault.error
        hook = self._response_urls.get(response_id)
        if hook is None:
            return 404, "no_active_hooks"
        if self._clock() - hook.created_at > RESPONSE_URL_TTL_SECONDS:
            return 404, "expired_url"
        if hook.uses >= RESPONSE_URL_USES:
            return 404, "used_url"
        team = self._teams[self._channels[hook.channel_id].team_id] if hook.channel_id in self._channels else None
        if not body.get("delete_original"):  # a delete carries no content
            try:
                _check_message_content(body, POST_TEXT_LIMIT)
            except SlackMethodError as invalid:
                return 400, invalid.error
        hook.uses += 1
        original = self._find_message(hook.channel_id, hook.message_ts) if hook.message_ts else None
        if body.get("delete_original") and original is not None:
            self._messages[hook.channel_id].remove(original)
        elif body.get("replace_original") and original is not None:
            original["text"] = body.get("text", "")
            original["blocks"] = _with_block_ids(body.get("blocks") or [])
        elif body.get("response_type") == "in_channel" and team is not None:
            self._store_message(hook.channel_id, team, body)
        else:
            ephemeral = {"channel": hook.channel_id, "user": hook.user_id, "ts": self._next_ts()}
            self._ephemerals.append({**ephemeral, "text": body.get("text", ""), "blocks": body.get("blocks") or []})
        return 200, "ok"

    # --- methods ------------------------------------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any], grant: TokenGrant | None) -> dict[str, Any]:
        team = self._team_of(grant)
        user_id = grant.user_id if grant and grant.user_id else team.bot_user_id
        answer: dict[str, Any] = {
            "url": f"https://{team.domain}.slack.com/",
            "team": team.name,
            "user": self._users[user_id].name if user_id in self._users else user_id,
            "team_id": team.id,
            "user_id": user_id,
            "is_enterprise_install": False,
        }
        if grant and grant.user_id is None:
            answer["bot_id"] = team.bot_id
        if team.enterprise_id:
            answer["enterprise_id"] = team.enterprise_id
        return answer

    def _chat_post_message(self, params: dict[str, Any], grant: TokenGrant | None) -> dict[str, Any]:
        channel = self._postable_channel(params.get("channel"), grant)
        _check_message_content(params, POST_TEXT_LIMIT)
        message = self._store_message(channel.id, self._team_of(grant), params)
        return {"channel": channel.id, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _chat_update(self, params: dict[str, Any], grant: TokenGrant | None) -> dict[str, Any]:
        channel = self._known_channel(params.get("channel"), grant)
        message = self._find_message(channel.id, str(params.get("ts", "")))
        if message is None:
            raise SlackMethodError("message_not_found")
        if message.get("bot_id") != self._team_of(grant).bot_id:
            raise SlackMethodError("cant_update_message")
        _check_message_content(params, UPDATE_TEXT_LIMIT)
        message["text"] = params.get("text", "")
        # Slack drops the blocks of a message updated with text only (slack.md §4).
        message["blocks"] = _with_block_ids(params.get("blocks") or [])
        message["edited"] = {"user": self._team_of(grant).bot_user_id, "ts": self._next_ts()}
        return {"channel": channel.id, "ts": message["ts"], "text": message["text"], "message": copy.deepcopy(message)}

    def _chat_post_ephemeral(self, params: dict[str, Any], grant: TokenGrant | None) -> dict[str, Any]:
        channel = self._postable_channel(params.get("channel"), grant)
        user_id = str(params.get("user", ""))
        if user_id not in self._users or not _is_member(channel, self._users[user_id]):
            raise SlackMethodError("user_not_in_channel")
        _check_message_content(params, POST_TEXT_LIMIT)
        ts = self._next_ts()
        blocks = _with_block_ids(params.get("blocks") or [])
        self._ephemerals.append(
            {"channel": channel.id, "user": user_id, "ts": ts, "text": params.get("text", ""), "blocks": blocks}
        )
        return {"message_ts": ts}

    def _chat_get_permalink(self, params: dict[str, Any], grant: TokenGrant | None) -> dict[str, Any]:
        channel = self._known_channel(params.get("channel"), grant)
        ts = str(params.get("message_ts", ""))
        if self._find_message(channel.id, ts) is None:
            raise SlackMethodError("message_not_found")
        domain = self._team_of(grant).domain
        return {
            "channel": channel.id,
            "permalink": f"https://{domain}.slack.com/archives/{channel.id}/p{ts.replace('.', '')}",
        }

    def _views_open(self, params: dict[str, Any], grant: TokenGrant | None) -> dict[str, Any]:
        trigger = self._consume_trigger(params.get("trigger_id"))
        view = self._new_view(params.get("view"), grant, trigger.user_id, allowed_types=("modal",))
        self._modal_stacks[view["id"]] = [view["id"]]
        return {"view": copy.deepcopy(view)}

    def _views_push(self, params: dict[str, Any], grant: TokenGrant | None) -> dict[str, Any]:
        trigger = self._consume_trigger(params.get("trigger_id"))
        parent = self._views.get(trigger.view_id) if trigger.view_id else None
        if parent is not None and parent["type"] != "modal":
            parent = None  # a click in the Home tab has no modal to push onto: the view opens a new stack
        stack = self._modal_stacks.get(parent["root_view_id"], []) if parent else []
        if len(stack) >= MODAL_STACK_LIMIT:
            raise SlackMethodError("push_limit_reached")
        view = self._new_view(params.get("view"), grant, trigger.user_id, allowed_types=("modal",))
        if parent is not None:
            view["root_view_id"], view["previous_view_id"] = parent["root_view_id"], parent["id"]
            stack.append(view["id"])
        else:
            self._modal_stacks[view["id"]] = [view["id"]]
        return {"view": copy.deepcopy(view)}

    def _views_update(self, params: dict[str, Any], grant: TokenGrant | None) -> dict[str, Any]:
        view_id = params.get("view_id")
        if not view_id and params.get("external_id"):
            view_id = next((v["id"] for v in self._views.values() if v["external_id"] == params["external_id"]), None)
            if view_id is None:
                raise SlackMethodError("not_found")
        if not view_id:
            raise SlackMethodError(
                "invalid_arguments", response_metadata=_messages("view_id or external_id is required")
            )
        current = self._views.get(str(view_id))
        if current is None:
            raise SlackMethodError("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            raise SlackMethodError("hash_conflict")
        wire = _check_view(params.get("view"), allowed_types=(current["type"],))
        updated = self._stored_view(wire, grant, current["id"])
        updated["root_view_id"], updated["previous_view_id"] = current["root_view_id"], current["previous_view_id"]
        self._save_view(updated, self._view_owner[current["id"]])
        return {"view": copy.deepcopy(updated)}

    def _views_publish(self, params: dict[str, Any], grant: TokenGrant | None) -> dict[str, Any]:
        user_id = str(params.get("user_id", ""))
        if user_id not in self._users:
            raise SlackMethodError("user_not_found")
        existing_id = self._home_by_user.get(user_id)
        if params.get("hash") and existing_id and params["hash"] != self._views[existing_id]["hash"]:
            raise SlackMethodError("hash_conflict")
        wire = _check_view(params.get("view"), allowed_types=("home",))
        view = self._stored_view(wire, grant, existing_id or self._next_id("V"))
        self._save_view(view, user_id)
        self._home_by_user[user_id] = view["id"]
        return {"view": copy.deepcopy(view)}

    def _conversations_info(self, params: dict[str, Any], grant: TokenGrant | None) -> dict[str, Any]:
        channel = self._known_channel(params.get("channel"), grant)
        _require_scope(_grant(grant), "groups:read" if channel.is_private else "channels:read")
        return {"channel": channel.to_wire()}

    def _conversations_join(self, params: dict[str, Any], grant: TokenGrant | None) -> dict[str, Any]:
        channel = self._known_channel(params.get("channel"), grant)
        if channel.is_private or channel.is_im:
            raise SlackMethodError("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise SlackMethodError("is_archived")
        channel.bot_is_member = True
        return {"channel": channel.to_wire()}

    def _conversations_open(self, params: dict[str, Any], grant: TokenGrant | None) -> dict[str, Any]:
        user_ids = [u for u in str(params.get("users", "")).split(",") if u]
        if len(user_ids) != 1:
            raise SlackMethodError("invalid_arguments", response_metadata=_messages("this fake opens 1:1 DMs only"))
        return {"channel": {"id": self._im_with(user_ids[0], grant).id}}

    def _users_info(self, params: dict[str, Any], grant: TokenGrant | None) -> dict[str, Any]:
        user = self._users.get(str(params.get("user", "")))
        if user is None or user.team_id != _grant(grant).team_id:
            raise SlackMethodError("user_not_found")
        return {"user": user.to_wire()}

    def _apps_uninstall(self, params: dict[str, Any], grant: TokenGrant | None) -> dict[str, Any]:
        self._check_client_credentials(params)
        team_id = _grant(grant).team_id
        for other in self._tokens.values():
            if other.team_id == team_id:
                other.revoked = True
        return {}

    def _oauth_v2_access(self, params: dict[str, Any], grant: TokenGrant | None) -> dict[str, Any]:
        self._check_client_credentials(params)
        if params.get("grant_type") == "refresh_token":
            raise SlackMethodError("invalid_refresh_token")  # token rotation is off in our manifest
        code = self._oauth_codes.get(str(params.get("code", "")))
        if code is None or code.used:
            raise SlackMethodError("invalid_code")
        if code.redirect_uri is not None and params.get("redirect_uri") != code.redirect_uri:
            raise SlackMethodError("bad_redirect_uri")
        code.used = True
        team = self._teams[code.team_id]
        token = f"xoxb-{team.id}-{next(self._ids)}-{secrets.token_hex(12)}"
        self._tokens[token] = TokenGrant(team.id, frozenset(DEFAULT_BOT_SCOPES))
        return {
            "app_id": self.app_id,
            "authed_user": {"id": code.user_id},
            "scope": ",".join(DEFAULT_BOT_SCOPES),
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": team.bot_user_id,
            "team": {"id": team.id, "name": team.name},
            "enterprise": {"id": team.enterprise_id, "name": team.enterprise_id} if team.enterprise_id else None,
            "is_enterprise_install": False,
        }

    # --- helpers ------------------------------------------------------------------------------------------------

    def _check_client_credentials(self, params: dict[str, Any]) -> None:
        if params.get("client_id") != self.client_id:
            raise SlackMethodError("invalid_client_id")
        if params.get("client_secret") != self._client_secret:
            raise SlackMethodError("bad_client_secret")

    def _team_of(self, grant: TokenGrant | None) -> FakeTeam:
        return self._teams[_grant(grant).team_id]

    def _known_channel(self, channel_id: Any, grant: TokenGrant | None) -> FakeChannel:
        """A channel the token can see: private channels the bot is not in do not exist for it."""
        channel = self._channels.get(str(channel_id or ""))
        if channel is None or channel.team_id != _grant(grant).team_id:
            raise SlackMethodError("channel_not_found")
        if (channel.is_private or channel.is_im) and not channel.bot_is_member:
            raise SlackMethodError("channel_not_found")
        return channel

    def _postable_channel(self, channel_id: Any, grant: TokenGrant | None) -> FakeChannel:
        if isinstance(channel_id, str) and channel_id in self._users:
            return self._im_with(channel_id, grant)  # posting to a user id lands in the app's DM with them
        if isinstance(channel_id, str) and channel_id.startswith("#"):  # chat.postMessage also takes a name
            by_name = (c.id for c in self._channels.values() if c.name == channel_id[1:] and not c.is_im)
            channel_id = next(by_name, channel_id)
        channel = self._known_channel(channel_id, grant)
        if channel.is_archived:
            raise SlackMethodError("is_archived")
        if not channel.bot_is_member and "chat:write.public" not in _grant(grant).scopes:
            raise SlackMethodError("not_in_channel")
        return channel

    def _im_with(self, user_id: str, grant: TokenGrant | None) -> FakeChannel:
        user = self._users.get(user_id)
        if user is None or user.team_id != _grant(grant).team_id:
            raise SlackMethodError("user_not_found")
        channel_id = f"D{user_id[1:]}"
        if channel_id not in self._channels:
            self._channels[channel_id] = FakeChannel(channel_id, user.team_id, user_id, is_im=True, members={user_id})
        return self._channels[channel_id]

    def _store_message(self, channel_id: str, team: FakeTeam, params: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "ts": self._next_ts(),
            "user": team.bot_user_id,
            "bot_id": team.bot_id,
            "app_id": self.app_id,
            "team": team.id,
            "text": params.get("text", ""),
            "blocks": _with_block_ids(params.get("blocks") or []),
        }
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        if params.get("metadata"):
            message["metadata"] = params["metadata"]
        self._messages.setdefault(channel_id, []).append(message)
        return message

    def _find_message(self, channel_id: str, ts: str | None) -> dict[str, Any] | None:
        return next((m for m in self._messages.get(channel_id, []) if m["ts"] == ts), None)

    def _consume_trigger(self, trigger_id: Any) -> _Trigger:
        trigger = self._triggers.get(str(trigger_id or ""))
        if trigger is None:
            raise SlackMethodError("invalid_trigger_id")
        if trigger.used:
            raise SlackMethodError("exchanged_trigger_id")
        if self._clock() - trigger.issued_at > self.trigger_ttl_seconds:
            raise SlackMethodError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _new_view(
        self, raw: Any, grant: TokenGrant | None, user_id: str, *, allowed_types: tuple[str, ...]
    ) -> dict[str, Any]:
        wire = _check_view(raw, allowed_types=allowed_types)
        if wire.get("external_id") and any(v["external_id"] == wire["external_id"] for v in self._views.values()):
            raise SlackMethodError("duplicate_external_id")
        view = self._stored_view(wire, grant, self._next_id("V"))
        view["root_view_id"] = view["id"]
        self._save_view(view, user_id)
        return view

    def _stored_view(self, wire: dict[str, Any], grant: TokenGrant | None, view_id: str) -> dict[str, Any]:
        team = self._team_of(grant)
        return {
            "id": view_id,
            "team_id": team.id,
            "type": wire["type"],
            "blocks": _with_block_ids(wire.get("blocks") or []),
            "private_metadata": wire.get("private_metadata", ""),
            "callback_id": wire.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(self._clock())}.{secrets.token_hex(4)}",
            "title": wire.get("title"),
            "close": wire.get("close"),
            "submit": wire.get("submit"),
            "clear_on_close": bool(wire.get("clear_on_close", False)),
            "notify_on_close": bool(wire.get("notify_on_close", False)),
            "external_id": wire.get("external_id", ""),
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": self.app_id,
            "app_installed_team_id": team.id,
            "bot_id": team.bot_id,
        }

    def _save_view(self, view: dict[str, Any], user_id: str) -> None:
        self._views[view["id"]] = view
        self._view_owner[view["id"]] = user_id
        if view["id"] in self._view_order:
            self._view_order.remove(view["id"])
        self._view_order.append(view["id"])

    def _next_ts(self) -> str:
        return f"{int(self._clock())}.{next(self._ts_seq):06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):09d}"


# --- validation and parsing (pure) ---------------------------------------------------------------------------


def _grant(grant: TokenGrant | None) -> TokenGrant:
    if grant is None:
        raise SlackMethodError("not_authed")
    return grant


def _require_scope(grant: TokenGrant, needed: str) -> None:
    if needed not in grant.scopes:
        raise SlackMethodError("missing_scope", needed=needed, provided=",".join(sorted(grant.scopes)))


def _is_member(channel: FakeChannel, user: FakeUser) -> bool:
    return user.team_id == channel.team_id and (channel.members is None or user.id in channel.members)


def _set_or_none(members: Iterable[str] | None) -> set[str] | None:
    return None if members is None else set(members)


def _messages(*texts: str) -> dict[str, list[str]]:
    return {"messages": [f"[ERROR] {t}" for t in texts]}


def _check_message_content(params: dict[str, Any], text_limit: int) -> None:
    """Slack's checks on a message's `text` and `blocks`."""
    text = params.get("text")
    blocks = params.get("blocks")
    if not text and not blocks and not params.get("attachments"):
        raise SlackMethodError("no_text")
    if text is not None and len(str(text)) > text_limit:
        raise SlackMethodError("msg_too_long")
    if blocks:
        _check_blocks(blocks, MESSAGE_BLOCK_LIMIT, "invalid_blocks", "/blocks")


def _check_blocks(blocks: Any, limit: int, error: str, pointer: str) -> None:
    if not isinstance(blocks, list):
        raise SlackMethodError("invalid_blocks_format")
    if len(blocks) > limit:
        raise SlackMethodError(
            error, response_metadata=_messages(f"no more than {limit} items allowed [json-pointer:{pointer}]")
        )
    for index, block in enumerate(blocks):
        if not isinstance(block, dict) or "type" not in block:
            raise SlackMethodError(
                error, response_metadata=_messages(f"missing required field: type [json-pointer:{pointer}/{index}]")
            )
        try:
            parsed = Block.parse(copy.deepcopy(block))
            if parsed is None:
                raise SlackObjectFormationError(f"unsupported block type {block['type']!r}")
            parsed.validate_json()
        except (SlackObjectFormationError, TypeError, KeyError, AttributeError) as invalid:
            raise SlackMethodError(
                error, response_metadata=_messages(f"{invalid} [json-pointer:{pointer}/{index}]")
            ) from None


def _check_view(raw: Any, *, allowed_types: tuple[str, ...]) -> dict[str, Any]:
    """Slack's checks on a view: type, title, sizes and blocks. Returns the view as a dict."""
    if not isinstance(raw, dict):
        raise SlackMethodError(
            "invalid_arguments", response_metadata=_messages("view must be an object [json-pointer:/view]")
        )
    if "type" not in raw:
        raise SlackMethodError(
            "invalid_arguments", response_metadata=_messages("missing required field: type [json-pointer:/view]")
        )
    if raw["type"] not in allowed_types:
        raise SlackMethodError(
            "invalid_arguments", response_metadata=_messages(f"view type must be one of {allowed_types}")
        )
    problems: list[str] = []
    if raw["type"] == "modal":
        title = _plain_text_of(raw.get("title"))
        if not 1 <= len(title) <= VIEW_TITLE_LIMIT:
            problems.append(f"title must be between 1 and {VIEW_TITLE_LIMIT} characters [json-pointer:/view/title]")
        for button in ("submit", "close"):
            text = _plain_text_of(raw.get(button))
            if len(text) > VIEW_TITLE_LIMIT:
                problems.append(f"{button} must be at most {VIEW_TITLE_LIMIT} characters [json-pointer:/view/{button}]")
        if any(b.get("type") == "input" for b in raw.get("blocks") or [] if isinstance(b, dict)) and not raw.get(
            "submit"
        ):
            problems.append("submit is required when a view has input blocks [json-pointer:/view/submit]")
    if len(raw.get("private_metadata") or "") > PRIVATE_METADATA_LIMIT:
        problems.append(f"private_metadata must be at most {PRIVATE_METADATA_LIMIT} characters")
    if len(raw.get("callback_id") or "") > CALLBACK_ID_LIMIT:
        problems.append(f"callback_id must be at most {CALLBACK_ID_LIMIT} characters")
    if problems:
        raise SlackMethodError("invalid_arguments", response_metadata=_messages(*problems))
    if len(json.dumps(raw)) > VIEW_BYTES_LIMIT:
        raise SlackMethodError("view_too_large")
    _check_blocks(raw.get("blocks") or [], VIEW_BLOCK_LIMIT, "invalid_arguments", "/view/blocks")
    return raw


def _plain_text_of(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def _with_block_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of the blocks, each with a block_id (Slack assigns one when the app does not)."""
    return [{**block, "block_id": block.get("block_id") or secrets.token_hex(3)} for block in copy.deepcopy(blocks)]


def _parse_params(query: dict[str, str], body: bytes, content_type: str | None) -> dict[str, Any]:
    """Query string, then a JSON or form body, merged the way Slack reads them."""
    params: dict[str, Any] = dict(query)
    if body.strip():
        if (content_type or "").startswith("application/json") or body.lstrip().startswith(b"{"):
            decoded = json.loads(body)
            if isinstance(decoded, dict):
                params.update(decoded)
        else:
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
    return _decode_json_fields(params)


def _decode_json_fields(params: dict[str, Any]) -> dict[str, Any]:
    """Form-encoded calls send blocks/view as JSON strings; read them as Slack does."""
    for key in JSON_FIELDS:
        value = params.get(key)
        if isinstance(value, str) and value:
            # Invalid JSON stays a string: the method's validation reports it as Slack would.
            with contextlib.suppress(json.JSONDecodeError):
                params[key] = json.loads(value)
    for key in ("replace_original", "delete_original"):
        if isinstance(params.get(key), str):
            params[key] = params[key] == "true"
    return params


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return None


def _basic(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
    except ValueError:
        return None
    return client_id, client_secret
