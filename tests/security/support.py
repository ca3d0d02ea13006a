"""The whole product on loopback serving two Slack workspaces (OAuth installs), and raw signed requests.

`LocalStack` runs one workspace with a bot token. Isolation between workspaces needs the multi-workspace mode
(installations in the encrypted store), so `TwoWorkspaceStack` starts the same parts with Slack client credentials
instead of a bot token and installs the app in workspace A (T0001) and workspace B (T0002).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from typing import Any

import httpx
from slack_sdk.oauth.installation_store.models.installation import Installation
from sqlalchemy import text

from bot.app import BOT_SCOPES
from devtools.signing import FORM_CONTENT_TYPE, SlackActor, sign_request, slash_command_body, view_state
from devtools.stack import BOT_TOKEN, SIGNING_SECRET, TEAM_ID, LocalStack, StackOptions
from storage.crypto import SecretBox
from storage.db import create_engine
from storage.models import Base
from storage.slack_stores import EncryptedInstallationStore

TEAM_B = "T0002"
ADMIN_B = "U0CAT"  # a Slack admin of workspace B
FINANCE_B = "C0BFIN"
BOT_TOKEN_B = "xoxb-workspace-b-secret-token"
TIME_SCALE = 0.01


async def empty_postgres(url: str) -> None:
    """Every table of a PostgreSQL test database emptied, so a stack starts from nothing."""
    engine = create_engine(url)
    names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


def small_options(**overrides: Any) -> StackOptions:
    values: dict[str, Any] = {
        "workers": 8,
        "invoices": 30,
        "months": 2,
        "time_scale": TIME_SCALE,
        "worker_poll_seconds": 0.05,
    }
    values.update(overrides)
    return StackOptions(**values)


class TwoWorkspaceStack(LocalStack):
    """LocalStack in multi-workspace mode, installed in workspaces A (T0001) and B (T0002)."""

    def __init__(self, options: StackOptions | None = None) -> None:
        super().__init__(replace(options or StackOptions(), install_via_oauth=True))

    def __enter__(self) -> TwoWorkspaceStack:
        return self.start()

    def start(self) -> TwoWorkspaceStack:
        fake = self.fake_slack
        fake.add_team(TEAM_B, "Beta", domain="beta", bot_token=BOT_TOKEN_B, bot_user_id="U0BOTB", bot_id="B0BOTB")
        fake.add_user(ADMIN_B, "cat", team_id=TEAM_B, is_admin=True)
        fake.add_channel(FINANCE_B, "finance-b", team_id=TEAM_B)
        super().start()  # the web app migrates the SQLite file on startup
        asyncio.run(self._install_both())
        return self

    async def _install_both(self) -> None:
        assert self.settings is not None and self.settings.encryption_keys is not None
        engine = create_engine(self.settings.database_url)
        try:
            box = SecretBox(self.settings.encryption_keys.get_secret_value())
            store = EncryptedInstallationStore(self.fake_slack.client_id, engine, box)
            for team_id, token, bot_user, bot_id, installer in (
                (TEAM_ID, BOT_TOKEN, "U0BOT", "B0BOT", "U0ANN"),
                (TEAM_B, BOT_TOKEN_B, "U0BOTB", "B0BOTB", ADMIN_B),
            ):
                await store.async_save(
                    Installation(
                        app_id=self.fake_slack.app_id,
                        team_id=team_id,
                        bot_token=token,
                        bot_id=bot_id,
                        bot_user_id=bot_user,
                        bot_scopes=list(BOT_SCOPES),
                        user_id=installer,
                        installed_at=time.time(),
                    )
                )
        finally:
            await engine.dispose()


def post_signed(
    base_url: str,
    body: bytes,
    *,
    content_type: str = FORM_CONTENT_TYPE,
    timestamp: int | None = None,
    secret: str = SIGNING_SECRET,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a body to /slack/events signed with `secret` at `timestamp` (now by default); `headers` override."""
    signed = {"Content-Type": content_type, **sign_request(secret, body, timestamp), **(headers or {})}
    signed = {key: value for key, value in signed.items() if value != ""}
    return httpx.post(f"{base_url}/slack/events", content=body, headers=signed, timeout=10)


def command_body(stack: LocalStack, actor: SlackActor, text: str, *, channel_id: str = "C0FIN") -> bytes:
    """A `/qbo <text>` slash command body with a live trigger_id and response_url from the fake."""
    fake = stack.fake_slack
    return slash_command_body(
        actor,
        command="/qbo",
        text=text,
        channel_id=channel_id,
        channel_name=fake.channel_ref(channel_id)["name"] if fake.team(actor.team_id) else "x",
        trigger_id=fake.mint_trigger_id(actor.user_id),
        response_url=fake.new_response_url(channel_id=channel_id, user_id=actor.user_id),
    )


def interactive(payload: dict[str, Any]) -> bytes:
    from urllib.parse import urlencode

    return urlencode({"payload": json.dumps(payload)}).encode()


GUARDED_TABLES = (
    "workspaces",
    "connections",
    "concept_mappings",
    "vendor_links",
    "synced_invoices",
    "sync_runs",
    "audit_events",
    "qbo_oauth_states",
)


async def snapshot(stack: LocalStack, sessions: Any) -> dict[str, Any]:
    """Every row of the tables an action could change, plus the QBO emulator's write log: compare before/after."""
    from sqlalchemy import text

    tables: dict[str, Any] = {}
    async with sessions() as session:
        for table in GUARDED_TABLES:
            rows = (await session.execute(text(f"SELECT * FROM {table} ORDER BY 1"))).all()
            tables[table] = [tuple(row) for row in rows]
    assert stack.qbo_state is not None
    tables["qbo_writes"] = len(stack.qbo_state.audit_log())
    return tables


def state_from_view(view: dict[str, Any], overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """`view.state.values` as Slack would send them for a view submitted with its initial values (plus overrides).

    Args:
        overrides: block_id -> state value for the single element of that input block.
    """
    values: dict[str, Any] = view_state(view)
    for block_id, state in (overrides or {}).items():
        if block_id in values:
            next(iter(values[block_id].values())).update(state)
    return values
