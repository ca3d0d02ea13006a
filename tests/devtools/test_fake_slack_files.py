"""File upload on the fake Slack, driven by slack_sdk's files_upload_v2: get an upload URL, POST the bytes to it (the
fake serves it), complete the upload into a channel or thread. Same channel rules as chat.postMessage."""

from __future__ import annotations

import httpx
import pytest
from slack_sdk.errors import SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from devtools.fake_slack import FakeSlack, FileShare
from tests.devtools.conftest import error_code, slack_error

REPORT = "invoice,error\nINV-1,unknown vendor\n"


@pytest.fixture(autouse=True)
def files_scope(fake: FakeSlack) -> None:
    """Uploading needs files:write, which the product's manifest does not ask for yet."""
    fake.set_token_scopes("xoxb-test", {*fake.token_scopes("xoxb-test"), "files:write"})


async def test_files_upload_v2_shares_the_bytes_into_the_thread_as_one_notifying_reply(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    parent = (await client.chat_postMessage(channel="C0FIN", text="Sync #7: 1 failure"))["ts"]
    answer = await client.files_upload_v2(
        channel="C0FIN", thread_ts=parent, content=REPORT, filename="failures.csv", title="Failures of sync #7"
    )

    file = fake.file(answer["file"]["id"])
    assert file is not None and file.content == REPORT.encode()
    assert (file.filename, file.title, file.length) == ("failures.csv", "Failures of sync #7", len(REPORT))
    [reply] = fake.replies("C0FIN", parent)
    assert file.shares == [FileShare("C0FIN", reply["ts"], parent)]
    assert [f["id"] for f in reply["files"]] == [file.id]
    [notified] = fake.notifications("C0FIN", thread_ts=parent)
    assert (notified.ts, notified.via) == (reply["ts"], "files.completeUploadExternal")
    assert [c.method for c in fake.calls() if c.method != "chat.postMessage"] == [
        "files.getUploadURLExternal",
        "file_upload",
        "files.completeUploadExternal",
    ]


async def test_a_file_without_thread_is_a_top_level_message_with_its_comment(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    await client.files_upload_v2(channel="C0FIN", content=b"%PDF-1.7", filename="sync.pdf", initial_comment="Report")
    [message] = fake.top_level("C0FIN")
    assert message["text"] == "Report" and message["files"][0]["name"] == "sync.pdf"
    [file] = fake.files("C0FIN")
    assert file.content == b"%PDF-1.7" and file.title == "sync.pdf"  # the title defaults to the file name
    assert fake.files("C0GEN") == []


async def test_uploading_needs_files_write(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.set_token_scopes("xoxb-test", fake.token_scopes("xoxb-test") - {"files:write"})
    error = await slack_error(client.files_upload_v2(channel="C0FIN", content=REPORT, filename="failures.csv"))
    assert (error.response["error"], error.response["needed"]) == ("missing_scope", "files:write")
    assert fake.files() == []


@pytest.mark.parametrize(
    ("channel", "archive", "expected"),
    [
        ("C0FIN", True, "is_archived"),
        ("G0PAY", False, "channel_not_found"),
        ("C0GONE", False, "channel_not_found"),
    ],
    ids=["archived", "private_without_the_bot", "unknown"],
)
async def test_a_file_goes_only_where_a_message_could(
    fake: FakeSlack, client: AsyncWebClient, channel: str, archive: bool, expected: str
) -> None:
    if archive:
        fake.set_channel(channel, is_archived=True)
    upload = client.files_upload_v2(channel=channel, content=REPORT, filename="failures.csv")
    assert await error_code(upload) == expected
    assert fake.files() == [] and fake.messages(channel) == []


async def test_a_public_channel_without_the_bot_takes_a_file_only_with_chat_write_public(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    await client.files_upload_v2(channel="C0GEN", content=REPORT, filename="with-public.csv")
    fake.set_token_scopes("xoxb-test", fake.token_scopes("xoxb-test") - {"chat:write.public"})
    upload = client.files_upload_v2(channel="C0GEN", content=REPORT, filename="without.csv")
    assert await error_code(upload) == "not_in_channel"
    assert [f.filename for f in fake.files("C0GEN")] == ["with-public.csv"]


async def test_a_file_into_a_thread_that_is_not_there_is_thread_not_found(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    upload = client.files_upload_v2(channel="C0FIN", thread_ts="1.000009", content=REPORT, filename="f.csv")
    assert await error_code(upload) == "thread_not_found"
    assert fake.notifications() == []


async def test_completing_a_file_whose_bytes_never_arrived_is_file_not_found(client: AsyncWebClient) -> None:
    started = await client.files_getUploadURLExternal(filename="failures.csv", length=len(REPORT))
    complete = client.files_completeUploadExternal(files=[{"id": started["file_id"]}], channel_id="C0FIN")
    assert await error_code(complete) == "file_not_found"


async def test_another_workspaces_file_is_file_not_found(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_team("T0002", "Other", domain="other", bot_token="xoxb-other", bot_user_id="U2BOT", bot_id="B2BOT")
    fake.set_token_scopes("xoxb-other", {*fake.token_scopes("xoxb-other"), "files:write"})
    fake.add_channel("C2FIN", "finance", team_id="T0002")
    other = AsyncWebClient(token="xoxb-other", base_url=fake.api_url)
    started = await client.files_getUploadURLExternal(filename="failures.csv", length=len(REPORT))
    async with httpx.AsyncClient() as http:
        assert (await http.post(started["upload_url"], content=REPORT.encode())).status_code == 200
    complete = other.files_completeUploadExternal(files=[{"id": started["file_id"]}], channel_id="C2FIN")
    assert await error_code(complete) == "file_not_found"


async def test_the_upload_url_takes_exactly_the_length_promised_and_only_once(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    started = await client.files_getUploadURLExternal(filename="failures.csv", length=len(REPORT))
    async with httpx.AsyncClient() as http:
        short = await http.post(started["upload_url"], content=REPORT.encode()[:-1])
        exact = await http.post(started["upload_url"], content=REPORT.encode())
        again = await http.post(started["upload_url"], content=REPORT.encode())
    assert (short.status_code, exact.status_code, again.status_code) == (400, 200, 400)
    assert exact.text == f"OK - {len(REPORT)}"


async def test_an_empty_file_is_refused_before_any_upload(client: AsyncWebClient) -> None:
    assert await error_code(client.files_getUploadURLExternal(filename="empty.csv", length=0)) == "missing_argument"


async def test_a_failed_byte_upload_fails_files_upload_v2_and_shares_nothing(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.server_error_next("file_upload", status=500)
    with pytest.raises(SlackRequestError, match="Failed to upload a file"):
        await client.files_upload_v2(channel="C0FIN", content=REPORT, filename="failures.csv")
    assert fake.calls("file_upload")[0].status == 500
    assert fake.files("C0FIN") == [] and fake.calls("files.completeUploadExternal") == []
