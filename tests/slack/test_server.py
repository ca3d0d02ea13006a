"""Starting the app: what `qbo-bot serve` and `qbo-bot socket` build, and what they refuse to start without."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.app import SlackInstallation
from bot.config import Settings
from bot.server import build_web_app, serve_socket_mode
from devtools.fake_slack import FakeSlack
from devtools.server import BackgroundServer
from storage.crypto import SecretBox
from storage.db import create_engine
from tests.slack.conftest import single_workspace_settings
from tests.slack.fakes import FakeService


def test_served_app_runs_startup_and_shutdown_hooks_and_answers_healthz(
    fake: FakeSlack, tmp_path: Path, box: SecretBox
) -> None:
    settings = single_workspace_settings(fake, f"sqlite+aiosqlite:///{tmp_path}/serve.sqlite3")
    events: list[str] = []

    async def started() -> None:
        events.append("started")

    async def stopped() -> None:
        events.append("stopped")

    web = build_web_app(
        settings, FakeService(), create_engine(settings.database_url), box, on_startup=[started], on_shutdown=[stopped]
    )
    with BackgroundServer(web) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert events == ["started"]
    assert events == ["started", "stopped"]


def test_without_a_bot_token_or_oauth_settings_the_app_does_not_start(tmp_path: Path, box: SecretBox) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite+aiosqlite:///{tmp_path}/x.sqlite3",
        slack_signing_secret="s",
        slack_bot_token=None,
        slack_client_id=None,
    )
    with pytest.raises(ValueError, match="SLACK_BOT_TOKEN"):
        SlackInstallation(settings, create_engine(settings.database_url), box)


async def test_socket_mode_needs_an_app_token(fake: FakeSlack, tmp_path: Path, box: SecretBox) -> None:
    settings = single_workspace_settings(fake, f"sqlite+aiosqlite:///{tmp_path}/socket.sqlite3")
    with pytest.raises(ValueError, match="SLACK_APP_TOKEN"):
        await serve_socket_mode(settings, service=FakeService(), engine=create_engine(settings.database_url), box=box)
