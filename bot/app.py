"""The Bolt app: one AsyncApp for every Slack surface, single-workspace (bot token) or multi-workspace (OAuth).

- Single workspace when SLACK_BOT_TOKEN is set: the token's identity comes from one auth.test, cached for the
  life of the process; requests from any other workspace are refused.
- Many workspaces otherwise: installations live in the encrypted SQLAlchemy store, looked up per request through
  a TTL cache (no auth.test per request, slack.md Pitfall 8).
- Web API calls retry on connection errors and on 429 (honouring Retry-After), after the ack.
- The Bolt "payload" parsing trap (slack.md Pitfall 1) is neutralised by `SlackRequest`, which bot/web.py uses.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from handlers import register_all
from handlers.deps import AdminChecker, Deps
from storage.crypto import SecretBox
from storage.slack_stores import EncryptedInstallationStore, oauth_state_store
from sync.api import BotService, QboLinks, TeamRef

log = structlog.get_logger(__name__)

BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "users:read",
    "channels:read",
    "groups:read",
    "im:write",
    "channels:history",
    "groups:history",
    "im:history",
    "files:write",
)
INSTALLATION_CACHE_SECONDS = 300.0
WEB_API_TIMEOUT_SECONDS = 10
WEB_API_RETRIES = 2
AUTH_TEST_TIMEOUT_SECONDS = 2


class NotInstalledError(Exception):
    """No bot token for this workspace (never installed, or uninstalled)."""


def make_web_client(settings: Settings, token: str | None = None) -> AsyncWebClient:
    """An AsyncWebClient pointed at settings.slack_api_base_url that retries connection errors and 429s."""
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_base_url,
        timeout=WEB_API_TIMEOUT_SECONDS,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=WEB_API_RETRIES),
            AsyncRateLimitErrorRetryHandler(max_retry_count=WEB_API_RETRIES),
        ],
    )


# --- signatures -------------------------------------------------------------------------------------------

SIGNATURE_WINDOW_SECONDS = 300  # slack.md §2: older or newer requests are refused (replays)
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_MAX_TIMESTAMP_DIGITS = 12  # int() of a huge digit string raises (and costs); Unix seconds need 10


def slack_headers_problem(timestamp: str | None, signature: str | None, now: float) -> str | None:
    """Why these headers cannot sign a fresh Slack request, decided before the body is read; None when they can.

    The timestamp must be ASCII digits: `str.isdigit()` alone accepts "²", which int() then refuses.
    """
    if not timestamp or not signature:
        return "missing signature headers"
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        return "malformed timestamp"
    if abs(now - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
        return "timestamp outside the five-minute window"
    if not _SIGNATURE.fullmatch(signature):
        return "malformed signature"
    return None


def slack_signature_valid(signing_secret: str, timestamp: str, signature: str, body: bytes) -> bool:
    """`v0=` HMAC-SHA256 of `v0:<timestamp>:<raw body>` under the signing secret, compared in constant time."""
    mac = hmac.new(signing_secret.encode(), b"v0:" + timestamp.encode("ascii") + b":", hashlib.sha256)
    mac.update(body)  # not concatenated: no second copy of a body of up to a MiB
    expected = "v0=" + mac.hexdigest()
    # Bytes on both sides: compare_digest raises TypeError for str holding non-ASCII characters.
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace"))


# --- the payload trap ---------------------------------------------------------------------------------------

MAX_NESTING = 64  # Slack's payloads (views with Block Kit) nest about a dozen levels; deeper is not from Slack


class MalformedSlackRequest(ValueError):
    """A signed request whose body is not shaped like anything Slack sends (the message is for logs)."""


def parse_slack_body(raw_body: str, content_type: str | None) -> dict[str, Any]:
    """Slack's request bodies, read correctly: JSON events; form posts where only a real `payload` field is JSON.

    Bolt 1.30's parse_body returns {} for any form body merely containing the text "payload" (a command like
    `/qbo sync payload`, a channel named payload-alerts), which then 404s as an unhandled request.
    Raises MalformedSlackRequest for bad JSON, a non-object, deep nesting, or fields of the wrong type.
    """
    if not raw_body:
        return {}
    if (content_type or "").startswith("application/json") or raw_body.lstrip().startswith("{"):
        return _checked(_json_object(raw_body))
    fields = dict(parse_qsl(raw_body, keep_blank_values=True))
    payload = fields.get("payload")
    if payload is not None and "command" not in fields:
        return _checked(_json_object(payload))
    return fields  # form fields are strings by construction


def _json_object(text: str) -> dict[str, Any]:
    """Parsed after the signature was verified: garbage from a signer is a 400, never a 500."""
    try:
        loaded = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        raise MalformedSlackRequest("body is not JSON") from None
    if not isinstance(loaded, dict):
        raise MalformedSlackRequest("body is not a JSON object")
    return loaded


# Field types the Slack payloads have (slack.md §3) wherever Bolt's context, matchers and our listeners read them.
# A field of another type would raise inside Bolt (TypeError, KeyError, ...) and become a 500.
_STRINGS = frozenset(
    {
        "type",
        "subtype",
        "token",
        "id",
        "team_id",
        "enterprise_id",
        "user_id",
        "channel_id",
        "api_app_id",
        "trigger_id",
        "response_url",
        "callback_id",
        "action_id",
        "block_id",
        "command",
        "text",
        "value",
        "challenge",
        "ssl_check",
        "thread_ts",
        "ts",
        "event_ts",
        "action_ts",
        "message_ts",
        "bot_id",
        "channel_type",
        "tab",
        "hash",
        "private_metadata",
        "app_installed_team_id",
        "user_team",
        "function_execution_id",
        "execution_id",
        "bot_access_token",
        "context_team_id",
        "context_enterprise_id",
    }
)
_REFERENCES = frozenset({"team", "user", "channel", "enterprise"})  # an id string, or an object with an id
_OBJECTS = frozenset(
    {"event", "view", "message", "previous_message", "item", "assistant_thread", "container", "function_data", "state"}
)
_OBJECT_LISTS = frozenset({"actions", "authorizations", "response_urls"})
_HOST = re.compile(r"[a-z0-9.-]+|[0-9a-f:.]+")  # urlsplit lower-cases hostname and strips IPv6 brackets
_NEVER_NULL = frozenset({"view", "event", "actions", "response_urls"})  # Bolt reads them whenever the key is there
_FLAGS = frozenset({"is_enterprise_install", "is_ext_shared_channel"})  # booleans ("true" in form posts)


def _checked(body: dict[str, Any]) -> dict[str, Any]:
    """`body` when its shape is one Bolt and the listeners can read; raises MalformedSlackRequest otherwise."""
    _check_depth(body)
    _check_fields(body, "body")
    kind = body.get("type")
    if kind == "block_actions":
        actions = body.get("actions")
        if not actions or not all(isinstance(action.get("action_id"), str) for action in actions):
            raise MalformedSlackRequest("block_actions without actions")
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("type"), str):
            raise MalformedSlackRequest(f"{kind} without a view")
    if kind == "event_callback" and not isinstance(body.get("event"), dict):
        raise MalformedSlackRequest("event_callback without an event")
    if kind in ("workflow_step_edit", "workflow_step_execute"):  # retired by Slack; Bolt indexes them blindly
        raise MalformedSlackRequest("workflow steps are not supported")
    return body


def _check_depth(body: dict[str, Any]) -> None:
    """Iterative, so a deep body cannot exhaust the stack here; later deep copies (lazy listeners) cannot either."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_NESTING:
            raise MalformedSlackRequest("body nests too deeply")
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def _check_fields(container: dict[str, Any], where: str) -> None:
    """Check the known fields of `container` and of the known objects inside it (no deeper than MAX_NESTING)."""
    pending = [(container, where)]
    while pending:
        current, path = pending.pop()
        for key, value in current.items():
            here = f"{path}.{key}"
            if value is None and key in _NEVER_NULL:
                raise MalformedSlackRequest(f"{here} is null")
            if value is None:
                continue
            if key in _STRINGS and not isinstance(value, str) and not (key == "text" and path.endswith("]")):
                raise MalformedSlackRequest(f"{here} is not a string")
            if key == "response_url" and not _web_address(value):
                # Bolt posts to it (e.g. "not installed" replies) and raises on a URL it cannot use.
                raise MalformedSlackRequest(f"{here} is not an http(s) address")
            if key in _FLAGS and not isinstance(value, bool | str):
                raise MalformedSlackRequest(f"{here} is not a flag")
            if key in _REFERENCES and isinstance(value, dict):
                pending.append((value, here))
            elif key in _REFERENCES and not isinstance(value, str):
                raise MalformedSlackRequest(f"{here} is neither an id nor an object")
            if key in _OBJECTS:
                if not isinstance(value, dict):
                    raise MalformedSlackRequest(f"{here} is not an object")
                pending.append((value, here))
            if key in _OBJECT_LISTS:
                if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
                    raise MalformedSlackRequest(f"{here} is not a list of objects")
                pending.extend((item, f"{here}[{index}]") for index, item in enumerate(value))
            if key == "values" and path.endswith(".state"):
                _check_state_values(value, here)


