"""A fake Slack Web API for tests, the demo and benchmarks: answers, validates and records like Slack.

Serve it on loopback and point `AsyncWebClient(base_url=fake.api_url)` at it:

    with FakeSlack() as fake:                       # starts uvicorn on 127.0.0.1, a free port
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        await client.chat_postMessage(channel="C0FIN", text="hi")
        assert fake.calls("chat.postMessage")[0].params["text"] == "hi"

Facts reproduced (../shared/reference/slack.md §4.1, §5, §7, §9): `{"ok": false, "error": ...}` on HTTP 200,
`Authorization: Bearer` or `token=` auth, Block Kit limits, single-use trigger_ids that expire after 3 s,
`hash_conflict`, the modal stack of 3, `not_in_channel`/`channel_not_found`/`is_archived` for every write,
`missing_scope`, DMs only with people of the workspace (`user_not_found`, `cannot_dm_bot`), thread replies only
under an existing parent (`thread_not_found`), the three-step file upload (`files_upload_v2`), `oauth.v2.access`
with HTTP Basic client credentials, `response_url` (5 uses in 30 minutes), and injected faults (429 +
Retry-After, 5xx, any error code).

Seeded workspace T0001 "Acme": bot U0BOT/B0BOT with token `xoxb-test` (DEFAULT_BOT_SCOPES), admin U0ANN (ann),
member U0BOB (bob), public #finance C0FIN (bot is a member), public #general C0GEN (bot is not), private #payroll
G0PAY (bot is not).

Modules: workspace (teams, users, channels, tokens), checks (payload validation), messages (channels, threads,
notifications), chat, views, conversations, auth, files, response_urls, server (HTTP, recording, faults), fake.
"""

from __future__ import annotations

from devtools.fake_slack.checks import SlackMethodError
from devtools.fake_slack.fake import FakeSlack
from devtools.fake_slack.files import FileShare, UploadedFile
from devtools.fake_slack.messages import Notification
from devtools.fake_slack.server import CallRecorder, RecordedCall
from devtools.fake_slack.workspace import (
    DEFAULT_BOT_SCOPES,
    SCOPE_FOR_METHOD,
    FakeChannel,
    FakeTeam,
    FakeUser,
    TokenGrant,
)

__all__ = [
    "DEFAULT_BOT_SCOPES",
    "SCOPE_FOR_METHOD",
    "CallRecorder",
    "FakeChannel",
    "FakeSlack",
    "FakeTeam",
    "FakeUser",
    "FileShare",
    "Notification",
    "RecordedCall",
    "SlackMethodError",
    "TokenGrant",
    "UploadedFile",
]
