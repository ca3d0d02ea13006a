"""Slack's file upload: files.getUploadURLExternal, a POST of the bytes to its upload_url, files.completeUploadExternal.

The upload_url is served by the fake itself (server.py routes it to `receive_upload`), so slack_sdk's
`files_upload_v2(channel=..., thread_ts=..., content=..., filename=..., title=...)` works end to end on loopback.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devtools.fake_slack.checks import SlackMethodError, error_messages
from devtools.fake_slack.messages import MessageStore
from devtools.fake_slack.workspace import FakeChannel, TokenGrant, TokenHandler, Workspace

UPLOAD_PATH = "/upload/v1/"


@dataclass(frozen=True)
class FileShare:
    """Where a file was shared: the message carrying it (a thread reply when `thread_ts` is set)."""

    channel_id: str
    ts: str
    thread_ts: str | None


@dataclass
class UploadedFile:
    """A file the app uploaded: its bytes once POSTed to the upload_url, and where it was shared once completed."""

    id: str
    team_id: str
    filename: str
    length: int
    title: str = ""
    content: bytes | None = None  # None: nothing was POSTed to the upload_url yet
    completed: bool = False
    shares: list[FileShare] = field(default_factory=list)

    def to_wire(self, user_id: str, created: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.filename,
            "title": self.title,
            "size": self.length,
            "user": user_id,
            "created": created,
            "is_external": False,
        }


class FileMethods:
    """Upload URLs handed out, bytes received, and files shared into channels and threads as notifying messages."""

    def __init__(self, workspace: Workspace, store: MessageStore, base_url: Callable[[], str]) -> None:
        self._workspace = workspace
        self._store = store
        self._base_url = base_url
        self._files: dict[str, UploadedFile] = {}
        self._upload_keys: dict[str, str] = {}  # the secret part of an upload_url -> file id

    def handlers(self) -> dict[str, TokenHandler]:
        return {
            "files.getUploadURLExternal": self.get_upload_url,
            "files.completeUploadExternal": self.complete_upload,
        }

    def get_upload_url(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        filename = str(params.get("filename") or "")
        length = params.get("length")
        if not filename or length in (None, ""):
            raise SlackMethodError("missing_argument")
        try:
            size = int(str(length))
        except ValueError:
            raise SlackMethodError(
                "invalid_arguments", response_metadata=error_messages("length must be an integer")
            ) from None
        if size <= 0:
            raise SlackMethodError("missing_argument")  # Slack's answer to a length of 0
        file = UploadedFile(self._workspace.next_id("F"), grant.team_id, filename, size)
        self._files[file.id] = file
        key = secrets.token_urlsafe(16)
        self._upload_keys[key] = file.id
        return {"upload_url": f"{self._base_url()}{UPLOAD_PATH}{key}", "file_id": file.id}

    def file_id_for_key(self, key: str) -> str | None:
        return self._upload_keys.get(key)

    def receive_upload(self, key: str, body: bytes) -> tuple[int, str]:
        """The POST to an upload_url: Slack answers in plain text, "OK - <bytes>"."""
        file = self._files.get(self._upload_keys.get(key, ""))
        if file is None:
            return 404, "not_found"
        if file.content is not None:
            return 400, "already_uploaded"
        if len(body) != file.length:
            # The fake is strict here: the length promised to files.getUploadURLExternal must be what arrives.
            return 400, f"length_mismatch: expected {file.length} bytes, got {len(body)}"
        file.content = body
        return 200, f"OK - {len(body)}"

    def complete_upload(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        entries = _file_entries(params.get("files"))
        channel_ids = [c for c in str(params.get("channels") or "").split(",") if c]
        if params.get("channel_id"):
            channel_ids.insert(0, str(params["channel_id"]))
        thread_ts = str(params["thread_ts"]) if params.get("thread_ts") else None
        if thread_ts is not None and len(channel_ids) != 1:
            raise SlackMethodError(
                "invalid_arguments", response_metadata=error_messages("thread_ts needs exactly one channel")
            )
        files = [self._uploaded(entry, grant) for entry in entries]
        # Same rules as chat.postMessage: check every target before sharing anything.
        channels = [self._workspace.postable_channel(channel_id, grant) for channel_id in channel_ids]
        if thread_ts is not None:
            self._store.thread_parent(channels[0].id, thread_ts)
        for file, entry in zip(files, entries, strict=True):
            file.title = str(entry.get("title") or file.filename)
            file.completed = True
        for channel in channels:
            self._share(files, channel, grant, thread_ts, str(params.get("initial_comment") or ""))
        return {"files": [{"id": file.id, "title": file.title} for file in files]}

    # --- reading (copies, for tests) ----------------------------------------------------------------------------

    def file(self, file_id: str) -> UploadedFile | None:
        found = self._files.get(file_id)
        return copy.deepcopy(found) if found else None

    def files(self, channel_id: str | None) -> list[UploadedFile]:
        return [
            copy.deepcopy(f)
            for f in self._files.values()
            if f.completed and (channel_id is None or any(share.channel_id == channel_id for share in f.shares))
        ]

    # --- helpers ------------------------------------------------------------------------------------------------

    def _uploaded(self, entry: dict[str, Any], grant: TokenGrant) -> UploadedFile:
        file = self._files.get(str(entry.get("id") or ""))
        if file is None or file.team_id != grant.team_id or file.content is None:
            raise SlackMethodError("file_not_found")  # unknown, another workspace's, or its bytes never arrived
        return file

    def _share(
        self, files: list[UploadedFile], channel: FakeChannel, grant: TokenGrant, thread_ts: str | None, comment: str
    ) -> None:
        team = self._workspace.team_of(grant)
        created = int(self._workspace.clock())
        message = self._store.post(
            channel.id,
            team,
            {"text": comment},
            via="files.completeUploadExternal",
            thread_ts=thread_ts,
            extra={"files": [f.to_wire(team.bot_user_id, created) for f in files], "upload": True},
        )
        for file in files:
            file.shares.append(FileShare(channel.id, message["ts"], thread_ts))


def _file_entries(raw: Any) -> list[dict[str, Any]]:
    """The `files` argument: a JSON array (a string in a form or query) of {"id", "title"?}."""
    entries = raw
    if isinstance(raw, str):
        try:
            entries = json.loads(raw)
        except json.JSONDecodeError:
            entries = None
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) and e.get("id") for e in entries):
        raise SlackMethodError(
            "invalid_arguments", response_metadata=error_messages("files must be a JSON array of {id, title}")
        )
    return entries
