"""chat.postMessage, chat.update, chat.postEphemeral and chat.getPermalink."""

from __future__ import annotations

import copy
from typing import Any

from devtools.fake_slack.checks import (
    POST_TEXT_LIMIT,
    UPDATE_TEXT_LIMIT,
    SlackMethodError,
    check_message_content,
    is_true,
)
from devtools.fake_slack.messages import MessageStore
from devtools.fake_slack.workspace import TokenGrant, TokenHandler, Workspace


class ChatMethods:
    """Messages the app posts and edits; the channel rules are Workspace.postable_channel's."""

    def __init__(self, workspace: Workspace, store: MessageStore) -> None:
        self._workspace = workspace
        self._store = store

    def handlers(self) -> dict[str, TokenHandler]:
        return {
            "chat.postMessage": self.post_message,
            "chat.update": self.update,
            "chat.postEphemeral": self.post_ephemeral,
            "chat.getPermalink": self.get_permalink,
        }

    def post_message(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        channel = self._workspace.postable_channel(params.get("channel"), grant)
        check_message_content(params, POST_TEXT_LIMIT)
        thread_ts = None
        if params.get("thread_ts"):
            thread_ts = self._store.thread_parent(channel.id, params["thread_ts"])["ts"]
        message = self._store.post(
            channel.id,
            self._workspace.team_of(grant),
            params,
            via="chat.postMessage",
            thread_ts=thread_ts,
            broadcast=thread_ts is not None and is_true(params.get("reply_broadcast")),
        )
        return {"channel": channel.id, "ts": message["ts"], "message": copy.deepcopy(message)}

    def update(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        channel = self._workspace.writable_channel(params.get("channel"), grant)
        message = self._store.find(channel.id, str(params.get("ts", "")))
        if message is None:
            raise SlackMethodError("message_not_found")
        team = self._workspace.team_of(grant)
        if message.get("bot_id") != team.bot_id:
            raise SlackMethodError("cant_update_message")
        check_message_content(params, UPDATE_TEXT_LIMIT)
        self._store.edit(message, params, team.bot_user_id)
        return {"channel": channel.id, "ts": message["ts"], "text": message["text"], "message": copy.deepcopy(message)}

    def post_ephemeral(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        channel = self._workspace.postable_channel(params.get("channel"), grant)
        user = self._workspace.users.get(str(params.get("user", "")))
        if user is None or not channel.has_member(user):
            raise SlackMethodError("user_not_in_channel")
        check_message_content(params, POST_TEXT_LIMIT)
        return {"message_ts": self._store.add_ephemeral(channel.id, user.id, params)}

    def get_permalink(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        channel = self._workspace.known_channel(params.get("channel"), grant)
        ts = str(params.get("message_ts", ""))
        if self._store.find(channel.id, ts) is None:
            raise SlackMethodError("message_not_found")
        domain = self._workspace.team_of(grant).domain
        return {
            "channel": channel.id,
            "permalink": f"https://{domain}.slack.com/archives/{channel.id}/p{ts.replace('.', '')}",
        }
