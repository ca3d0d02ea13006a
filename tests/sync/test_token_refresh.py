"""QBO rotates refresh tokens: refreshing from two workers at once must never lose the newest one."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.crypto import SecretBox
from storage.models import ConnectionStatus
from storage.repos.connections import ConnectionRepo
from sync.connections import StoredTokenSource
from tests.sync.conftest import Emulators, build_world


async def test_two_workers_refreshing_at_once_keep_a_working_token(
    emulators: Emulators, sessions: async_sessionmaker[AsyncSession], secret_box: SecretBox
) -> None:
    emulators.qbo.switches.rotate_after_hours = 0  # every refresh hands out a new refresh token
    world = build_world(emulators, sessions, secret_box)
    try:
        connection_id = await world.connect_qbo()
        async with sessions() as session:
            stale = await ConnectionRepo(session).read_qbo_tokens(connection_id, secret_box)
        assert stale is not None
        workers = [StoredTokenSource(sessions, secret_box, world.clients.oauth(), connection_id) for _ in range(3)]

        tokens = await asyncio.gather(*(worker.refresh_after_unauthorized(stale.access_token) for worker in workers))

        assert len(set(tokens)) == 1 and tokens[0] != stale.access_token
        async with sessions() as session:
            connection = await ConnectionRepo(session).get(connection_id)
            stored = await ConnectionRepo(session).read_qbo_tokens(connection_id, secret_box)
        assert connection is not None and connection.status != ConnectionStatus.NEEDS_REAUTH
        assert stored is not None and stored.version == stale.version + 1  # one refresh, not three
        # The stored refresh token is the live one: refreshing with it works.
        again = await workers[0].refresh_after_unauthorized(stored.access_token)
        assert again not in (stored.access_token, stale.access_token)
    finally:
        await world.clients.aclose()
