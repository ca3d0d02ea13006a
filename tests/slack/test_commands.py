"""`/qbo` over real HTTP: help and suggestions in the ack, answers after it, admin checks, the payload trap."""

from __future__ import annotations

import time

from devtools.signing import FORM_CONTENT_TYPE, slash_command_body
from tests.slack.conftest import RunningApp
from tests.slack.fakes import FakeService


def wait_ephemeral(app: RunningApp, user_id: str = "U0ANN", count: int = 1) -> list[dict]:
    app.fake.recorder.wait_for("response_url", count)
    return app.fake.ephemerals(user_id=user_id)


async def test_help_lists_every_subcommand_in_the_ack(app: RunningApp, slack) -> None:
    response = await slack.command("help")
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert body["text"]
    for name in ("connect", "vendors", "map", "sync", "status", "settings", "disconnect"):
        assert f"/qbo {name}" in str(body["blocks"])


async def test_bare_command_answers_help(app: RunningApp, slack) -> None:
    response = await slack.command("")
    assert "/qbo sync" in str(response.json()["blocks"])


async def test_misspelt_subcommand_answers_help_with_a_suggestion(app: RunningApp, slack) -> None:
    response = await slack.command("stauts")
    body = response.json()
    assert response.status_code == 200
    assert "Did you mean `/qbo status`?" in body["text"]
    assert "/qbo connect" in str(body["blocks"])


async def test_unknown_word_answers_help_without_a_wild_guess(app: RunningApp, slack) -> None:
    body = (await slack.command("xyzzy")).json()
    assert "I don't know `/qbo xyzzy`." in body["text"]
    assert "Did you mean" not in body["text"]


async def test_status_answers_after_the_ack_with_the_connection(app: RunningApp, connected: FakeService, slack) -> None:
    response = await slack.command("status")
    assert response.status_code == 200
    assert response.content == b""  # nothing in the ack: the answer follows through response_url
    [reply] = wait_ephemeral(app)
    assert "Acme Books LLC" in reply["text"]
    assert "Bonus" in str(reply["blocks"])  # unmapped concepts are listed


async def test_status_when_not_connected_says_how_to_connect(app: RunningApp, slack) -> None:
    await slack.command("status")
    [reply] = wait_ephemeral(app)
    assert "/qbo connect" in reply["text"]


async def test_sync_is_acked_before_the_service_finishes(app: RunningApp, connected: FakeService, slack) -> None:
    gate = connected.gates.setdefault("request_sync", __import__("threading").Event())
    response = await slack.command("sync")
    # The HTTP answer came back while request_sync is still blocked on the gate.
    assert response.status_code == 200
    connected.wait_for_call("request_sync")
    assert app.fake.ephemerals(user_id="U0ANN") == []
    gate.set()
    [reply] = wait_ephemeral(app)
    assert "Sync #100 queued" in reply["text"]
    [call] = connected.calls("request_sync")
    assert call.team_id == "T0001"
    assert call.args == {"user_id": "U0ANN", "trigger": "manual", "channel_id": "C0FIN"}


async def test_second_sync_joins_the_queued_run(app: RunningApp, connected: FakeService, slack) -> None:
    await slack.command("sync")
    wait_ephemeral(app)
    await slack.command("sync")
    replies = wait_ephemeral(app, count=2)
    assert "already queued" in replies[-1]["text"]


async def test_sync_payload_routes_as_a_command(app: RunningApp, connected: FakeService, slack) -> None:
    """Bolt 1.30 parses any form body containing "payload" as {} and 404s; ours must not (and reads the text: the
    extra word names a company, and there is none by that name)."""
    response = await slack.command("sync payload")
    assert response.status_code == 200
    assert "`payload`" in wait_ephemeral(app)[0]["text"]
    assert connected.calls("request_sync") == []


async def test_command_from_a_channel_named_payload_still_works(app: RunningApp, slack) -> None:
    app.fake.add_channel("C0PAY", "payload-alerts")
    response = await slack.command("help", channel_id="C0PAY")
    assert response.status_code == 200
    assert "/qbo sync" in str(response.json()["blocks"])


