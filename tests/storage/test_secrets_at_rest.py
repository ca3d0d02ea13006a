"""Tokens and credentials are encrypted at rest, and keys can rotate without losing anything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.oauth.installation_store.models.installation import Installation
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.crypto import SecretBox, SecretsKeyError, generate_key
from storage.db import transaction
from storage.models import Base
from storage.repos.connections import ConnectionRepo
from storage.repos.workspaces import WorkspaceRepo
from storage.slack_stores import EncryptedInstallationStore, rotate_installation_secrets

ACCESS = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.access-token-value-123"
REFRESH = "AB11780000000refreshtokenvalue7c1"
ONTOP_PASSWORD = "correct horse battery staple"
SLACK_BOT_TOKEN = "xoxb-1111-2222-slacktokensecret"
WEBHOOK_SECRET = "whsec-ontop-signing-secret-0123456789"


async def _raw_database_text(engine: AsyncEngine) -> str:
    dump: list[str] = []
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = (await connection.execute(text(f'SELECT * FROM "{table.name}"'))).all()
            dump.extend(repr(tuple(row)) for row in rows)
    return "\n".join(dump)


async def _store_everything(sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> int:
    async with transaction(sessions) as session:
        workspace = await WorkspaceRepo(session).get_or_create("T123")
        connections = ConnectionRepo(session)
        connection = await connections.create(workspace.id, "9130350000000000")
        now = datetime.now(UTC)
        await connections.store_qbo_tokens(
            connection.id,
            box,
            access_token=ACCESS,
            refresh_token=REFRESH,
            access_expires_at=now + timedelta(hours=1),
            refresh_expires_at=now + timedelta(days=100),
        )
        await connections.store_ontop_credentials(
            connection.id, box, email="finance@example.com", password=ONTOP_PASSWORD, webhook_secret=WEBHOOK_SECRET
        )
        return connection.id


async def test_no_secret_is_stored_in_plaintext(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], secret_box: SecretBox
) -> None:
    await _store_everything(sessions, secret_box)
    store = EncryptedInstallationStore("client-1", engine, secret_box)
    await store.async_save(
        Installation(
            app_id="A1", team_id="T123", user_id="U1", bot_token=SLACK_BOT_TOKEN, bot_id="B1", bot_user_id="UB1"
        )
    )

    raw = await _raw_database_text(engine)

    for secret in (ACCESS, REFRESH, ONTOP_PASSWORD, SLACK_BOT_TOKEN, WEBHOOK_SECRET):
        assert secret not in raw
    assert "9130350000000000" in raw  # the dump does hold the rows


async def test_stored_secrets_read_back_exactly(
    sessions: async_sessionmaker[AsyncSession], secret_box: SecretBox
) -> None:
    connection_id = await _store_everything(sessions, secret_box)
    async with transaction(sessions) as session:
        tokens = await ConnectionRepo(session).read_qbo_tokens(connection_id, secret_box)
        credentials = await ConnectionRepo(session).read_ontop_credentials(connection_id, secret_box)
    assert tokens is not None and tokens.access_token == ACCESS and tokens.refresh_token == REFRESH
    assert credentials == {"email": "finance@example.com", "password": ONTOP_PASSWORD}
    assert ACCESS not in repr(tokens)


async def test_slack_installation_tokens_round_trip_through_the_encrypted_store(
    engine: AsyncEngine, secret_box: SecretBox
) -> None:
    store = EncryptedInstallationStore("client-1", engine, secret_box)
    await store.async_save(
        Installation(app_id="A1", team_id="T9", user_id="U1", bot_token=SLACK_BOT_TOKEN, bot_id="B1", bot_user_id="UB")
    )
    found = await store.async_find_bot(enterprise_id=None, team_id="T9")
    assert found is not None and found.bot_token == SLACK_BOT_TOKEN


async def test_rotation_re_encrypts_everything_under_the_newest_key(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    old_key, new_key = generate_key(), generate_key()
    old_box = SecretBox(old_key)
    connection_id = await _store_everything(sessions, old_box)
    await EncryptedInstallationStore("client-1", engine, old_box).async_save(
        Installation(app_id="A1", team_id="T9", user_id="U1", bot_token=SLACK_BOT_TOKEN, bot_id="B1", bot_user_id="UB")
    )

    both = SecretBox(f"{new_key},{old_key}")
    async with transaction(sessions) as session:
        rotated = await ConnectionRepo(session).rotate_secrets(both)
        rotated += await rotate_installation_secrets(session, both)
    # QBO tokens, Ontop credentials, the webhook secret, the installation's and the bot's Slack token
    assert rotated == 5

    only_new = SecretBox(new_key)
    async with transaction(sessions) as session:
        tokens = await ConnectionRepo(session).read_qbo_tokens(connection_id, only_new)
    assert tokens is not None and tokens.refresh_token == REFRESH
    bot = await EncryptedInstallationStore("client-1", engine, only_new).async_find_bot(
        enterprise_id=None, team_id="T9"
    )
    assert bot is not None and bot.bot_token == SLACK_BOT_TOKEN


def test_a_wrong_key_is_a_clear_error_without_key_material() -> None:
    ciphertext = SecretBox(generate_key()).encrypt("secret")
    other_key = generate_key()
    with pytest.raises(SecretsKeyError) as caught:
        SecretBox(other_key).decrypt(ciphertext)
    assert other_key not in str(caught.value)
    with pytest.raises(SecretsKeyError, match="entry 2 is not a valid Fernet key"):
        SecretBox(f"{generate_key()},not-a-key")
