"""The command line: usage errors exit 2, missing settings are listed in one message, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from bot.cli import app
from bot.config import PURPOSES, REQUIRED_FOR, MissingSettingsError, Settings, async_database_url
from devtools.server import free_port

SETTING_NAMES = [name for name in PURPOSES]


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )


def _clean_env(tmp_path: Path) -> dict[str, str]:
    import os

    env = {key: value for key, value in os.environ.items() if key not in SETTING_NAMES}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "serve", "worker", "socket", "emulator", "db", "keys", "manifest"):
        assert command in result.output


def test_an_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    result = _run("frobnicate", env=_clean_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "No such command" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_option_is_a_usage_error(tmp_path: Path) -> None:
    result = _run("keys", "generate", "--colour", env=_clean_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_missing_settings_are_listed_together_with_their_purpose(tmp_path: Path) -> None:
    result = _run("keys", "rotate", env=_clean_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert "ENCRYPTION_KEYS" in result.stderr and "qbo-bot keys generate" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_invalid_setting_names_the_variable(tmp_path: Path) -> None:
    env = _clean_env(tmp_path) | {"LOG_LEVEL": "loud", "ENCRYPTION_KEYS": "x"}
    result = _run("keys", "rotate", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "LOG_LEVEL" in result.stderr and "Traceback" not in result.stderr


def test_keys_generate_prints_a_usable_fernet_key(tmp_path: Path) -> None:
    from storage.crypto import SecretBox

    result = _run("keys", "generate", env=_clean_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0
    box = SecretBox(result.stdout.strip())
    assert box.decrypt(box.encrypt("round trip")) == "round trip"


def test_db_upgrade_creates_the_default_sqlite_file_in_the_working_directory(tmp_path: Path) -> None:
    result = _run("db", "upgrade", env=_clean_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "qbo-bot.sqlite3").exists()
    assert "revision" in result.stdout


def test_serve_without_bot_token_needs_the_oauth_install_settings() -> None:
    settings = Settings(_env_file=None)
    with pytest.raises(MissingSettingsError) as caught:
        settings.require("serve")
    assert set(caught.value.missing) >= {*REQUIRED_FOR["serve"], "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"}


def test_serve_with_a_bot_token_is_single_workspace_mode() -> None:
    settings = Settings(_env_file=None, slack_bot_token="xoxb-1")
    assert "SLACK_CLIENT_ID" not in settings.missing_for("serve")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_database_urls_get_an_async_driver(given: str, expected: str) -> None:
    assert async_database_url(given) == expected


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in SETTING_NAMES:
        assert f"`{name}`" in readme, name


def test_manifest_points_every_slack_url_at_the_deployment(tmp_path: Path) -> None:
    import yaml

    result = _run("manifest", "--base-url", "https://bot.acme.test/", env=_clean_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load(result.stdout)
    settings = manifest["settings"]
    assert settings["event_subscriptions"]["request_url"] == "https://bot.acme.test/slack/events"
    assert settings["interactivity"]["request_url"] == "https://bot.acme.test/slack/events"
    assert manifest["oauth_config"]["redirect_urls"] == ["https://bot.acme.test/slack/oauth_redirect"]


def test_manifest_refuses_a_plain_http_address(tmp_path: Path) -> None:
    result = _run("manifest", "--base-url", "http://bot.acme.test", env=_clean_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1 and "https" in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_database_is_one_clear_line_without_the_password(tmp_path: Path) -> None:
    env = _clean_env(tmp_path) | {"DATABASE_URL": "postgresql://bot:s3cret-pw@127.0.0.1:1/qbo"}
    result = _run("db", "upgrade", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot reach" in result.stderr and "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stderr


def _answers(url: str, timeout_seconds: float = 30.0) -> int:
    import time

    import httpx

    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            return httpx.get(url, timeout=2).status_code
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize(
    ("emulator", "options", "probe"),
    [
        ("qbo", ["--client-id", "my-app", "--realm", "4620816365"], "/_emulator/switches"),
        ("ontop", ["--workers", "8", "--invoices", "20", "--admin-email", "ops@acme.test"], "/_emulator/state"),
    ],
)
def test_each_emulator_runs_standalone_from_the_cli(
    tmp_path: Path, emulator: str, options: list[str], probe: str
) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "emulator", emulator, "--port", str(port), *options],
        env=_clean_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _answers(f"http://127.0.0.1:{port}{probe}") == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_worker_needs_a_way_to_reach_slack() -> None:
    settings = Settings(
        _env_file=None, encryption_keys="k", qbo_client_id="a", qbo_client_secret="b", ontop_api_base_url="http://ontop"
    )
    assert settings.missing_for("worker") == ["SLACK_CLIENT_ID"]
    assert (
        Settings(
            _env_file=None,
            encryption_keys="k",
            qbo_client_id="a",
            qbo_client_secret="b",
            ontop_api_base_url="http://ontop",
            slack_bot_token="xoxb-1",
        ).missing_for("worker")
        == []
    )


@pytest.mark.parametrize(("command", "module"), [("demo", "devtools.demo"), ("emulator qbo", "emulators.qbo.app")])
def test_dev_commands_without_the_dev_tools_say_how_to_get_them(
    command: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as in a production image, where they are not installed
    result = CliRunner().invoke(app, command.split())
    assert result.exit_code == 2
    assert "development tools" in result.output
    assert "Traceback" not in result.output


SECRETS = {
    "SLACK_SIGNING_SECRET": "serve",
    "ENCRYPTION_KEYS": "serve",
    "QBO_CLIENT_SECRET": "serve",
    "SLACK_CLIENT_SECRET": "serve",
    "SLACK_APP_TOKEN": "socket",
    "SLACK_BOT_TOKEN": "socket",
}


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"], ids=["empty", "spaces", "whitespace"])
@pytest.mark.parametrize("name", list(SECRETS))
def test_a_blank_secret_counts_as_missing(name: str, blank: str) -> None:
    settings = Settings(_env_file=None, **{name.lower(): blank})

    assert name in settings.missing_for(SECRETS[name])
    assert getattr(settings, name.lower()) is None, "unset for every reader, not only for `require`"


def _serve_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """Everything `qbo-bot serve` needs, one workspace; `overrides` change or blank some of it."""
    from storage.crypto import generate_key

    settings = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.sqlite3'}",
        "PUBLIC_BASE_URL": "https://bot.acme.test",
        "ENCRYPTION_KEYS": generate_key(),
        "SLACK_SIGNING_SECRET": "signing-secret",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "QBO_CLIENT_ID": "client",
        "QBO_CLIENT_SECRET": "qbo-secret",
        "ONTOP_API_BASE_URL": "http://127.0.0.1:9",
    }
    return _clean_env(tmp_path) | settings | overrides


def test_serve_refuses_an_empty_signing_secret_instead_of_failing_every_slack_request(tmp_path: Path) -> None:
    result = _run("serve", env=_serve_env(tmp_path, SLACK_SIGNING_SECRET=""), cwd=tmp_path)

    assert result.returncode == 1
    assert "SLACK_SIGNING_SECRET" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "https://bot.acme.test",
        "https://bot.acme.test:8443/base/",
        "http://127.0.0.1:3000",
        "http://localhost",
        "http://[::1]:3000",
    ],
)
def test_public_base_url_is_https_or_this_machine(url: str) -> None:
    assert Settings(_env_file=None, public_base_url=url).public_base_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://bot.acme.test",
        "http://10.0.0.5:3000",
        "http://127.0.0.1.nip.io",
        "ftp://bot.acme.test",
        "bot.acme.test",
        "https://",
    ],
)
def test_public_base_url_in_plain_http_off_this_machine_is_refused(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, public_base_url=url)

    assert caught.value.errors()[0]["loc"] == ("public_base_url",)
    assert "https://" in caught.value.errors()[0]["msg"]


def test_serve_with_a_plain_http_public_address_says_what_to_use(tmp_path: Path) -> None:
    result = _run("serve", env=_serve_env(tmp_path, PUBLIC_BASE_URL="http://bot.acme.test"), cwd=tmp_path)

    assert result.returncode == 1
    assert "PUBLIC_BASE_URL" in result.stderr and "https://" in result.stderr
    assert "Traceback" not in result.stderr


def test_metrics_listen_on_loopback_port_9100_unless_told_otherwise() -> None:
    defaults = Settings(_env_file=None)
    chosen = Settings(_env_file=None, metrics_host="0.0.0.0", metrics_port=9200)

    assert (defaults.metrics_host, defaults.metrics_port) == ("127.0.0.1", 9100)
    assert (chosen.metrics_host, chosen.metrics_port) == ("0.0.0.0", 9200)
    with pytest.raises(ValidationError):
        Settings(_env_file=None, metrics_port=0)
