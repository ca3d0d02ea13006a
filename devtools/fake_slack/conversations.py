"""conversations.info, conversations.join, conversations.open and users.info."""

from __future__ import annotations

from typing import Any

from devtools.fake_slack.checks import SlackMethodError, error_messages, require_scope
from devtools.fake_slack.workspace import TokenGrant, TokenHandler, Workspace


class ConversationMethods:
    """Looking up channels and people, joining public channels and opening DMs."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def handlers(self) -> dict[str, TokenHandler]:
        return {
            "conversations.info": self.info,
            "conversations.join": self.join,
            "conversations.open": self.open,
            "users.info": self.users_info,
        }

    def info(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        channel = self._workspace.known_channel(params.get("channel"), grant)
        require_scope(grant.scopes, "groups:read" if channel.is_private else "channels:read")
        return {"channel": channel.to_wire()}

    def join(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        channel = self._workspace.known_channel(params.get("channel"), grant)
        if channel.is_private or channel.is_im:
            raise SlackMethodError("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise SlackMethodError("is_archived")
        channel.bot_is_member = True
        return {"channel": channel.to_wire()}

    def open(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        """A 1:1 DM with a person of the token's workspace; anything else is refused as Slack does."""
        if params.get("channel") and not params.get("users"):
            channel = self._workspace.known_channel(params["channel"], grant)  # resuming a DM by its id
            if not channel.is_im:
                raise SlackMethodError("method_not_supported_for_channel_type")
            return {"channel": {"id": channel.id}}
        user_ids = [u.strip() for u in str(params.get("users") or "").split(",")]
        # Each id must be a person here: a channel id, "system" or "" is user_not_found, a bot cannot_dm_bot.
        users = [self._workspace.user_of_team(user_id, grant) for user_id in user_ids]
        if len(users) != 1:
            raise SlackMethodError(
                "invalid_arguments", response_metadata=error_messages("this fake opens 1:1 DMs only")
            )
        return {"channel": {"id": self._workspace.im_with(users[0]).id}}

    def users_info(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        return {"user": self._workspace.user_of_team(params.get("user"), grant).to_wire()}
