"""slack_sdk's SQLAlchemy installation and OAuth-state stores, with Slack tokens encrypted at rest."""

from __future__ import annotations

import copy
from typing import Any

from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.crypto import SecretBox
from storage.models import SLACK_BOTS_TABLE, SLACK_INSTALLATIONS_TABLE, SLACK_OAUTH_STATES_TABLE, Base

ENCRYPTED_PREFIX = "enc:"
TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
SLACK_STATE_TTL_SECONDS = 600


def _encrypt(box: SecretBox, value: str | None) -> str | None:
    if not value or value.startswith(ENCRYPTED_PREFIX):
        return value
    return ENCRYPTED_PREFIX + box.encrypt(value)


def _decrypt(box: SecretBox, value: str | None) -> str | None:
    if not value or not value.startswith(ENCRYPTED_PREFIX):
        return value
    return box.decrypt(value[len(ENCRYPTED_PREFIX) :])


def _with_tokens(entity: Any, transform: Any) -> Any:
    changed = copy.copy(entity)
    for field in TOKEN_FIELDS:
        if hasattr(changed, field):
            setattr(changed, field, transform(getattr(changed, field)))
    return changed


class EncryptedInstallationStore(AsyncSQLAlchemyInstallationStore):
    """Stores installations in slack_sdk's tables; token columns hold Fernet ciphertext, never the token."""

    def __init__(self, client_id: str, engine: AsyncEngine, box: SecretBox) -> None:
        super().__init__(
            client_id=client_id,
            engine=engine,
            bots_table_name=SLACK_BOTS_TABLE,
            installations_table_name=SLACK_INSTALLATIONS_TABLE,
        )
        self._box = box

    async def async_save(self, installation: Installation) -> None:
        await super().async_save(_with_tokens(installation, lambda value: _encrypt(self._box, value)))

    async def async_save_bot(self, bot: Bot) -> None:
        await super().async_save_bot(_with_tokens(bot, lambda value: _encrypt(self._box, value)))

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        bot = await super().async_find_bot(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
        )
        return None if bot is None else _with_tokens(bot, lambda value: _decrypt(self._box, value))

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        found = await super().async_find_installation(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, is_enterprise_install=is_enterprise_install
        )
        return None if found is None else _with_tokens(found, lambda value: _decrypt(self._box, value))


def oauth_state_store(engine: AsyncEngine) -> AsyncSQLAlchemyOAuthStateStore:
    return AsyncSQLAlchemyOAuthStateStore(
        expiration_seconds=SLACK_STATE_TTL_SECONDS, engine=engine, table_name=SLACK_OAUTH_STATES_TABLE
    )


async def rotate_installation_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt Slack tokens under the newest key; plaintext left by an older version gets encrypted too."""
    rotated = 0
    for table_name in (SLACK_INSTALLATIONS_TABLE, SLACK_BOTS_TABLE):
        table: Table = Base.metadata.tables[table_name]
        fields = [field for field in TOKEN_FIELDS if field in table.c]
        rows = (await session.execute(select(table.c.id, *[table.c[field] for field in fields]))).all()
        for row in rows:
            values: dict[str, str] = {}
            for field in fields:
                value = getattr(row, field)
                if not value:
                    continue
                plaintext = _decrypt(box, value)
                assert plaintext is not None
                values[field] = ENCRYPTED_PREFIX + box.encrypt(plaintext)
            if values:
                await session.execute(update(table).where(table.c.id == row.id).values(**values))
                rotated += len(values)
    return rotated