def _web_address(value: str) -> bool:
    """An absolute http(s) URL with a plain host name or IP address (what Slack's response URLs are)."""
    try:
        parts = urlsplit(value)
        return (
            parts.scheme in ("http", "https") and _HOST.fullmatch(parts.hostname or "") is not None and parts.port != 0
        )
    except ValueError:  # a bad port or IPv6 literal
        return False


def _check_state_values(values: Any, where: str) -> None:
    """view.state.values: block_id -> action_id -> the element's state object."""
    if not isinstance(values, dict) or not all(
        isinstance(block, dict) and all(isinstance(state, dict) for state in block.values())
        for block in values.values()
    ):
        raise MalformedSlackRequest(f"{where} is not block_id -> action_id -> state")


class SlackRequest(AsyncBoltRequest):
    """An AsyncBoltRequest whose body is parsed by `parse_slack_body` (copies, e.g. for lazy listeners, too).

    Raises MalformedSlackRequest when the body is not shaped like a Slack request.
    """

    def __init__(self, *, body: str | dict[str, Any], **kwargs: Any) -> None:
        if not (isinstance(body, str) and kwargs.get("mode", "http") == "http"):
            super().__init__(body=body, **kwargs)
            return
        # Bolt's own parse never sees the raw body (it mis-parses "payload" and raises on bad JSON): ours does.
        super().__init__(body="", **kwargs)
        self.raw_body = body  # what Bolt's own signature check (kept on: defence in depth) reads
        self.body = parse_slack_body(body, self.content_type)
        self.context = build_async_context(AsyncBoltContext(kwargs.get("context") or {}), self.body)

    def to_copyable(self) -> SlackRequest:
        body: str | dict[str, Any] = self.raw_body if self.mode == "http" else self.body
        return SlackRequest(
            body=body, query=self.query, headers=self.headers, context=self.context.to_copyable(), mode=self.mode
        )


