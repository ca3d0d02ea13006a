"""Repository behaviour the rest of the product relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import repos
from storage.db import transaction
from storage.models import Connection, SyncedInvoice


async def _workspace_and_connection(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with transaction(sessions) as session:
        workspace = await repos.get_or_create_workspace(session, "T1", team_name="Acme")
        connection = Connection(workspace_id=workspace.id, realm_id="123")
        session.add(connection)
        await session.flush()
        return workspace.id, connection.id


async def test_qbo_oauth_state_is_single_use(sessions: async_sessionmaker[AsyncSession]) -> None:
    workspace_id, _ = await _workspace_and_connection(sessions)
    async with transaction(sessions) as session:
        state = await repos.issue_qbo_state(session, workspace_id, "U1")
    async with transaction(sessions) as session:
        owner = await repos.consume_qbo_state(session, state)
        assert owner is not None and owner.workspace_id == workspace_id and owner.user_id == "U1"
    async with transaction(sessions) as session:
        assert await repos.consume_qbo_state(session, state) is None


async def test_qbo_oauth_state_expires_after_ten_minutes(sessions: async_sessionmaker[AsyncSession]) -> None:
    workspace_id, _ = await _workspace_and_connection(sessions)
    issued_at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    async with transaction(sessions) as session:
        state = await repos.issue_qbo_state(session, workspace_id, "U1", now=issued_at)
    async with transaction(sessions) as session:
        assert await repos.consume_qbo_state(session, state, now=issued_at + timedelta(minutes=10, seconds=1)) is None
    async with transaction(sessions) as session:
        assert await repos.consume_qbo_state(session, "forged-state") is None


async def test_a_concept_maps_to_one_account_and_remapping_replaces_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _, connection_id = await _workspace_and_connection(sessions)
    async with transaction(sessions) as session:
        await repos.set_mapping(session, connection_id, "BONUS", "80", "Contractors:Bonus", "U1")
    async with transaction(sessions) as session:
        await repos.set_mapping(session, connection_id, "BONUS", "81", "Contractors:Incentives", "U2")
    async with transaction(sessions) as session:
        mappings = await repos.get_mappings(session, connection_id)
    assert {concept: m.qbo_account_id for concept, m in mappings.items()} == {"BONUS": "81"}


async def test_the_ledger_holds_one_row_per_invoice(sessions: async_sessionmaker[AsyncSession]) -> None:
    _, connection_id = await _workspace_and_connection(sessions)
    async with transaction(sessions) as session:
        session.add(SyncedInvoice(connection_id=connection_id, ontop_invoice_id="inv-1"))
    with pytest.raises(IntegrityError):
        async with transaction(sessions) as session:
            session.add(SyncedInvoice(connection_id=connection_id, ontop_invoice_id="inv-1"))


async def test_webhook_deliveries_remember_the_newest_order_per_key(sessions: async_sessionmaker[AsyncSession]) -> None:
    _, connection_id = await _workspace_and_connection(sessions)
    async with transaction(sessions) as session:
        store = repos.DeliveryOrderStore(session, connection_id)
        assert await store.remember("INVOICE:42", Decimal(2)) is None
    async with transaction(sessions) as session:
        store = repos.DeliveryOrderStore(session, connection_id)
        assert await store.remember("INVOICE:42", Decimal(1)) == Decimal(2)  # an older delivery: stale
        assert await store.remember("INVOICE:42", Decimal(3)) == Decimal(2)
    async with transaction(sessions) as session:
        assert await repos.DeliveryOrderStore(session, connection_id).remember("INVOICE:42", Decimal(3)) == Decimal(3)


async def test_disconnect_forgets_secrets_and_mapping_but_keeps_the_ledger(
    sessions: async_sessionmaker[AsyncSession], secret_box: repos.SecretBox
) -> None:
    _, connection_id = await _workspace_and_connection(sessions)
    async with transaction(sessions) as session:
        connection = await repos.get_connection(session, connection_id)
        assert connection is not None
        repos.store_qbo_tokens(connection, secret_box, "access", "refresh", None, None)
        await repos.set_mapping(session, connection_id, "BONUS", "80", "Bonus", "U1")
        session.add(SyncedInvoice(connection_id=connection_id, ontop_invoice_id="inv-1", state="created"))
    async with transaction(sessions) as session:
        connection = await repos.get_connection(session, connection_id)
        assert connection is not None
        await repos.forget_connection_data(session, connection)
    async with transaction(sessions) as session:
        connection = await repos.get_connection(session, connection_id)
        assert connection is not None and connection.qbo_tokens_encrypted is None
        assert await repos.get_mappings(session, connection_id) == {}
        assert set(await repos.ledger_rows(session, connection_id, ["inv-1"])) == {"inv-1"}
