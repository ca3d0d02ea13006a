"""Many workspaces: the OAuth install flow into the encrypted store, cached look-ups, uninstall cleanup."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from bot.config import Settings
from devtools.fake_slack import FakeSlack
from devtools.signing import SlackClientSimulator, app_uninstalled_event
from storage.crypto import SecretBox, generate_key
from storage.db import create_engine
from tests.slack.conftest import SIGNING_SECRET, RunningApp, serve, stop_later
from tests.slack.fakes import FakeService


@pytest.fixture
def multi_app(
    fake: FakeSlack, service: FakeService, sqlite_template: Path, tmp_path: Path, shutdowns: list[threading.Thread]
) -> Iterator[RunningApp]:
    target = tmp_path / "multi.sqlite3"
    shutil.copyfile(sqlite_template, target)
    key = generate_key()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite+aiosqlite:///{target}",
        encryption_keys=key,
        slack_signing_secret=SIGNING_SECRET,
        slack_bot_token=None,
        slack_client_id=fake.client_id,
        slack_client_secret="fake-client-secret",
        slack_api_base_url=fake.api_url,
        public_base_url="https://bot.example.test",
    )
    server, notifier = serve(settings, service, create_engine(settings.database_url), SecretBox(key))
    server.start()
    yield RunningApp(server.url, fake, service, notifier, settings)
    stop_later(shutdowns, server.stop)


async def install(app: RunningApp, team_id: str, user_id: str) -> None:
    """Install into `team_id` through /slack/install and /slack/oauth_redirect, as a browser would."""
    async with httpx.AsyncClient(base_url=app.url) as browser:
        page = await browser.get("/slack/install")
        assert page.status_code == 200
        cookie = SimpleCookie()
        cookie.load(page.headers["set-cookie"])
        state = cookie["slack-app-oauth-state"].value
        assert f"state={state}" in page.text  # the Add to Slack link carries the same state
        code = app.fake.issue_oauth_code(team_id=team_id, user_id=user_id)
        done = await browser.get(
            "/slack/oauth_redirect",
            params={"code": code, "state": state},
            headers={"Cookie": f"slack-app-oauth-state={state}"},
        )
        assert done.status_code == 200, done.text


@pytest.fixture
async def installed(multi_app: RunningApp) -> AsyncIterator[RunningApp]:
    """Workspace T0001 installed."""
    await install(multi_app, "T0001", "U0ANN")
    yield multi_app


async def stored_bot_tokens(app: RunningApp) -> list[str]:
    engine = create_engine(app.settings.database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT bot_token FROM slack_bots"))
            return [row[0] for row in rows]
    finally:
        await engine.dispose()


async def test_install_stores_the_bot_token_encrypted(installed: RunningApp) -> None:
    tokens = await stored_bot_tokens(installed)
    assert len(tokens) == 1
    assert tokens[0].startswith("enc:") and "xoxb-" not in tokens[0]


async def test_installed_workspace_gets_its_own_token_without_auth_test_per_request(installed: RunningApp) -> None:
    auth_tests_after_install = len(installed.fake.calls("auth.test"))
    installed.service.connect("T0001")
    async with SlackClientSimulator(installed.url, SIGNING_SECRET, "T0001", "U0ANN", installed.fake) as slack:
        for _ in range(3):
            assert (await slack.command("map")).status_code == 200
        installed.fake.recorder.wait_for("views.update", 3)
    opens = installed.fake.calls("views.open")
    assert len(opens) == 3 and all(call.error is None for call in opens)
    assert {call.token for call in opens} != {"xoxb-test"}  # the token minted by the install, not a seeded one
    assert len(installed.fake.calls("auth.test")) == auth_tests_after_install


async def test_replayed_oauth_redirect_fails(installed: RunningApp) -> None:
    async with httpx.AsyncClient(base_url=installed.url) as browser:
        response = await browser.get(
            "/slack/oauth_redirect",
            params={"code": "x", "state": "used"},
            headers={"Cookie": "slack-app-oauth-state=used"},
        )
    assert response.status_code >= 400


async def test_uninstall_deletes_the_installation_and_forgets_the_workspace(installed: RunningApp) -> None:
    async with SlackClientSimulator(installed.url, SIGNING_SECRET, "T0001", "U0ANN", installed.fake) as slack:
        assert (await slack.event(app_uninstalled_event())).status_code == 200
        installed.service.wait_for_call("forget_workspace")
        for _ in range(100):
            if not await stored_bot_tokens(installed):
                break
            await asyncio.sleep(0.02)
        assert await stored_bot_tokens(installed) == []
        await slack.command("status")
    [apology] = installed.fake.ephemerals(user_id="U0ANN")
    assert "not installed" in apology["text"]


async def test_workspace_that_never_installed_is_told_so(multi_app: RunningApp) -> None:
    async with SlackClientSimulator(multi_app.url, SIGNING_SECRET, "T0001", "U0ANN", multi_app.fake) as slack:
        response = await slack.command("status")
    assert response.status_code == 200
    assert multi_app.service.calls() == []


async def test_a_click_from_another_workspace_acts_only_on_that_workspace(installed: RunningApp) -> None:
    """Workspace B clicking a button copied from workspace A's message: values are looked up in B only."""
    from tests.slack.fakes import sample_run

    fake, service = installed.fake, installed.service
    fake.add_team("T0002", "Beta", domain="beta", bot_token=None, bot_user_id="U2BOT", bot_id="B2BOT")
    fake.add_user("U2EVE", "eve", team_id="T0002", is_admin=True)
    await install(installed, "T0002", "U2EVE")
    service.connect("T0001")
    steps = await installed.deliver_run(sample_run())
    assert steps.ts is not None
    ref = steps
    async with SlackClientSimulator(installed.url, SIGNING_SECRET, "T0002", "U2EVE", fake) as eve:
        assert (await eve.click_message_button("C0FIN", ref.ts, "fix-create-vendor")).status_code == 200
        await eve.click_message_button("C0FIN", ref.ts, "fix-retry")
    fake.recorder.wait_for("views.update", 2)
    touched = {call.team_id for call in service.calls() if call.method in ("create_missing_vendors", "retry_invoice")}
    assert touched == {"T0002"}
    assert service.team("T0001").vendor_rows[1].match.value == "will_create"  # A's supplier was not created