# --- authorization ------------------------------------------------------------------------------------------


class SingleTokenAuthorize(AsyncAuthorize):
    """One workspace, one bot token: auth.test once, then the cached identity for every request."""

    def __init__(self, settings: Settings, token: str) -> None:
        super().__init__()
        self._settings = settings
        self._token = token
        self._identity: dict[str, Any] | None = None

    async def identity(self) -> dict[str, Any]:
        if self._identity is None:
            # Runs before the ack of the first request: a short timeout and no retries keep it inside 3 s.
            client = AsyncWebClient(
                token=self._token, base_url=self._settings.slack_api_base_url, timeout=AUTH_TEST_TIMEOUT_SECONDS
            )
            response = await client.auth_test()
            self._identity = dict(response.data) if isinstance(response.data, dict) else {}
        return self._identity

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        try:
            identity = await self.identity()
        except SlackApiError as error:
            log.error("bot_token_rejected", error=error.response.get("error"))
            return None
        except (aiohttp.ClientError, TimeoutError) as error:
            log.error("slack_unreachable", error=type(error).__name__)
            return None
        if team_id and identity.get("team_id") and team_id != identity["team_id"]:
            log.warning("request_from_other_workspace", team_id=team_id)
            return None
        return AuthorizeResult(
            enterprise_id=identity.get("enterprise_id") or enterprise_id,
            team_id=identity.get("team_id") or team_id,
            bot_token=self._token,
            bot_id=identity.get("bot_id"),
            bot_user_id=identity.get("user_id"),
            user_id=user_id,
        )


