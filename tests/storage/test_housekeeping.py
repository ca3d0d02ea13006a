"""Housekeeping forgets expired browser-flow states and old webhook deliveries, and nothing else, on SQLite and
PostgreSQL (the deletes compare stored times, which the two backends keep differently)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.models import QboOAuthState, WebhookDelivery
from storage.repos.connections import ConnectionRepo
from storage.repos.oauth_states import OAUTH_STATE_TTL, OAuthStateRepo, StatePurpose
from storage.repos.webhook_deliveries import WEBHOOK_DELIVERY_RETENTION, DeliveryOrderStore
from storage.repos.workspaces import WorkspaceRepo
from sync.housekeeping import Pruned, prune_expired
from sync.scheduler import DailyScheduler

Sessions = async_sessionmaker[AsyncSession]
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


async def count(sessions: Sessions, model: type[QboOAuthState] | type[WebhookDelivery]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_expired_states_and_old_deliveries_are_pruned_and_the_rest_kept(sessions: Sessions) -> None:
    async with transaction(sessions) as session:
        workspace = await WorkspaceRepo(session).get_or_create("T1", team_name="Acme")
        connection = await ConnectionRepo(session).create(workspace.id, "123")
        states = OAuthStateRepo(session)
        expired = await states.issue(workspace.id, "U1", NOW - OAUTH_STATE_TTL - timedelta(seconds=1))
        used_and_expired = await states.issue(workspace.id, "U1", NOW - OAUTH_STATE_TTL * 2)
        assert await states.consume(used_and_expired, NOW - OAUTH_STATE_TTL * 2) is not None
        fresh = await states.issue(workspace.id, "U1", NOW - timedelta(minutes=1), purpose=StatePurpose.ONTOP_LOGIN)
        store = DeliveryOrderStore(session, connection.id)
        await store.remember("PAYMENT:old", Decimal(1))
        await store.remember("PAYMENT:recent", Decimal(1))
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.event_key == "PAYMENT:old")
            .values(received_at=NOW - WEBHOOK_DELIVERY_RETENTION - timedelta(hours=1))
        )
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.event_key == "PAYMENT:recent")
            .values(received_at=NOW - WEBHOOK_DELIVERY_RETENTION + timedelta(hours=1))
        )

    pruned = await prune_expired(sessions, NOW)

    assert pruned == Pruned(states=2, deliveries=1)
    assert await count(sessions, QboOAuthState) == 1 and await count(sessions, WebhookDelivery) == 1
    async with sessions() as session:
        states = OAuthStateRepo(session)
        assert await states.is_usable(fresh, NOW, purpose=StatePurpose.ONTOP_LOGIN) is not None, "kept, still usable"
        assert await states.is_usable(expired, NOW) is None
        kept = await session.scalar(select(WebhookDelivery.event_key))
    assert kept == "PAYMENT:recent"
    assert await prune_expired(sessions, NOW) == Pruned(0, 0), "a second tick finds nothing to do"


async def test_a_state_of_one_flow_is_unknown_to_the_other(sessions: Sessions) -> None:
    async with transaction(sessions) as session:
        workspace = await WorkspaceRepo(session).get_or_create("T1", team_name="Acme")
        states = OAuthStateRepo(session)
        qbo = await states.issue(workspace.id, "U1", NOW)
        login = await states.issue(workspace.id, "U1", NOW, purpose=StatePurpose.ONTOP_LOGIN)
        assert await states.consume(qbo, NOW, purpose=StatePurpose.ONTOP_LOGIN) is None
        assert await states.consume(login, NOW) is None
        assert await states.consume(login, NOW, purpose=StatePurpose.ONTOP_LOGIN) is not None
        assert await states.consume(qbo, NOW) is not None


async def test_the_schedulers_tick_prunes_expired_states(sessions: Sessions) -> None:
    async with transaction(sessions) as session:
        workspace = await WorkspaceRepo(session).get_or_create("T1", team_name="Acme")
        await OAuthStateRepo(session).issue(workspace.id, "U1", NOW - OAUTH_STATE_TTL * 3)
        await OAuthStateRepo(session).issue(workspace.id, "U1", NOW)

    await DailyScheduler(sessions, clock=lambda: NOW).tick()

    assert await count(sessions, QboOAuthState) == 1, "the expired state is gone, the fresh one kept"
