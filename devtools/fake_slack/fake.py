"""FakeSlack: the method families, the HTTP server and the test-facing API put together."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from devtools.fake_slack.auth import AuthMethods
from devtools.fake_slack.chat import ChatMethods
from devtools.fake_slack.conversations import ConversationMethods
from devtools.fake_slack.files import FileMethods, UploadedFile
from devtools.fake_slack.messages import MessageStore, Notification
from devtools.fake_slack.response_urls import ResponseUrls
from devtools.fake_slack.server import CallRecorder, Fault, FaultInjector, RecordedCall, SlackHttp
from devtools.fake_slack.views import ViewMethods
from devtools.fake_slack.workspace import DEFAULT_BOT_SCOPES, FakeChannel, FakeTeam, FakeUser, Workspace
from devtools.server import BackgroundServer


class FakeSlack:
    """The fake Web API: state (teams, users, channels, messages, views, files), validation, faults and a recorder."""

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
        self.app_id = app_id
        self._workspace = Workspace(clock)
        self._faults = FaultInjector()
        self._store = MessageStore(self._workspace, app_id)
        self._views = ViewMethods(self._workspace, app_id, trigger_ttl_seconds)
        self._auth = AuthMethods(self._workspace, client_id=client_id, client_secret=client_secret, app_id=app_id)
        self._files = FileMethods(self._workspace, self._store, lambda: self.url)
        self._responses = ResponseUrls(self._workspace, self._store)
        token_methods = {
            **self._auth.handlers(),
            **ChatMethods(self._workspace, self._store).handlers(),
            **self._views.handlers(),
            **ConversationMethods(self._workspace, self._store).handlers(),
            **self._files.handlers(),
        }
        http = SlackHttp(
            self._workspace,
            self.recorder,
            self._faults,
            token_methods=token_methods,
            app_methods={"oauth.v2.access": self._auth.oauth_v2_access},
            responses=self._responses,
            files=self._files,
        )
        self.app = http.app
        self._server: BackgroundServer | None = None
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

    @property
    def client_id(self) -> str:
        return self._auth.client_id

    @property
    def trigger_ttl_seconds(self) -> float:
        return self._views.trigger_ttl_seconds

    @trigger_ttl_seconds.setter
    def trigger_ttl_seconds(self, seconds: float) -> None:
        self._views.trigger_ttl_seconds = seconds

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
        with self._workspace.lock:
            team = FakeTeam(team_id, name, domain, bot_user_id, bot_id, enterprise_id)
            self._workspace.add_team(team, bot_token, scopes)

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
        with self._workspace.lock:
            self._workspace.users[user_id] = FakeUser(user_id, team_id, name, is_admin, is_owner, is_primary_owner)

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
        """A channel; `members` are the people in it (None: everyone in the team), the bot apart (`bot_is_member`)."""
        with self._workspace.lock:
            people = None if members is None else set(members)
            channel = FakeChannel(channel_id, team_id, name, is_private, False, is_archived, bot_is_member, people)
            self._workspace.channels[channel_id] = channel

    def set_channel(
        self,
        channel_id: str,
        *,
        is_archived: bool | None = None,
        bot_is_member: bool | None = None,
        members: Iterable[str] | None = None,
    ) -> None:
        """Change a channel mid-test: archive it, remove the bot, change who is in it (None leaves a field as is)."""
        with self._workspace.lock:
            self._workspace.set_channel(
                channel_id, is_archived=is_archived, bot_is_member=bot_is_member, members=members
            )

    def set_token_scopes(self, token: str, scopes: Iterable[str]) -> None:
        """Replace a token's scopes, e.g. `set_token_scopes(t, set(fake.token_scopes(t)) - {"files:write"})`."""
        with self._workspace.lock:
            self._workspace.tokens[token].scopes = frozenset(scopes)

    def token_scopes(self, token: str) -> frozenset[str]:
        with self._workspace.lock:
            return self._workspace.tokens[token].scopes

    # --- what simulated interactions need -----------------------------------------------------------------------

    def mint_trigger_id(self, user_id: str, *, view_id: str | None = None) -> str:
        """A trigger_id as Slack puts in a command or interaction payload (from within `view_id`, if given)."""
        with self._workspace.lock:
            return self._views.mint_trigger_id(user_id, view_id)

    def new_response_url(self, *, channel_id: str, user_id: str, message_ts: str | None = None) -> str:
        """A response_url for a command (or for a click on the message `message_ts`)."""
        with self._workspace.lock:
            return self._responses.new(self.url, channel_id, user_id, message_ts)

    def issue_oauth_code(
        self, *, team_id: str = "T0001", user_id: str = "U0ANN", redirect_uri: str | None = None
    ) -> str:
        """The `code` Slack appends to the OAuth redirect after a user approves the install."""
        with self._workspace.lock:
            return self._auth.issue_code(team_id, user_id, redirect_uri)

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
        """The next `times` calls to `method` ("response_url", "file_upload" too) answer `error` with `status`."""
        with self._workspace.lock:
            self._faults.add(Fault(method, status, error, retry_after, times))

    def rate_limit_next(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """HTTP 429 with `Retry-After`, as Slack answers over a method's tier limit."""
        self.fail_next(method, error="ratelimited", status=429, retry_after=retry_after, times=times)

    def server_error_next(self, method: str, *, status: int = 500, times: int = 1) -> None:
        self.fail_next(method, error="internal_error", status=status, times=times)

    def lose_answer_next(self, method: str, *, status: int = 504, times: int = 1) -> None:
        """The next call to `method` takes effect, but its answer is lost (HTTP 504 from a proxy)."""
        with self._workspace.lock:
            self._faults.add(Fault(method, status, "gateway_timeout", None, times, after_running=True))

    # --- queries for tests --------------------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        return self.recorder.calls(method)

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Messages the app has in a channel, thread replies and file shares included, oldest first."""
        with self._workspace.lock:
            return self._store.messages(channel_id)

    def top_level(self, channel_id: str) -> list[dict[str, Any]]:
        """The channel's messages outside any thread, oldest first (broadcast replies are in `replies`)."""
        with self._workspace.lock:
            return self._store.top_level(channel_id)

    def replies(self, channel_id: str, thread_ts: str) -> list[dict[str, Any]]:
        """A thread's replies without its parent, oldest first; broadcast ones have `reply_broadcast: True`."""
        with self._workspace.lock:
            return self._store.replies(channel_id, thread_ts)

    def message(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        with self._workspace.lock:
            found = self._store.find(channel_id, ts)
            return copy.deepcopy(found) if found else None

    def notifications(self, channel_id: str | None = None, *, thread_ts: str | None = None) -> list[Notification]:
        """Posts that notified people (new messages, replies, file shares; never edits), optionally in one thread."""
        with self._workspace.lock:
            return self._store.notifications(channel_id, thread_ts)

    def ephemerals(self, *, user_id: str | None = None, channel_id: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral messages (chat.postEphemeral and ephemeral response_url replies), oldest first."""
        with self._workspace.lock:
            return self._store.ephemerals(user_id, channel_id)

    def files(self, channel_id: str | None = None) -> list[UploadedFile]:
        """Files whose upload the app completed (shared in `channel_id`, if given), with their bytes and shares."""
        with self._workspace.lock:
            return self._files.files(channel_id)

    def file(self, file_id: str) -> UploadedFile | None:
        with self._workspace.lock:
            return self._files.file(file_id)

    def view(self, view_id: str) -> dict[str, Any] | None:
        with self._workspace.lock:
            return self._views.view(view_id)

    def last_view(
        self, callback_id: str | None = None, *, user_id: str | None = None, view_type: str | None = None
    ) -> dict[str, Any] | None:
        """The most recently opened, pushed, updated or published view matching the filters."""
        with self._workspace.lock:
            return self._views.last_view(callback_id, user_id, view_type)

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self._workspace.lock:
            return self._views.home_view(user_id)

    def channel_ref(self, channel_id: str) -> dict[str, str]:
        """`{"id", "name"}` as interaction payloads carry it."""
        with self._workspace.lock:
            return {"id": channel_id, "name": self._workspace.channels[channel_id].name}

    def bot_user_id(self, team_id: str) -> str:
        with self._workspace.lock:
            return self._workspace.teams[team_id].bot_user_id

    def team(self, team_id: str) -> FakeTeam | None:
        with self._workspace.lock:
            found = self._workspace.teams.get(team_id)
            return copy.copy(found) if found else None

    def user(self, user_id: str) -> FakeUser | None:
        with self._workspace.lock:
            found = self._workspace.users.get(user_id)
            return copy.copy(found) if found else None

    def token_is_active(self, token: str) -> bool:
        with self._workspace.lock:
            grant = self._workspace.tokens.get(token)
            return grant is not None and not grant.revoked
