"""response_url hooks: a command's or a click's way to answer, usable 5 times within 30 minutes (slack.md §4)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from devtools.fake_slack.checks import POST_TEXT_LIMIT, SlackMethodError, check_message_content
from devtools.fake_slack.messages import MessageStore
from devtools.fake_slack.workspace import Workspace

RESPONSE_URL_USES = 5
RESPONSE_URL_TTL_SECONDS = 30 * 60
RESPONSE_PATH = "/response/"


@dataclass
class _Hook:
    channel_id: str
    user_id: str
    message_ts: str | None
    created_at: float
    uses: int = 0


class ResponseUrls:
    """Hooks handed to simulated interactions, and what the app posts to them."""

    def __init__(self, workspace: Workspace, store: MessageStore) -> None:
        self._workspace = workspace
        self._store = store
        self._hooks: dict[str, _Hook] = {}

    def new(self, base_url: str, channel_id: str, user_id: str, message_ts: str | None) -> str:
        response_id = secrets.token_hex(8)
        self._hooks[response_id] = _Hook(channel_id, user_id, message_ts, self._workspace.clock())
        return f"{base_url}{RESPONSE_PATH}{response_id}"

    def respond(self, response_id: str, body: dict[str, Any]) -> tuple[int, str]:
        """Slack's plain-text answer (status, body): ephemeral, in_channel, replace or delete the original."""
        hook = self._hooks.get(response_id)
        if hook is None:
            return 404, "no_active_hooks"
        if self._workspace.clock() - hook.created_at > RESPONSE_URL_TTL_SECONDS:
            return 404, "expired_url"
        if hook.uses >= RESPONSE_URL_USES:
            return 404, "used_url"
        if not body.get("delete_original"):  # a delete carries no content
            try:
                check_message_content(body, POST_TEXT_LIMIT)
            except SlackMethodError as invalid:
                return 400, invalid.error
        hook.uses += 1
        channel = self._workspace.channels.get(hook.channel_id)
        original = self._store.find(hook.channel_id, hook.message_ts) if hook.message_ts else None
        if body.get("delete_original") and original is not None:
            self._store.delete(hook.channel_id, original)
        elif body.get("replace_original") and original is not None:
            team = self._workspace.teams[channel.team_id] if channel else None
            self._store.edit(original, body, team.bot_user_id if team else hook.user_id)
        elif body.get("response_type") == "in_channel" and channel is not None:
            self._store.post(hook.channel_id, self._workspace.teams[channel.team_id], body, via="response_url")
        else:
            self._store.add_ephemeral(hook.channel_id, hook.user_id, body)
        return 200, "ok"
