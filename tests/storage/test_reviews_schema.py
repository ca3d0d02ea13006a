"""Migration 0008 (the approval gate) up and down on both backends, and the database's one-pending-review rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import migrate
from storage.db import transaction
from storage.models import ReviewState
from storage.repos.connections import ConnectionRepo
from storage.repos.reviews import NewReviewItem, ReviewRepo
from storage.repos.workspaces import WorkspaceRepo

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def _columns(engine: AsyncEngine, table: str) -> set[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: {column["name"] for column in inspect(sync).get_columns(table)})


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))


async def test_0008_goes_down_to_0007_and_up_again_and_existing_connections_review_their_first_sync(
    engine: AsyncEngine,
) -> None:
    await migrate.downgrade(engine, "0007")
    assert {"reviews", "review_items"}.isdisjoint(await _tables(engine))
    assert "review_first_sync" not in await _columns(engine, "connections")
    assert "review_id" not in await _columns(engine, "sync_runs")
    async with engine.begin() as connection:  # a connection made before the upgrade
        await connection.execute(
            text(
                "INSERT INTO workspaces (id, team_id, enterprise_id, team_name, sync_hour, timezone, admin_user_ids, "
                "auto_create_vendors, created_at, updated_at) VALUES (1, 'T1', '', '', 7, 'UTC', '[]', true, "
                ":now, :now)"
            ),
            {"now": NOW},
        )
        await connection.execute(
            text(
                "INSERT INTO connections (id, workspace_id, status, realm_id, company_name, home_currency, "
                "multicurrency_enabled, token_version, first_sync_enqueued, company_country, payments_enabled, "
                "fees_on_contractor_bill, supplier_currency, ap_account_ids, created_at, updated_at) VALUES "
                "(1, 1, 'active', 'R1', '', 'USD', false, 0, false, 'USA', true, false, 'contract', '{}', :now, :now)"
            ),
            {"now": NOW},
        )

    await migrate.upgrade(engine)

    assert {"reviews", "review_items"} <= await _tables(engine)
    assert {"review_first_sync", "review_later_runs", "review_over_bills", "review_over_usd"} <= await _columns(
        engine, "connections"
    )
    assert "review_id" in await _columns(engine, "sync_runs")
    async with engine.connect() as connection:
        row = (await connection.execute(text("SELECT review_first_sync, review_later_runs FROM connections"))).one()
    assert (bool(row[0]), bool(row[1])) == (True, False)  # the product's defaults


async def _connection(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with transaction(sessions) as session:
        workspace = await WorkspaceRepo(session).get_or_create("T1", None)
        return (await ConnectionRepo(session).create(workspace.id, "R1")).id


def _item(invoice_id: str) -> NewReviewItem:
    return NewReviewItem(invoice_id, f"INV-{invoice_id}", "7", "Ana", Decimal("10.00"), "USD", Decimal("10.00"), NOW)


async def _review(session: AsyncSession, connection_id: int) -> int:
    made = await ReviewRepo(session).create(
        connection_id,
        run_id=None,
        requested_by="U1",
        created_at=NOW,
        expires_at=NOW + timedelta(days=7),
        vendors_to_create=0,
        vendors_to_link=0,
        blocked=[],
        items=[_item("1"), _item("2")],
    )
    return made.id


async def test_the_database_keeps_one_pending_review_per_connection(sessions: async_sessionmaker[AsyncSession]) -> None:
    connection_id = await _connection(sessions)
    async with transaction(sessions) as session:
        first = await _review(session, connection_id)

    with pytest.raises(IntegrityError):
        async with transaction(sessions) as session:
            await _review(session, connection_id)

    async with transaction(sessions) as session:
        await ReviewRepo(session).mark_decided(first, ReviewState.APPROVED, "U1", NOW)
        second = await _review(session, connection_id)  # once decided, the next may wait
    async with sessions() as session:
        pending = await ReviewRepo(session).get_pending(connection_id)
        assert pending is not None and pending.id == second
        assert [item.invoice_id for item in await ReviewRepo(session).list_items(second)] == ["1", "2"]
