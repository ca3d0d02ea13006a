"""Starting the app: what `qbo-bot serve` and `qbo-bot socket` build, and what they refuse to start without."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.app import SlackInstallation
from bot.config import Settings
from bot.server import build_web_app, serve_socket_mode
from devtools.fake_slack import FakeSlack
from devtools.server import BackgroundServer, free_port
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


# --- `qbo-bot serve` as a process: the public port and the metrics port ----------------------------------------


def serve_command(tmp_path: Path, port: int, metrics_port: int) -> tuple[list[str], dict[str, str]]:
    """`qbo-bot serve` on loopback with every setting explicit (nothing from the developer's environment)."""
    from bot.config import PURPOSES
    from storage.crypto import generate_key

    env = {key: value for key, value in os.environ.items() if key not in PURPOSES}
    env.update(
        {
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.sqlite3'}",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "ENCRYPTION_KEYS": generate_key(),
            "SLACK_SIGNING_SECRET": "serve-test-signing-secret",
            "SLACK_BOT_TOKEN": "xoxb-serve-test",
            "QBO_CLIENT_ID": "serve-test",
            "QBO_CLIENT_SECRET": "serve-test-secret",
            "ONTOP_API_BASE_URL": "http://127.0.0.1:9",
            "METRICS_HOST": "127.0.0.1",
            "METRICS_PORT": str(metrics_port),
            "LOG_LEVEL": "warning",
        }
    )
    command = [sys.executable, "-c", "from bot.cli import main; main()", "serve", "--no-worker"]
    return [*command, "--host", "127.0.0.1", "--port", str(port)], env


def wait_until_answering(url: str, process: subprocess.Popen[bytes], timeout_seconds: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            assert process.poll() is None, "serve exited"
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.1)


def test_serve_answers_on_the_public_port_and_serves_metrics_only_on_the_metrics_port(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    command, env = serve_command(tmp_path, port, metrics_port)
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/healthz", process)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        public_metrics = httpx.get(f"http://127.0.0.1:{port}/metrics")
        private_metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)

    assert public_metrics.status_code == 404
    assert private_metrics.status_code == 200
    assert 'qbo_bot_http_requests_total{method="GET",route="/healthz",status="200"}' in private_metrics.text
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught (so the exit looks like the signal's).
    assert process.returncode in (0, -signal.SIGTERM), output.decode(errors="replace")[-2000:]
    assert b"Traceback" not in output


def test_serve_stops_at_once_when_the_metrics_port_is_taken(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        command, env = serve_command(tmp_path, port, taken.getsockname()[1])
        result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert "address already in use" in (result.stdout + result.stderr).lower()
    assert not (tmp_path / "serve.sqlite3").exists(), "nothing started: not even the database migration"
