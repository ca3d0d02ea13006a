"""Teams, users, channels and tokens of the fake Slack, and the rules of who may see and post where."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from devtools.fake_slack.checks import SlackMethodError, require_scope

# Exactly what the manifest asks for: tests/test_manifest.py checks the two stay equal, so a scope the fake grants and
# the manifest lacks fails there, not in a customer's workspace.
DEFAULT_BOT_SCOPES: tuple[str, ...] = (
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
SCOPE_FOR_METHOD: dict[str, str] = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.join": "channels:join",
    "conversations.open": "im:write",
    "users.info": "users:read",
    "users.list": "users:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "conversations.history": "channels:history",  # groups:history / im:history for private channels and DMs
    "conversations.replies": "channels:history",
    "conversations.info": "channels:read",  # groups:read for a private channel
}


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
    members: set[str] | None = None  # people in it (the bot aside); None: every user of the team

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

    def has_member(self, user: FakeUser) -> bool:
        return user.team_id == self.team_id and (self.members is None or user.id in self.members)


@dataclass
class TokenGrant:
    team_id: str
    scopes: frozenset[str]
    user_id: str | None = None  # None: a bot token
    revoked: bool = False


# A Web API method authenticated by a token: (params, grant) -> the answer's fields besides "ok".
TokenHandler = Callable[[dict[str, Any], TokenGrant], dict[str, Any]]


class Workspace:
    """The state every method family shares; the server holds `lock` while a method runs."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.teams: dict[str, FakeTeam] = {}
        self.users: dict[str, FakeUser] = {}
        self.channels: dict[str, FakeChannel] = {}
        self.tokens: dict[str, TokenGrant] = {}
        self._ids = itertools.count(1)
        self._ts_seq = itertools.count(1)

    # --- seeding ------------------------------------------------------------------------------------------------

    def add_team(self, team: FakeTeam, bot_token: str | None, scopes: Iterable[str]) -> None:
        self.teams[team.id] = team
        self.users[team.bot_user_id] = FakeUser(team.bot_user_id, team.id, "qbo", is_bot=True)
        if bot_token is not None:
            self.tokens[bot_token] = TokenGrant(team.id, frozenset(scopes))

    def set_channel(
        self,
        channel_id: str,
        *,
        is_archived: bool | None,
        bot_is_member: bool | None,
        members: Iterable[str] | None,
    ) -> None:
        channel = self.channels[channel_id]
        if is_archived is not None:
            channel.is_archived = is_archived
        if bot_is_member is not None:
            channel.bot_is_member = bot_is_member
        if members is not None:
            channel.members = set(members)

    # --- authentication -----------------------------------------------------------------------------------------

    def authenticate(self, token: str | None, method: str) -> TokenGrant:
        """The grant behind a token, refusing a missing, unknown or revoked one, or one without the method's scope."""
        if not token:
            raise SlackMethodError("not_authed")
        grant = self.tokens.get(token)
        if grant is None:
            raise SlackMethodError("invalid_auth")
        if grant.revoked:
            raise SlackMethodError("token_revoked")
        needed = SCOPE_FOR_METHOD.get(method)
        if needed is not None:
            require_scope(grant.scopes, needed)
        return grant

    def team_of(self, grant: TokenGrant) -> FakeTeam:
        return self.teams[grant.team_id]

    # --- who and where ------------------------------------------------------------------------------------------

    def user_of_team(self, user_id: Any, grant: TokenGrant) -> FakeUser:
        """A user the token's workspace has; anyone else (another team, a channel id, made-up text) is not found."""
        user = self.users.get(str(user_id or ""))
        if user is None or user.team_id != grant.team_id:
            raise SlackMethodError("user_not_found")
        return user

    def known_channel(self, channel_id: Any, grant: TokenGrant) -> FakeChannel:
        """A channel the token can see: private channels the bot is not in do not exist for it."""
        channel = self.channels.get(str(channel_id or ""))
        if channel is None or channel.team_id != grant.team_id:
            raise SlackMethodError("channel_not_found")
        if (channel.is_private or channel.is_im) and not channel.bot_is_member:
            raise SlackMethodError("channel_not_found")
        return channel

    def writable_channel(self, channel_id: Any, grant: TokenGrant) -> FakeChannel:
        """A channel the bot may write in: not archived, and a member of it (or public with chat:write.public)."""
        channel = self.known_channel(channel_id, grant)
        if channel.is_archived:
            raise SlackMethodError("is_archived")
        if not channel.bot_is_member and "chat:write.public" not in grant.scopes:
            raise SlackMethodError("not_in_channel")
        return channel

    def postable_channel(self, channel_id: Any, grant: TokenGrant) -> FakeChannel:
        """Where chat.postMessage lands: a channel id, a `#name`, or a user id (the app's DM with that user)."""
        target = str(channel_id or "")
        user = self.users.get(target)
        if user is not None and user.team_id == grant.team_id:
            return self.im_with(user)
        if target.startswith("#"):
            named = [c for c in self.channels.values() if c.team_id == grant.team_id and not c.is_im]
            by_name = (c.id for c in named if c.name == target[1:])
            target = next(by_name, target)
        return self.writable_channel(target, grant)

    def im_with(self, user: FakeUser) -> FakeChannel:
        """The bot's DM with a person (opened on first use); a bot cannot be messaged."""
        if user.is_bot:
            raise SlackMethodError("cannot_dm_bot")
        channel_id = f"D{user.id[1:]}"
        if channel_id not in self.channels:
            self.channels[channel_id] = FakeChannel(channel_id, user.team_id, user.id, is_im=True, members={user.id})
        return self.channels[channel_id]

    # --- identifiers --------------------------------------------------------------------------------------------

    def next_ts(self) -> str:
        return f"{int(self.clock())}.{next(self._ts_seq):06d}"

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):09d}"

    def next_number(self) -> int:
        return next(self._ids)
