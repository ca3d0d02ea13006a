"""Tokens and credentials are encrypted at rest, and keys can rotate without losing anything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.oauth.installation_store.models.installation import Installation
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import repos
from storage.crypto import SecretBox, SecretsKeyError, generate_key
from storage.db import transaction
from storage.models import Base, Connection, ConnectionStatus
from storage.slack_stores import EncryptedInstallationStore, rotate_installation_secrets

ACCESS = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.access-token-value-123"
REFRESH = "AB11780000000refreshtokenvalue7c1"
ONTOP_PASSWORD = "correct horse battery staple"
SLACK_BOT_TOKEN = "xoxb-1111-2222-slacktokensecret"


async def _raw_database_text(engine: AsyncEngine) -> str:
    dump: list[str] = []
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = (await connection.execute(text(f'SELECT * FROM "{table.name}"'))).all()
            dump.extend(repr(tuple(row)) for row in rows)
    return "\n".join(dump)


async def _store_everything(sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> int:
    async with transaction(sessions) as session:
        workspace = await repos.get_or_create_workspace(session, "T123")
        connection = Connection(workspace_id=workspace.id, realm_id="9130350000000000", status=ConnectionStatus.ACTIVE)
        session.add(connection)
        now = datetime.now(UTC)
        repos.store_qbo_tokens(connection, box, ACCESS, REFRESH, now + timedelta(hours=1), now + timedelta(days=100))
        repos.store_ontop_credentials(connection, box, {"email": "finance@example.com", "password": ONTOP_PASSWORD})
        await session.flush()
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

    for secret in (ACCESS, REFRESH, ONTOP_PASSWORD, SLACK_BOT_TOKEN):
        assert secret not in raw
    assert "9130350000000000" in raw  # the dump does hold the rows


async def test_stored_secrets_read_back_exactly(
    sessions: async_sessionmaker[AsyncSession], secret_box: SecretBox
) -> None:
    connection_id = await _store_everything(sessions, secret_box)
    async with transaction(sessions) as session:
        connection = await repos.get_connection(session, connection_id)
        assert connection is not None
        tokens = repos.read_qbo_tokens(connection, secret_box)
        credentials = repos.read_ontop_credentials(connection, secret_box)
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
        rotated = await repos.rotate_connection_secrets(session, both)
        rotated += await rotate_installation_secrets(session, both)
    assert rotated == 4  # QBO tokens, Ontop credentials, the installation's and the bot's Slack token

    only_new = SecretBox(new_key)
    async with transaction(sessions) as session:
        connection = await repos.get_connection(session, connection_id)
        assert connection is not None
        tokens = repos.read_qbo_tokens(connection, only_new)
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
