"""Settings from the environment (and an optional .env): the only place that reads os.environ."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

QBO_ENDPOINTS = {
    "sandbox": "https://sandbox-quickbooks.api.intuit.com",
    "production": "https://quickbooks.api.intuit.com",
}
QBO_OAUTH_DEFAULT = "https://appcenter.intuit.com/connect/oauth2"
QBO_APP_HOSTS = {  # where people open a bill or a supplier (qbo-api.md §18)
    "sandbox": "https://app.sandbox.qbo.intuit.com",
    "production": "https://app.qbo.intuit.com",
}
# Plain http is only for a bot reached on this machine (the demo, tests); anything else carries secrets over https.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

# What each setting is for, shown when a command needs one that is missing (and in the README's table).
PURPOSES: dict[str, str] = {
    "DATABASE_URL": "where the bot keeps its data (default: SQLite file qbo-bot.sqlite3 in the working directory)",
    "PUBLIC_BASE_URL": "the https address Slack, Intuit and Ontop use to reach this bot",
    "ENCRYPTION_KEYS": "Fernet key(s), newest first, comma-separated, that encrypt tokens and credentials at rest"
    " (make one with `qbo-bot keys generate`)",
    "SLACK_SIGNING_SECRET": "verifies that requests come from Slack (app settings → Basic Information)",
    "SLACK_CLIENT_ID": "Slack app client id, for installing into many workspaces (OAuth)",
    "SLACK_CLIENT_SECRET": "Slack app client secret, for installing into many workspaces (OAuth)",
    "SLACK_BOT_TOKEN": "xoxb- token for single-workspace mode (instead of OAuth install)",
    "SLACK_APP_TOKEN": "xapp- token for Socket Mode (`qbo-bot socket`)",
    "SLACK_API_BASE_URL": "Slack Web API base URL (default Slack's; tests and the demo point it at a fake)",
    "QBO_CLIENT_ID": "Intuit developer app client id (Keys & credentials)",
    "QBO_CLIENT_SECRET": "Intuit developer app client secret (Keys & credentials)",
    "QBO_ENVIRONMENT": "sandbox or production QuickBooks companies",
    "QBO_API_BASE_URL": "QuickBooks API base URL (default from QBO_ENVIRONMENT; point it at the emulator to test)",
    "QBO_OAUTH_BASE_URL": "Intuit OAuth base URL (default Intuit's; point it at the emulator to test)",
    "QBO_REQUESTS_PER_MINUTE": "the bot's own QuickBooks budget per company and minute (default 450, under Intuit's"
    " 500 so other apps on the company keep room; 480 if nothing else uses its API)",
    "QBO_MINORVERSION": "QuickBooks API minor version sent with every call (default 75)",
    "ONTOP_API_BASE_URL": "Ontop API base URL; Ontop publishes none for production, ask them (the demo: the emulator)",
    "LOG_LEVEL": "debug, info, warning or error (default info)",
    "LOG_FORMAT": "json, console or auto (console in a terminal, json otherwise)",
    "ONTOP_WEBHOOK_DELAY_SECONDS": "how long after an Ontop payment webhook its sync starts, gathering bursts"
    " into one run (default 30)",
    "HOST": "the interface `qbo-bot serve` binds (default 0.0.0.0)",
    "PORT": "the port `qbo-bot serve` listens on (default 3000)",
    "METRICS_HOST": "the interface the Prometheus /metrics endpoint binds (default 127.0.0.1: not public)",
    "METRICS_PORT": "the port of the Prometheus /metrics endpoint, apart from the public port (default 9100)",
    "WORKER_CONCURRENCY": "how many connections one worker syncs at the same time (default 4)",
}

# Which settings each command cannot run without.
REQUIRED_FOR: dict[str, tuple[str, ...]] = {
    "serve": (
        "PUBLIC_BASE_URL",
        "ENCRYPTION_KEYS",
        "SLACK_SIGNING_SECRET",
        "QBO_CLIENT_ID",
        "QBO_CLIENT_SECRET",
        "ONTOP_API_BASE_URL",
    ),
    "socket": (
        "ENCRYPTION_KEYS",
        "SLACK_APP_TOKEN",
        "SLACK_BOT_TOKEN",
        "QBO_CLIENT_ID",
        "QBO_CLIENT_SECRET",
        "ONTOP_API_BASE_URL",
    ),
    "worker": ("ENCRYPTION_KEYS", "QBO_CLIENT_ID", "QBO_CLIENT_SECRET", "ONTOP_API_BASE_URL"),
    "keys rotate": ("ENCRYPTION_KEYS",),
}


class MissingSettingsError(Exception):
    """A command lacks settings; the message lists every missing variable and what it is for."""

    def __init__(self, command: str, missing: list[str]) -> None:
        lines = [f"`qbo-bot {command}` needs these settings (environment variables or .env):"]
        lines += [f"  {name}: {PURPOSES.get(name, '')}" for name in missing]
        super().__init__("\n".join(lines))
        self.missing = missing


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./qbo-bot.sqlite3"
    public_base_url: str | None = None
    encryption_keys: SecretStr | None = None

    slack_signing_secret: SecretStr | None = None
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_base_url: str = "https://slack.com/api/"

    qbo_client_id: str | None = None
    qbo_client_secret: SecretStr | None = None
    qbo_environment: Literal["sandbox", "production"] = "sandbox"
    qbo_api_base_url: str | None = None
    qbo_oauth_base_url: str | None = None
    qbo_minorversion: int = 75
    qbo_requests_per_minute: int = Field(default=450, ge=10, le=500)

    ontop_api_base_url: str | None = None

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console", "auto"] = "auto"

    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9100, ge=1, le=65535)
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    ontop_webhook_delay_seconds: int = Field(default=30, ge=0, le=3600)

    @field_validator(
        "public_base_url",
        "encryption_keys",
        "slack_signing_secret",
        "slack_client_id",
        "slack_client_secret",
        "slack_bot_token",
        "slack_app_token",
        "qbo_client_id",
        "qbo_client_secret",
        "qbo_api_base_url",
        "qbo_oauth_base_url",
        "ontop_api_base_url",
        mode="before",
    )
    @classmethod
    def _blank_is_missing(cls, value: object) -> object:
        # An empty SLACK_SIGNING_SECRET= line would otherwise pass `require` and fail every request later.
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(text, str) and not text.strip() else value

    @field_validator("public_base_url")
    @classmethod
    def _https_unless_loopback(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname:
            return value
        if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
            return value
        raise ValueError(
            "must be an https:// address (plain http:// only on 127.0.0.1, ::1 or localhost), e.g. https://bot.example.com"
        )

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return async_database_url(value)

    @property
    def qbo_api_url(self) -> str:
        return (self.qbo_api_base_url or QBO_ENDPOINTS[self.qbo_environment]).rstrip("/")

    @property
    def qbo_app_url(self) -> str:
        return QBO_APP_HOSTS[self.qbo_environment]

    @property
    def qbo_oauth_url(self) -> str:
        return (self.qbo_oauth_base_url or QBO_OAUTH_DEFAULT).rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def missing_for(self, command: str) -> list[str]:
        """The variables `command` needs that are not set."""
        needed = REQUIRED_FOR.get(command, ())
        if command == "serve" and self.slack_bot_token is None:
            # Without a bot token the app serves many workspaces, installed through OAuth.
            needed = (*needed, "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")
        if command == "worker" and self.slack_bot_token is None:
            # The worker posts to Slack: with the one workspace's token, or the installations of many.
            needed = (*needed, "SLACK_CLIENT_ID")
        return [name for name in needed if _blank(getattr(self, name.lower()))]

    def require(self, command: str) -> None:
        missing = self.missing_for(command)
        if missing:
            raise MissingSettingsError(command, missing)


def _blank(value: object) -> bool:
    """Unset, empty or whitespace only: a setting that is there in name only counts as missing."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return text is None or (isinstance(text, str) and not text.strip())


def async_database_url(url: str) -> str:
    """Accept the usual URL spellings and pick the async driver SQLAlchemy needs."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def load_settings(env_file: Path | None = None) -> Settings:
    if env_file is not None:
        return Settings(_env_file=env_file)
    return Settings()