class InstallationAuthorize(AsyncAuthorize):
    """Many workspaces: the bot from the encrypted installation store, cached per workspace for a few minutes."""

    def __init__(
        self,
        store: EncryptedInstallationStore,
        *,
        ttl_seconds: float = INSTALLATION_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._store = store
        self._ttl = ttl_seconds
        self._clock = clock
        self._bots: dict[tuple[str | None, str | None], tuple[float, Bot | None]] = {}

    async def find_bot(self, enterprise_id: str | None, team_id: str | None, *, org_wide: bool = False) -> Bot | None:
        key = (enterprise_id, None if org_wide else team_id)
        cached = self._bots.get(key)
        now = self._clock()
        if cached is not None and cached[0] > now:
            return cached[1]
        bot = await self._store.async_find_bot(
            enterprise_id=enterprise_id, team_id=None if org_wide else team_id, is_enterprise_install=org_wide
        )
        self._bots[key] = (now + self._ttl, bot)
        return bot

    def forget(self, team: TeamRef) -> None:
        self._bots.pop((team.enterprise_id, team.team_id), None)
        self._bots.pop((team.enterprise_id, None), None)

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        bot = await self.find_bot(enterprise_id, team_id, org_wide=bool(context.is_enterprise_install))
        if bot is None:
            return None
        return AuthorizeResult(
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            user_id=user_id,
        )


class SlackInstallation:
    """How this process finds a workspace's bot token, for listeners (authorize) and the worker (client_for)."""

    def __init__(self, settings: Settings, engine: AsyncEngine, box: SecretBox | None) -> None:
        self.settings = settings
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        self._token = token or None
        self.store: EncryptedInstallationStore | None = None
        if settings.slack_client_id and box is not None:
            self.store = EncryptedInstallationStore(settings.slack_client_id, engine, box)
        self.engine = engine
        self.authorize: AsyncAuthorize
        if self._token is not None:
            self.authorize = SingleTokenAuthorize(settings, self._token)
        elif self.store is not None:
            self.authorize = InstallationAuthorize(self.store)
        else:
            raise ValueError("set SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and ENCRYPTION_KEYS (OAuth)")

    @property
    def multi_workspace(self) -> bool:
        return self._token is None

    async def client_for(self, team: TeamRef) -> AsyncWebClient:
        """An AsyncWebClient with the workspace's bot token (raises NotInstalledError)."""
        if self._token is not None:
            return make_web_client(self.settings, self._token)
        assert isinstance(self.authorize, InstallationAuthorize)
        bot = await self.authorize.find_bot(team.enterprise_id, team.team_id)
        if bot is None or not bot.bot_token:
            raise NotInstalledError(f"the app is not installed in workspace {team.team_id}")
        return make_web_client(self.settings, bot.bot_token)

    async def forget(self, team: TeamRef) -> None:
        """Delete the workspace's installation rows (uninstall / revoked) and drop it from the cache."""
        if isinstance(self.authorize, InstallationAuthorize):
            self.authorize.forget(team)
        if self.store is not None:
            await self.store.async_delete_all(enterprise_id=team.enterprise_id, team_id=team.team_id)

    def oauth_settings(self) -> AsyncOAuthSettings | None:
        """Install flow settings on our encrypted stores (never Bolt's default file stores: replicas share none)."""
        client_secret = self.settings.slack_client_secret
        if self.store is None or not self.settings.slack_client_id or client_secret is None:
            return None
        base = (self.settings.public_base_url or "").rstrip("/")
        return AsyncOAuthSettings(
            client_id=self.settings.slack_client_id,
            client_secret=client_secret.get_secret_value(),
            scopes=list(BOT_SCOPES),
            user_scopes=[],
            redirect_uri=f"{base}/slack/oauth_redirect" if base else None,
            installation_store=self.store,
            installation_store_bot_only=True,
            state_store=oauth_state_store(self.engine),
            logger=logging.getLogger("slack_bolt.oauth"),
        )


def create_bolt_app(
    settings: Settings,
    service: BotService,
    engine: AsyncEngine,
    box: SecretBox | None,
    *,
    installation: SlackInstallation | None = None,
    socket_mode: bool = False,
) -> AsyncApp:
    """A fresh AsyncApp with every listener registered (nothing is global: tests build one per test).

    Args:
        socket_mode: requests arrive over the Socket Mode websocket, which carries no signature to verify.
    """
    installation = installation or SlackInstallation(settings, engine, box)
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    app = AsyncApp(
        signing_secret=signing_secret,
        client=make_web_client(settings, token),
        authorize=cast(Any, installation.authorize),  # an AsyncAuthorize instance is accepted with oauth_settings
        oauth_settings=installation.oauth_settings(),
        installation_store_bot_only=True,
        request_verification_enabled=not socket_mode,
        # Answer when the listener acks, not when Bolt's 10 ms poll notices the ack: every listener acks first and
        # hands the rest to a task of its own (handlers/errors.py `reported`).
        process_before_response=True,
        logger=logging.getLogger("slack_bolt"),
        # Answer unknown workspaces politely (Bolt's default text is about reinstalling).
        user_facing_authorize_error_message="This app is not installed in this workspace. Ask an admin to install it.",
    )
    deps = Deps(
        service=service,
        admins=AdminChecker(service),
        forget_installation=installation.forget,
        links=QboLinks(settings.qbo_app_url),
    )
    register_all(app, deps)
    return app
