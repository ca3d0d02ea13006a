"""conversations.info, .join, .open, .history, .replies and users.info."""

from __future__ import annotations

from typing import Any

from devtools.fake_slack.checks import SlackMethodError, error_messages, is_true, require_scope
from devtools.fake_slack.messages import MessageStore
from devtools.fake_slack.workspace import FakeChannel, TokenGrant, TokenHandler, Workspace


class ConversationMethods:
    """Looking up channels and people, joining public channels and opening DMs."""

    def __init__(self, workspace: Workspace, store: MessageStore) -> None:
        self._workspace = workspace
        self._store = store

    def handlers(self) -> dict[str, TokenHandler]:
        return {
            "conversations.info": self.info,
            "conversations.join": self.join,
            "conversations.open": self.open,
            "conversations.history": self.history,
            "conversations.replies": self.replies,
            "users.list": self.users_list,
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

    def history(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        """Top-level messages, newest first, from `oldest` on; metadata only with include_all_metadata."""
        channel = self._readable(params, grant)
        oldest = float(params.get("oldest") or 0)
        found = [m for m in self._store.messages(channel.id) if "thread_ts" not in m and float(m["ts"]) >= oldest]
        return self._page(found[::-1], params)

    def replies(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        """A thread, parent first (Slack's order); thread_not_found for a ts that starts no thread."""
        channel = self._readable(params, grant)
        parent = self._store.find(channel.id, str(params.get("ts") or ""))
        if parent is None:
            raise SlackMethodError("thread_not_found")
        return self._page([parent, *self._store.replies(channel.id, parent["ts"])], params)

    def _readable(self, params: dict[str, Any], grant: TokenGrant) -> FakeChannel:
        channel = self._workspace.known_channel(params.get("channel"), grant)
        scope = "im:history" if channel.is_im else "groups:history" if channel.is_private else "channels:history"
        require_scope(grant.scopes, scope)
        if not channel.bot_is_member:
            raise SlackMethodError("not_in_channel")
        return channel

    def _page(self, found: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        limit = max(1, min(int(params.get("limit") or 100), 1000))
        with_metadata = is_true(params.get("include_all_metadata"))
        shown = [m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in found[:limit]]
        return {"messages": shown, "has_more": len(found) > limit}

    def users_info(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        return {"user": self._workspace.user_of_team(params.get("user"), grant).to_wire()}

    def users_list(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        """The token's workspace members, bots included (as Slack lists them), one page of `limit`."""
        require_scope(grant.scopes, "users:read")
        team = self._workspace.team_of(grant)
        members = [user.to_wire() for user in self._workspace.users.values() if user.team_id == team.id]
        limit = max(1, min(int(params.get("limit") or 200), 1000))
        return {"members": members[:limit], "response_metadata": {"next_cursor": ""}}