async def test_sync_preview_shows_what_would_be_created(app: RunningApp, connected: FakeService, slack) -> None:
    await slack.command("sync preview")
    [reply] = wait_ephemeral(app)
    assert "5 bills would be booked" in reply["text"]
    assert "Bonus (2)" in str(reply["blocks"])  # the concept's label, not its code
    assert connected.calls("request_sync") == []


async def test_non_admin_is_refused_politely_and_nothing_is_queued(
    app: RunningApp, connected: FakeService, slack
) -> None:
    bob = slack.as_user("U0BOB")
    response = await bob.command("sync")
    assert response.status_code == 200
    [reply] = wait_ephemeral(app, user_id="U0BOB")
    assert "only workspace admins" in reply["text"]
    assert connected.calls("request_sync") == []


async def test_user_on_the_allow_list_may_sync(app: RunningApp, connected: FakeService, slack) -> None:
    from dataclasses import replace

    state = connected.team("T0001")
    state.settings = replace(state.settings, admin_user_ids=["U0BOB"])
    await slack.as_user("U0BOB").command("sync")
    [reply] = wait_ephemeral(app, user_id="U0BOB")
    assert "queued" in reply["text"]


async def test_an_admin_demoted_in_slack_is_refused_at_the_next_action(
    app: RunningApp, connected: FakeService, slack
) -> None:
    await slack.command("sync")
    [first] = wait_ephemeral(app)
    app.fake.add_user("U0ANN", "ann", is_admin=False)  # an owner takes Ann's admin role away

    await slack.command("sync")

    second = wait_ephemeral(app, count=2)[-1]
    assert "queued" in first["text"] and "only workspace admins" in second["text"]
    assert len(app.fake.calls("users.info")) == 2  # asked afresh for each admin action


async def test_bad_signature_is_401_and_reaches_nothing(app: RunningApp, service: FakeService, slack) -> None:
    body = slash_command_body(slack.actor, text="sync")
    headers = {"Content-Type": FORM_CONTENT_TYPE, "X-Slack-Request-Timestamp": str(int(time.time()))}
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    response = await slack._http.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 401
    assert service.calls() == []


async def test_stale_timestamp_is_401(app: RunningApp, service: FakeService, slack) -> None:
    body = slash_command_body(slack.actor, text="sync")
    response = await slack.post(body, FORM_CONTENT_TYPE, timestamp=int(time.time()) - 301)
    assert response.status_code == 401
    assert service.calls() == []


async def test_url_verification_echoes_the_challenge(app: RunningApp, slack) -> None:
    response = await slack.url_verification("abc123")
    assert response.status_code == 200
    assert response.json() == {"challenge": "abc123"}


async def test_request_from_another_workspace_is_refused(app: RunningApp, service: FakeService) -> None:
    from devtools.signing import SlackClientSimulator
    from tests.slack.conftest import SIGNING_SECRET

    app.fake.add_team("T0002", "Other", domain="other", bot_token=None, bot_user_id="U2BOT", bot_id="B2BOT")
    app.fake.add_user("U2EVE", "eve", team_id="T0002", is_admin=True)
    async with SlackClientSimulator(app.url, SIGNING_SECRET, "T0002", "U2EVE", app.fake) as eve:
        response = await eve.command("sync")
    # Authorization runs before any listener: once the answer is back, nothing can reach the service any more.
    assert response.status_code == 200
    assert service.calls() == []
    [apology] = app.fake.ephemerals(user_id="U2EVE")
    assert "not installed in this workspace" in apology["text"]


async def test_single_workspace_identity_is_looked_up_once(app: RunningApp, connected: FakeService, slack) -> None:
    for _ in range(3):
        await slack.command("status")
    wait_ephemeral(app, count=3)
    assert len(app.fake.calls("auth.test")) == 1


async def test_unsigned_garbage_is_401_not_a_crash(app: RunningApp, service: FakeService, slack) -> None:
    for body, content_type in [(b"{not json", "application/json"), (b"payload=%7Bnope", FORM_CONTENT_TYPE)]:
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(int(time.time()))}
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
        response = await slack._http.post("/slack/events", content=body, headers=headers)
        assert response.status_code == 401
    assert service.calls() == []
