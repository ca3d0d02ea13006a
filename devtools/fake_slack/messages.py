"""The messages the app left in channels and threads, its ephemerals, and which posts notified people."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from devtools.fake_slack.checks import SlackMethodError, with_block_ids
from devtools.fake_slack.workspace import FakeTeam, Workspace


@dataclass(frozen=True)
class Notification:
    """A post that notified people: a new message or thread reply (a file share too). Edits never notify."""

    channel_id: str
    ts: str
    thread_ts: str | None  # None: a top-level message
    text: str
    via: str  # the method that posted it: chat.postMessage, files.completeUploadExternal, response_url
    broadcast: bool = False  # a thread reply also sent to the channel (reply_broadcast)


class MessageStore:
    """Messages per channel in posting order (thread replies among them, marked by `thread_ts`)."""

    def __init__(self, workspace: Workspace, app_id: str) -> None:
        self._workspace = workspace
        self._app_id = app_id
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._ephemerals: list[dict[str, Any]] = []
        self._notifications: list[Notification] = []

    # --- writing ------------------------------------------------------------------------------------------------

    def thread_parent(self, channel_id: str, thread_ts: Any) -> dict[str, Any]:
        """The top-level message a reply goes under; a reply's own ts is no thread (Slack: "use its parent")."""
        parent = self.find(channel_id, str(thread_ts))
        if parent is None or "thread_ts" in parent:
            raise SlackMethodError("thread_not_found")
        return parent

    def post(
        self,
        channel_id: str,
        team: FakeTeam,
        params: dict[str, Any],
        *,
        via: str,
        thread_ts: str | None = None,
        broadcast: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store a new message from the app (checked by the caller) and record that it notified the channel."""
        message: dict[str, Any] = {
            "type": "message",
            "ts": self._workspace.next_ts(),
            "user": team.bot_user_id,
            "bot_id": team.bot_id,
            "app_id": self._app_id,
            "team": team.id,
            "text": params.get("text") or "",
            "blocks": with_block_ids(params.get("blocks") or []),
            **(extra or {}),
        }
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
            message["reply_broadcast"] = broadcast
            if broadcast:
                message["subtype"] = "thread_broadcast"
        if params.get("metadata"):
            message["metadata"] = params["metadata"]
        self._messages.setdefault(channel_id, []).append(message)
        self._notifications.append(Notification(channel_id, message["ts"], thread_ts, message["text"], via, broadcast))
        return message

    def edit(self, message: dict[str, Any], params: dict[str, Any], editor_user_id: str) -> None:
        """chat.update or a replace_original: new text and blocks, no notification."""
        message["text"] = params.get("text") or ""
        # Slack drops the blocks of a message updated with text only (slack.md §4).
        message["blocks"] = with_block_ids(params.get("blocks") or [])
        if params.get("metadata"):  # chat.update may set a message's metadata too
            message["metadata"] = params["metadata"]
        message["edited"] = {"user": editor_user_id, "ts": self._workspace.next_ts()}

    def delete(self, channel_id: str, message: dict[str, Any]) -> None:
        self._messages[channel_id].remove(message)

    def add_ephemeral(self, channel_id: str, user_id: str, params: dict[str, Any]) -> str:
        ts = self._workspace.next_ts()
        blocks = with_block_ids(params.get("blocks") or [])
        self._ephemerals.append(
            {"channel": channel_id, "user": user_id, "ts": ts, "text": params.get("text") or "", "blocks": blocks}
        )
        return ts

    def find(self, channel_id: str, ts: str | None) -> dict[str, Any] | None:
        return next((m for m in self._messages.get(channel_id, []) if m["ts"] == ts), None)

    # --- reading (copies, for tests) ----------------------------------------------------------------------------

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self._messages.get(channel_id, []))

    def top_level(self, channel_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages(channel_id) if "thread_ts" not in m]

    def replies(self, channel_id: str, thread_ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages(channel_id) if m.get("thread_ts") == thread_ts]

    def notifications(self, channel_id: str | None, thread_ts: str | None) -> list[Notification]:
        return [
            n
            for n in self._notifications
            if (channel_id is None or n.channel_id == channel_id) and (thread_ts is None or n.thread_ts == thread_ts)
        ]

    def ephemerals(self, user_id: str | None, channel_id: str | None) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(m)
            for m in self._ephemerals
            if (user_id is None or m["user"] == user_id) and (channel_id is None or m["channel"] == channel_id)
        ]
